//! The HTML of the site's pages.

use std::fmt::Write;

use crate::bills::{Bill, format_amount_fr, format_amount_machine, format_date_fr};

/// The vendor's name, shown on every page and in the PDFs.
pub(crate) const VENDOR_NAME: &str = "Example Vendor";

/// Escapes text for use in HTML content and in quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Wraps page content in the site's layout. `title` is escaped, `content`
/// must already be HTML.
pub(crate) fn layout(title: &str, content: &str) -> String {
    let title = escape(title);
    format!(
        "<!DOCTYPE html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<title>{title} – {VENDOR_NAME}</title>
</head>
<body>
<header><h1>{VENDOR_NAME}</h1><p>Customer area</p></header>
<main>
{content}</main>
</body>
</html>
"
    )
}

/// Renders the login page. `error` adds the error message above the form.
pub(crate) fn login_page(csrf_token: &str, error: bool) -> String {
    let error = match error {
        true => "<div class=\"error\">Invalid credentials</div>\n",
        false => "",
    };
    let csrf_token = escape(csrf_token);
    let content = format!(
        "<h2>Sign in to your customer area</h2>
{error}<form id=\"login-form\" action=\"/login\" method=\"post\">
<input type=\"hidden\" name=\"csrf\" value=\"{csrf_token}\">
<label for=\"login\">Email</label>
<input type=\"email\" id=\"login\" name=\"login\" autocomplete=\"username\">
<label for=\"password\">Password</label>
<input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\">
<button type=\"submit\">Sign in</button>
</form>
"
    );
    layout("Sign in", &content)
}

/// One page of the bill list, as shown by `/bills?page=N`.
pub(crate) struct BillsPage<'a> {
    pub(crate) login: &'a str,
    pub(crate) bills: &'a [Bill],
    /// The page number, from 1.
    pub(crate) page: usize,
    pub(crate) page_count: usize,
}

/// Renders a page of the bill list.
pub(crate) fn bills_page(page: &BillsPage<'_>) -> String {
    let mut content = String::new();
    content.push_str("<h2>Your bills</h2>\n");
    let login = escape(page.login);
    let _ = writeln!(content, "<p class=\"account\">Signed in as {login}</p>");

    content.push_str("<ul class=\"bills\">\n");
    for bill in page.bills {
        content.push_str(&bill_item(bill));
    }
    content.push_str("</ul>\n");

    content.push_str("<nav class=\"pagination\">\n");
    if page.page > 1 {
        let previous = page.page - 1;
        let _ = writeln!(
            content,
            "<a class=\"previous\" href=\"/bills?page={previous}\">Previous page</a>"
        );
    }
    let _ = writeln!(
        content,
        "<span class=\"page\">Page {} of {}</span>",
        page.page, page.page_count
    );
    if page.page < page.page_count {
        let next = page.page + 1;
        let _ = writeln!(
            content,
            "<a class=\"next\" href=\"/bills?page={next}\">Next page</a>"
        );
    }
    content.push_str("</nav>\n");

    layout("Your bills", &content)
}

fn bill_item(bill: &Bill) -> String {
    let id = escape(&bill.id);
    let date = escape(&bill.date);
    let display_date = escape(&format_date_fr(&bill.date));
    let amount = format_amount_machine(bill.amount);
    let display_amount = format_amount_fr(bill.amount);
    let label = escape(&bill.label);
    let pdf_path = escape(&bill.pdf_path);
    format!(
        "<li class=\"bill\" data-id=\"{id}\" data-date=\"{date}\" data-amount=\"{amount}\">
<time class=\"date\" datetime=\"{date}\">{display_date}</time>
<span class=\"label\">{label}</span>
<span class=\"amount\">{display_amount}</span>
<a class=\"pdf\" href=\"{pdf_path}\">Download the bill (PDF)</a>
</li>
"
    )
}

/// Renders a page for an error status, with an escaped explanation.
pub(crate) fn error_page(title: &str, explanation: &str) -> String {
    let explanation = escape(explanation);
    let content = format!("<h2>{}</h2>\n<p>{explanation}</p>\n", escape(title));
    layout(title, &content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bills::generate_bills;

    #[test]
    fn escape_special_characters() {
        assert_eq!(
            escape("a&b <c> \"d\" 'e'"),
            "a&amp;b &lt;c&gt; &quot;d&quot; &#39;e&#39;"
        );
    }

    #[test]
    fn login_page_has_form_and_token() {
        let page = login_page("tok", false);
        assert!(page.contains("<form id=\"login-form\" action=\"/login\" method=\"post\">"));
        assert!(page.contains("name=\"csrf\" value=\"tok\""));
        assert!(!page.contains("class=\"error\""));
        assert!(login_page("tok", true).contains("<div class=\"error\">Invalid credentials</div>"));
    }

    #[test]
    fn bill_item_escapes_label() {
        let bills = generate_bills(2);
        let item = bill_item(&bills[1]);
        assert!(
            item.contains("Internet &amp; TV box – November 2025"),
            "{item}"
        );
        assert!(item.contains("data-amount=\"39.09\""), "{item}");
        assert!(
            item.contains("<span class=\"amount\">39,09 €</span>"),
            "{item}"
        );
        assert!(
            item.contains("<a class=\"pdf\" href=\"/bills/F202511-0001.pdf\">"),
            "{item}"
        );
    }

    #[test]
    fn bills_page_links() {
        let bills = generate_bills(3);
        let page = |number| BillsPage {
            login: "me",
            bills: &bills,
            page: number,
            page_count: 3,
        };
        let first = bills_page(&page(1));
        assert!(first.contains("<a class=\"next\" href=\"/bills?page=2\">"));
        assert!(!first.contains("class=\"previous\""));
        let last = bills_page(&page(3));
        assert!(!last.contains("class=\"next\""));
        assert!(last.contains("<a class=\"previous\" href=\"/bills?page=2\">"));
    }
}
