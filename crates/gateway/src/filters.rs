//! Filters live in one node's memory, so the gateway rewrites each filter id it hands out to
//! carry the index of the node that created it: `0x` + `f` + two hex digits of the index + the
//! node's own id digits. The `f` keeps the id free of leading zeros, so clients that normalise
//! hex quantities do not change it.

/// Marks a gateway filter id.
const MARKER: char = 'f';

/// The id the client sees for filter `id` created on upstream `index` (< 256).
pub fn wrap(index: usize, id: &str) -> String {
    let digits = id.strip_prefix("0x").unwrap_or(id);
    format!("0x{MARKER}{index:02x}{digits}")
}

/// The upstream index and the node's own id, or `None` for an id this gateway never issued
/// (which the caller answers as the node would an unknown filter).
pub fn unwrap(id: &str) -> Option<(usize, String)> {
    let rest = id.strip_prefix("0x")?.strip_prefix(MARKER)?;
    let index = usize::from_str_radix(rest.get(..2)?, 16).ok()?;
    let digits = rest.get(2..)?;
    if digits.is_empty() {
        return None;
    }
    Some((index, format!("0x{digits}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_round_trip_and_foreign_ids_are_refused() {
        for (index, id) in [(0, "0x1"), (1, "0x0"), (255, "0xdeadbeef00112233")] {
            let wrapped = wrap(index, id);
            assert!(!wrapped.starts_with("0x0"), "{wrapped}");
            assert_eq!(unwrap(&wrapped).unwrap(), (index, id.to_owned()));
        }
        assert_eq!(unwrap("0x1"), None);
        assert_eq!(unwrap("0xf01"), None);
        assert_eq!(unwrap("0xfzz1"), None);
        assert_eq!(unwrap("f011"), None);
    }
}
