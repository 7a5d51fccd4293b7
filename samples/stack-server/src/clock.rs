//! Timestamps in the stack's formats.

use std::time::SystemTime;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Returns the current time in UTC.
pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Formats `instant` as RFC 3339, the way Go marshals a `time.Time`.
pub(crate) fn format(instant: OffsetDateTime) -> String {
    // Formatting fails only for years outside 0 to 9999 or offsets with
    // seconds, and neither the clock nor the parsers below produce them.
    instant.format(&Rfc3339).unwrap_or_default()
}

/// Parses an RFC 3339 timestamp, such as a `CreatedAt` query parameter.
pub(crate) fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// Parses an HTTP `Date` header (IMF-fixdate, as Go's `time.RFC1123`).
pub(crate) fn parse_http_date(text: &str) -> Option<OffsetDateTime> {
    let instant: SystemTime = httpdate::parse_http_date(text).ok()?;
    Some(OffsetDateTime::from(instant))
}
