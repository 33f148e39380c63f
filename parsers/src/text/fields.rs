//! Field values as Event Viewer and PowerShell write them, shared by the block and the
//! delimited readers.

use crate::event::Level;

/// `5085`, `0xC00013DD` or `3221230557`: the code, and the qualifiers when the value is a full
/// 32-bit identifier.
pub fn event_id(text: &str) -> Option<(u16, Option<u16>)> {
    let text = text.trim();
    let value = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => text.parse::<u32>().ok()?,
    };
    let code = (value & 0xffff) as u16;
    let high = (value >> 16) as u16;
    Some((code, (high != 0).then_some(high)))
}

/// A level by name (`Error`, `Success Audit`), or by its .evtx number (`2`). Unknown names
/// give `Other(0)`: the model has no room for the text, and guessing would mislead.
pub fn level(text: &str) -> Level {
    let text = text.trim();
    if let Some(level) = Level::from_name(text) {
        return level;
    }
    match text.parse::<u8>() {
        Ok(number) => Level::from_evtx_level(number),
        Err(_) => Level::Other(0),
    }
}

/// `None` (Event Viewer's name for category 0), `(3)` or `3`; a category name gives nothing.
pub fn category(text: &str) -> Option<u16> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("none") {
        return Some(0);
    }
    let bare = text
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or(text);
    bare.parse().ok()
}

/// An account or computer name; `N/A` and empty mean none.
pub fn account(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty() && !text.eq_ignore_ascii_case("n/a")).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ids_levels_and_categories() {
        assert_eq!(event_id("5085"), Some((5085, None)));
        assert_eq!(event_id("0xC00013DD"), Some((5085, Some(0xc000))));
        assert_eq!(event_id("3221230557"), Some((5085, Some(0xc000))));
        assert_eq!(event_id("-1"), None);
        assert_eq!(level("Failure Audit"), Level::AuditFailure);
        assert_eq!(level("2"), Level::Error);
        assert_eq!(level("Fehler"), Level::Other(0));
        assert_eq!(category("None"), Some(0));
        assert_eq!(category("(12)"), Some(12));
        assert_eq!(category("Logon/Logoff"), None);
        assert_eq!(account(" N/A "), None);
        assert_eq!(
            account("NT AUTHORITY\\SYSTEM").as_deref(),
            Some("NT AUTHORITY\\SYSTEM")
        );
    }
}
