//! Percent-encoding for URLs and `application/x-www-form-urlencoded` bodies (RFC 3986
//! unreserved characters pass; everything else is escaped).

/// Percent-encodes every byte outside `A-Z a-z 0-9 - . _ ~`.
pub fn pct(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Encodes pairs as a form body or query string: `a=1&b=two%20words`. Brackets in names
/// (`items[0][price]`) are escaped, which servers decode back.
pub fn encode<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k.as_ref()), pct(v.as_ref())))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_reserved_and_keeps_unreserved() {
        assert_eq!(pct("a b&c=d/é~"), "a%20b%26c%3Dd%2F%C3%A9~");
        assert_eq!(
            encode(&[("items[0][price]", "price_1"), ("q", "")]),
            "items%5B0%5D%5Bprice%5D=price_1&q="
        );
    }
}
