//! Doctype names the stack rejects or reserves.

use crate::error::StackError;

/// Doctypes only the stack may write, which clients may read. A subset of
/// the stack's list (`model/permission/doctype.go`): the ones a konnector
/// could plausibly touch.
const READ_ONLY: &[&str] = &[
    "io.cozy.apps",
    "io.cozy.files",
    "io.cozy.files.versions",
    "io.cozy.jobs",
    "io.cozy.konnectors",
    "io.cozy.notifications",
    "io.cozy.triggers",
];

/// Doctypes no client may read or write, also a subset of the stack's list.
const RESERVED: &[&str] = &[
    "io.cozy.oauth.clients",
    "io.cozy.permissions",
    "io.cozy.sessions",
    "io.cozy.sharings",
];

/// Checks that `doctype` may be read through `/data`, with the stack's 403
/// otherwise.
pub(crate) fn check_readable(doctype: &str) -> Result<(), StackError> {
    check_name(doctype)?;
    if RESERVED.contains(&doctype) {
        let message = format!("reserved doctype {doctype} unreadable");
        return Err(StackError::forbidden_doctype(message));
    }
    Ok(())
}

/// Checks that `doctype` may be written through `/data`, with the stack's
/// 403 otherwise.
pub(crate) fn check_writable(doctype: &str) -> Result<(), StackError> {
    check_name(doctype)?;
    if RESERVED.contains(&doctype) || READ_ONLY.contains(&doctype) {
        let message = format!("reserved doctype {doctype} unwritable");
        return Err(StackError::forbidden_doctype(message));
    }
    Ok(())
}

/// Checks the stack's rule for doctype names: lower-case letters, digits,
/// `.` and `_`, with no dot first, last or twice in a row.
fn check_name(doctype: &str) -> Result<(), StackError> {
    let valid_chars = doctype
        .chars()
        .all(|c| c.is_lowercase() || c.is_numeric() || c == '.' || c == '_');
    let valid = !doctype.is_empty()
        && valid_chars
        && !doctype.starts_with('.')
        && !doctype.ends_with('.')
        && !doctype.contains("..");
    match valid {
        true => Ok(()),
        false => Err(StackError::forbidden_doctype(format!(
            "{doctype} is not a valid doctype name"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_reserved_doctypes() {
        assert!(check_writable("io.cozy.bills").is_ok());
        assert!(check_readable("io.cozy.files").is_ok());
        assert!(check_writable("io.cozy.files").is_err());
        assert!(check_readable("io.cozy.permissions").is_err());
        for invalid in ["", "Io.cozy", ".io", "io.", "io..cozy", "io-cozy"] {
            assert!(check_writable(invalid).is_err(), "{invalid:?}");
        }
    }
}
