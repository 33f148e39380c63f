//! What the tool knows about the products it diagnoses: release tables and a message catalog.
//! Data, not logic: every table row carries the note of where the value comes from.

pub mod catalog;
pub mod exchange;
pub mod kms;
pub mod windows;

/// Reads `major.minor.build[.revision]` at the start of `text` (leading zeros allowed, a
/// trailing dot or suffix ignored). At least three parts are needed.
pub fn leading_version(text: &str) -> Option<[u32; 4]> {
    let mut parts = [0u32; 4];
    let mut count = 0;
    for piece in text.trim_start().split('.') {
        let digits: &str = piece
            .find(|c: char| !c.is_ascii_digit())
            .map_or(piece, |end| &piece[..end]);
        if digits.is_empty() || count == parts.len() {
            break;
        }
        parts[count] = digits.parse().ok()?;
        count += 1;
        if digits.len() != piece.len() {
            break;
        }
    }
    (count >= 3).then_some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_version_stops_at_the_first_non_digit() {
        assert_eq!(leading_version("6.0.6249.0 PT"), Some([6, 0, 6249, 0]));
        assert_eq!(leading_version("6.00.6249.0000"), Some([6, 0, 6249, 0]));
        assert_eq!(leading_version("5.5.2653"), Some([5, 5, 2653, 0]));
        assert_eq!(leading_version("6.0"), None);
        assert_eq!(leading_version("kmserver.cpp@1653"), None);
        assert_eq!(leading_version("99999999999.1.1"), None);
    }
}
