//! Salesforce record ids: 15 case-sensitive characters (key prefix, pod, counter) plus the
//! 3-character case-safe suffix of the 18-character form, which may be given in any case.

/// The suffix alphabet: entry `n` encodes which of five characters are upper case.
const SUFFIX: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The 18-character id of the `n`th record with this key prefix. The counter is base-62 in
/// ASCII order, so ids sort in creation order.
pub fn make(prefix: &str, n: u64) -> String {
    let mut counter = [b'0'; 9];
    let mut rest = n;
    for slot in counter.iter_mut().rev() {
        *slot = BASE62[(rest % 62) as usize];
        rest /= 62;
    }
    let short = format!(
        "{prefix}5g0{}",
        std::str::from_utf8(&counter).unwrap_or("000000000")
    );
    with_suffix(&short)
}

fn with_suffix(short: &str) -> String {
    let bytes = short.as_bytes();
    let mut out = short.to_owned();
    for chunk in bytes.chunks(5) {
        let flags = chunk
            .iter()
            .enumerate()
            .filter(|(_, b)| b.is_ascii_uppercase())
            .fold(0usize, |acc, (i, _)| acc | (1 << i));
        out.push(char::from(SUFFIX[flags]));
    }
    out
}

/// The canonical 18-character form of a 15- or 18-character id, or `None` when `s` is not
/// shaped like an id (wrong length, characters, or a suffix that contradicts the id).
pub fn normalize(s: &str) -> Option<String> {
    if !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    match s.len() {
        15 => Some(with_suffix(s)),
        18 => {
            let suffix = s[15..].to_ascii_uppercase();
            let mut short: Vec<u8> = s[..15].bytes().collect();
            for (chunk, flag) in short.chunks_mut(5).zip(suffix.bytes()) {
                let flags = SUFFIX.iter().position(|c| *c == flag)?;
                for (i, b) in chunk.iter_mut().enumerate() {
                    let upper = flags & (1 << i) != 0;
                    if upper && b.is_ascii_digit() {
                        return None;
                    }
                    *b = if upper {
                        b.to_ascii_uppercase()
                    } else {
                        b.to_ascii_lowercase()
                    };
                }
            }
            String::from_utf8(short).ok().map(|s| with_suffix(&s))
        }
        _ => None,
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn suffix_matches_salesforce() {
        // A documented pair: 001D000000IqhSL and its case-safe form (fact sheet §2).
        assert_eq!(
            normalize("001D000000IqhSL").as_deref(),
            Some("001D000000IqhSLIAZ")
        );
        assert_eq!(
            normalize("001d000000iqhsliaz").as_deref(),
            Some("001D000000IqhSLIAZ")
        );
        assert_eq!(normalize("001D000000IqhSLIA"), None);
        let id = make("001", 63);
        assert_eq!(id.len(), 18);
        assert_eq!(normalize(&id), Some(id.clone()));
        assert!(make("001", 1) < make("001", 62));
    }
}
