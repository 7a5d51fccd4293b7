//! WHATWG URL parsing and the `application/x-www-form-urlencoded` format,
//! with the `url` crate, for `URL` and `URLSearchParams`
//! (`prelude/url.js`).
//!
//! A parsed URL crosses into JavaScript as an array of its serialized
//! components, in the order of [`components`], so that the getters of a
//! `URL` object need no native call.

use rquickjs::function::Opt;
use rquickjs::{Ctx, Function, Object};
use url::{Url, form_urlencoded, quirks};

/// Adds `urlParse`, `urlSet`, `formParse` and `formSerialize` to the native
/// functions.
pub fn register<'js>(ctx: &Ctx<'js>, native: &Object<'js>) -> rquickjs::Result<()> {
    native.set("urlParse", Function::new(ctx.clone(), parse)?)?;
    native.set("urlSet", Function::new(ctx.clone(), set)?)?;
    native.set("formParse", Function::new(ctx.clone(), form_parse)?)?;
    native.set("formSerialize", Function::new(ctx.clone(), form_serialize)?)?;
    Ok(())
}

/// Returns the components of a URL: `href`, `origin`, `protocol`,
/// `username`, `password`, `host`, `hostname`, `port`, `pathname`, `search`
/// and `hash`, as the URL standard's getters of the same names give them.
fn components(url: &Url) -> Vec<String> {
    vec![
        quirks::href(url).to_owned(),
        quirks::origin(url),
        quirks::protocol(url).to_owned(),
        quirks::username(url).to_owned(),
        quirks::password(url).to_owned(),
        quirks::host(url).to_owned(),
        quirks::hostname(url).to_owned(),
        quirks::port(url).to_owned(),
        quirks::pathname(url).to_owned(),
        quirks::search(url).to_owned(),
        quirks::hash(url).to_owned(),
    ]
}

/// Parses `input`, resolved against `base` when given, and returns its
/// components, or `None` when either is not a valid URL.
fn parse(input: String, base: Opt<String>) -> Option<Vec<String>> {
    let url = match base.0 {
        Some(base) => Url::parse(&base).ok()?.join(&input).ok()?,
        None => Url::parse(&input).ok()?,
    };
    Some(components(&url))
}

/// Runs the URL standard's setter `name` (such as `pathname`) with `value`
/// on the URL `href`, and returns the components of the result. A value the
/// setter rejects leaves the URL as it was, as in browsers. Returns `None`
/// for an invalid `href` or an unknown setter.
fn set(href: String, name: String, value: String) -> Option<Vec<String>> {
    let mut url = Url::parse(&href).ok()?;
    // Each setter's error only means that the URL did not change.
    let _ = match name.as_str() {
        "protocol" => quirks::set_protocol(&mut url, &value),
        "username" => quirks::set_username(&mut url, &value),
        "password" => quirks::set_password(&mut url, &value),
        "host" => quirks::set_host(&mut url, &value),
        "hostname" => quirks::set_hostname(&mut url, &value),
        "port" => quirks::set_port(&mut url, &value),
        "pathname" => {
            quirks::set_pathname(&mut url, &value);
            Ok(())
        }
        "search" => {
            quirks::set_search(&mut url, &value);
            Ok(())
        }
        "hash" => {
            quirks::set_hash(&mut url, &value);
            Ok(())
        }
        _ => return None,
    };
    Some(components(&url))
}

/// Parses a query string (without its `?`) into names and values,
/// percent-decoded with `+` as a space, flattened as `[name, value, ...]`.
fn form_parse(query: String) -> Vec<String> {
    form_urlencoded::parse(query.as_bytes())
        .flat_map(|(name, value)| [name.into_owned(), value.into_owned()])
        .collect()
}

/// Serializes `[name, value, ...]` as a query string (without `?`). A last
/// name without a value is ignored.
fn form_serialize(names_and_values: Vec<String>) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for pair in names_and_values.chunks_exact(2) {
        serializer.append_pair(&pair[0], &pair[1]);
    }
    serializer.finish()
}
