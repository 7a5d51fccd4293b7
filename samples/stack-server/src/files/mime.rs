//! MIME types and the stack's file classes.

/// The type of a file whose type is unknown.
pub(crate) const OCTET_STREAM: &str = "application/octet-stream";

/// Returns the MIME type for a file name's extension, as the stack guesses
/// it when an upload has no `Content-Type`. A short table of the types
/// konnectors save; anything else is `application/octet-stream`.
pub(crate) fn mime_from_name(name: &str) -> &'static str {
    let extension = match name.rsplit_once('.') {
        Some((_, extension)) => extension.to_ascii_lowercase(),
        None => return OCTET_STREAM,
    };
    match extension.as_str() {
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "xml" => "text/xml",
        "json" => "application/json",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "zip" => "application/zip",
        "doc" => "application/msword",
        "xls" => "application/vnd.ms-excel",
        "odt" => "application/vnd.oasis.opendocument.text",
        "ods" => "application/vnd.oasis.opendocument.spreadsheet",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => OCTET_STREAM,
    }
}

/// Splits a `Content-Type` into the MIME type (without parameters) and the
/// stack's class for it (`pdf`, `image`, `text`, `files`, ...), following
/// the stack's `vfs.ExtractMimeAndClass`.
pub(crate) fn mime_and_class(content_type: &str) -> (String, String) {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let class = match mime.as_str() {
        OCTET_STREAM => "files",
        "application/x-apple-diskimage" | "application/x-msdownload" => "binary",
        "text/html" | "text/css" | "text/xml" | "application/js" | "text/x-c" | "text/x-go"
        | "text/x-python" | "application/x-ruby" => "code",
        "application/pdf" => "pdf",
        "application/vnd.ms-powerpoint"
        | "application/vnd.oasis.opendocument.presentation"
        | "application/vnd.oasis.opendocument.graphics"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => "slide",
        "application/vnd.ms-excel"
        | "application/vnd.oasis.opendocument.spreadsheet"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "spreadsheet",
        "application/msword"
        | "application/vnd.oasis.opendocument.text"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "text",
        "application/x-7z-compressed"
        | "application/x-rar-compressed"
        | "application/zip"
        | "application/gzip"
        | "application/x-tar" => "zip",
        other => other.split('/').next().unwrap_or(other),
    }
    .to_owned();
    (mime, class)
}

/// Tells whether `content_type` parses as a media type: `type/subtype`
/// made of token characters, with optional `;`-separated parameters.
pub(crate) fn is_valid_media_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    let is_token = |text: &str| {
        !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
    };
    is_token(kind) && is_token(subtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_stack() {
        let class = |content_type: &str| mime_and_class(content_type).1;
        assert_eq!(class("application/pdf"), "pdf");
        assert_eq!(class("image/png"), "image");
        assert_eq!(class("text/plain; charset=utf-8"), "text");
        assert_eq!(class("text/html"), "code");
        assert_eq!(class(OCTET_STREAM), "files");
        assert_eq!(mime_and_class("text/plain; charset=utf-8").0, "text/plain");
    }

    #[test]
    fn names_and_media_types() {
        assert_eq!(mime_from_name("bill.PDF"), "application/pdf");
        assert_eq!(mime_from_name("README"), OCTET_STREAM);
        assert!(is_valid_media_type("application/pdf"));
        assert!(is_valid_media_type("text/plain; charset=utf-8"));
        assert!(!is_valid_media_type("pdf"));
        assert!(!is_valid_media_type("text/"));
    }
}
