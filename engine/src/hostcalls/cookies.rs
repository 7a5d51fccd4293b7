//! `cookie_list` and `cookie_set`: the guest's view of its job's cookie jar.
//!
//! The jar belongs to the job's HTTP client, so these functions build the
//! client when no request has been sent yet. Cookies are the konnector's
//! own: the vendor sent them to this job, or the konnector set them, so
//! reading them reveals nothing of another job or of the person's data.

use konnector_host_api::Status;
use url::Url;

use super::{Refusal, answer};
use crate::guest_memory;
use crate::job::{HostState, JobState};
use crate::net::CookieSetError;

/// Longest URL the cookie functions take, in bytes.
pub const MAX_COOKIE_URL_BYTES: usize = 8 * 1024;

/// Longest `Set-Cookie` value `cookie_set` takes, in bytes: 4 KiB, the size
/// RFC 6265 requires user agents to support at least, with room for
/// attributes.
pub const MAX_SET_COOKIE_BYTES: usize = 8 * 1024;

pub(super) fn cookie_list(
    mut caller: wasmtime::Caller<'_, JobState>,
    url_ptr: i32,
    url_len: i32,
) -> i32 {
    let result = (|| {
        let url = if url_len == 0 {
            None
        } else {
            Some(read_url(&mut caller, url_ptr, url_len)?)
        };
        let host = &mut caller.data_mut().host;
        let cookies = jar_client(host)?.cookies().list(url.as_ref());
        serde_json::to_vec(&cookies).map_err(|error| {
            Refusal(
                Status::InvalidArgument,
                format!("failed to encode the cookies: {error}"),
            )
        })
    })();
    answer(&mut caller.data_mut().host, result)
}

pub(super) fn cookie_set(
    mut caller: wasmtime::Caller<'_, JobState>,
    url_ptr: i32,
    url_len: i32,
    text_ptr: i32,
    text_len: i32,
) -> i32 {
    let result = (|| {
        let url = read_url(&mut caller, url_ptr, url_len)?;
        let text = guest_memory::read(
            &mut caller,
            text_ptr,
            text_len,
            MAX_SET_COOKIE_BYTES,
            "cookie",
        )?;
        let text = String::from_utf8(text).map_err(|_| {
            Refusal(
                Status::InvalidArgument,
                "the cookie is not UTF-8 text".into(),
            )
        })?;
        let host = &mut caller.data_mut().host;
        jar_client(host)?
            .cookies()
            .set(&url, &text)
            .map_err(|error| match error {
                CookieSetError::Full => Refusal(Status::LimitExceeded, error.to_string()),
                CookieSetError::Refused { .. } => {
                    Refusal(Status::InvalidArgument, error.to_string())
                }
            })?;
        Ok(Vec::new())
    })();
    answer(&mut caller.data_mut().host, result)
}

fn jar_client(host: &mut HostState) -> Result<std::sync::Arc<crate::net::HttpClient>, Refusal> {
    host.http
        .client()
        .map_err(|reason| Refusal(Status::Unsupported, reason))
}

/// Reads an absolute http or https URL from guest memory.
fn read_url(
    caller: &mut wasmtime::Caller<'_, JobState>,
    ptr: i32,
    len: i32,
) -> Result<Url, Refusal> {
    let bytes = guest_memory::read(caller, ptr, len, MAX_COOKIE_URL_BYTES, "cookie URL")?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Refusal(
            Status::InvalidArgument,
            "the cookie URL is not UTF-8".into(),
        )
    })?;
    let url = Url::parse(&text).map_err(|error| {
        Refusal(
            Status::InvalidArgument,
            format!("invalid cookie URL {text:?}: {error}"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Refusal(
            Status::InvalidArgument,
            format!("invalid cookie URL {text:?}: cookies belong to http and https URLs"),
        ));
    }
    Ok(url)
}
