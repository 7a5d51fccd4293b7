//! The vendor's customer site: logging in, listing bills, downloading PDFs.
//!
//! The pages are small and regular, so a few string searches read them; a
//! konnector for a less regular site would use an HTML parser.

use konnector_host_api::{FetchRequest, Redirect};
use konnector_host_api::guest::{self, KonnectorError, Response};

/// The vendor's site, hard-coded as real konnectors do.
const BASE_URL: &str = "https://vendor.example";

/// Pages walked at most, in case the site links pages in a loop.
const MAX_PAGES: usize = 100;

/// A bill as the vendor lists it.
pub struct Bill {
    /// The vendor's invoice number, such as `F202512-0012`.
    pub id: String,
    /// Issue date, `YYYY-MM-DD`.
    pub date: String,
    /// Amount in euros.
    pub amount: f64,
    /// Amount as the site writes it, such as `19.90`.
    pub amount_text: String,
    /// Label of the bill, such as `Internet & TV box – November 2025`.
    pub label: String,
    /// Path of the bill's PDF on the site.
    pub pdf_path: String,
}

/// The vendor's site. The session lives in the host's cookie jar, which
/// belongs to the job.
pub struct Vendor;

impl Vendor {
    /// Logs in with the site's form: reads the form's CSRF token, posts the
    /// credentials, and checks where the site sent us.
    pub fn log_in(&self, login: &str, password: &str) -> Result<(), KonnectorError> {
        let form = get(&format!("{BASE_URL}/login"))?;
        let csrf = attribute_after(&form.text(), "name=\"csrf\"", "value").ok_or_else(|| {
            KonnectorError::new("VENDOR_DOWN", "the login page has no csrf field")
        })?;

        let body = format!(
            "login={}&password={}&csrf={}",
            form_encode(login),
            form_encode(password),
            form_encode(&csrf)
        );
        let request = FetchRequest {
            method: "POST".to_owned(),
            url: format!("{BASE_URL}/login"),
            headers: vec![(
                "Content-Type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            )],
            redirect: Redirect::Follow,
        };
        let response = send(&request, body.as_bytes())?;
        // The site returns the form again for a wrong password, and a right
        // one with a redirect to the bills.
        if !response.url.ends_with("/bills") {
            return Err(KonnectorError::new(
                "LOGIN_FAILED",
                "the vendor rejected the credentials",
            ));
        }
        Ok(())
    }

    /// Walks the pages of bills from the first one.
    pub fn bills(&self) -> Result<Vec<Bill>, KonnectorError> {
        let mut bills = Vec::new();
        let mut next = Some(format!("{BASE_URL}/bills?page=1"));
        for _ in 0..MAX_PAGES {
            let Some(url) = next.take() else { break };
            let page = get(&url)?.text();
            bills.extend(
                page.split("<li class=\"bill\"")
                    .skip(1)
                    .filter_map(parse_bill),
            );
            next = attribute_after(&page, "class=\"next\"", "href")
                .map(|path| format!("{BASE_URL}{path}"));
        }
        Ok(bills)
    }

    /// Downloads a file of the site.
    pub fn download(&self, path: &str) -> Result<Vec<u8>, KonnectorError> {
        let response = get(&format!("{BASE_URL}{path}"))?;
        if response.status != 200 {
            return Err(KonnectorError::new(
                "FILE_DOWNLOAD_FAILED",
                format!("{path} answered status {}", response.status),
            ));
        }
        Ok(response.body)
    }
}

fn get(url: &str) -> Result<Response, KonnectorError> {
    let request = FetchRequest {
        method: "GET".to_owned(),
        url: url.to_owned(),
        headers: Vec::new(),
        redirect: Redirect::Follow,
    };
    send(&request, &[])
}

/// Sends a request; a refused or failed request, or a 5xx status, means the
/// vendor is down for this job.
fn send(request: &FetchRequest, body: &[u8]) -> Result<Response, KonnectorError> {
    let response = guest::fetch(request, body)
        .map_err(|error| KonnectorError::new("VENDOR_DOWN", error.to_string()))?;
    if response.status >= 500 {
        return Err(KonnectorError::new(
            "VENDOR_DOWN",
            format!("{} answered status {}", request.url, response.status),
        ));
    }
    guest::debug(&format!(
        "{} {} -> {}",
        request.method, request.url, response.status
    ));
    Ok(response)
}

/// Reads one `<li class="bill" ...>` item, from just after its class.
fn parse_bill(item: &str) -> Option<Bill> {
    let amount_text = attribute(item, "data-amount")?;
    Some(Bill {
        id: attribute(item, "data-id")?,
        date: attribute(item, "data-date")?,
        amount: amount_text.parse().ok()?,
        amount_text,
        label: decode_entities(&text_of(item, "<span class=\"label\">")?),
        pdf_path: attribute_after(item, "class=\"pdf\"", "href")?,
    })
}

/// Returns the value of `name="..."` in `html`, at its first occurrence.
fn attribute(html: &str, name: &str) -> Option<String> {
    let start = html.find(&format!("{name}=\""))? + name.len() + 2;
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

/// Returns the value of attribute `name` in the tag that contains `marker`.
fn attribute_after(html: &str, marker: &str, name: &str) -> Option<String> {
    let at = html.find(marker)?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    attribute(&html[tag_start..tag_end], name)
}

/// Returns the text between `opening` and the next `<`.
fn text_of(html: &str, opening: &str) -> Option<String> {
    let start = html.find(opening)? + opening.len();
    let end = html[start..].find('<')?;
    Some(html[start..start + end].to_owned())
}

fn decode_entities(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Encodes a value for an `application/x-www-form-urlencoded` body.
fn form_encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                encoded.push(byte as char)
            }
            b' ' => encoded.push('+'),
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bill_item_is_read() {
        let item = r#" data-id="F202512-0012" data-date="2025-12-05" data-amount="19.90">
<time class="date" datetime="2025-12-05">05/12/2025</time>
<span class="label">Internet &amp; TV box – December 2025</span>
<span class="amount">19,90 €</span>
<a class="pdf" href="/bills/F202512-0012.pdf">Download the bill (PDF)</a>
</li>"#;
        let bill = parse_bill(item).expect("bill");
        assert_eq!(bill.id, "F202512-0012");
        assert_eq!(bill.date, "2025-12-05");
        assert_eq!(bill.amount, 19.9);
        assert_eq!(bill.label, "Internet & TV box – December 2025");
        assert_eq!(bill.pdf_path, "/bills/F202512-0012.pdf");
    }

    #[test]
    fn form_values_are_encoded() {
        assert_eq!(form_encode("demo@example.com"), "demo%40example.com");
        assert_eq!(form_encode("a b&c=d"), "a+b%26c%3Dd");
    }
}
