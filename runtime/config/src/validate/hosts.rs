//! `base-url` and `allow-hosts`: what a connector may reach on the network.

use std::net::IpAddr;

use super::super::plan::AllowedHost;
use super::super::raw::{Text, TextList};
use super::Validator;

impl Validator<'_, '_> {
    /// The hosts a connector may call: `allow-hosts` plus the host of `base-url`. A loopback or
    /// private `base-url` host must be listed explicitly, so a typo in a production file cannot
    /// point a connector at internal services.
    pub(super) fn hosts(
        &mut self,
        base_url: Option<&Text>,
        allow: Option<&TextList>,
    ) -> Option<Vec<AllowedHost>> {
        let mut ok = true;
        let mut hosts = Vec::new();
        for entry in allow.map(|a| a.get_ref().as_slice()).unwrap_or_default() {
            match parse_host(entry.get_ref()) {
                Ok(host) => hosts.push(host),
                Err(problem) => {
                    let hint = match (ipv4_shorthand(entry.get_ref()), bare_host(entry.get_ref())) {
                        (Some(Some(ip)), _) => format!(
                            "write the address in dotted decimal, \"{ip}\": only that form is matched as an address when a request is checked"
                        ),
                        (Some(None), _) => {
                            "an IPv4 address is four numbers from 0 to 255, e.g. 127.0.0.1"
                                .to_owned()
                        }
                        (None, Some(bare)) => format!("write the host alone, e.g. \"{bare}\""),
                        (None, None) => {
                            "write a host name like api.stripe.com or an IP address like 127.0.0.1"
                                .to_owned()
                        }
                    };
                    self.rep
                        .error(
                            entry.span(),
                            format!(
                                "invalid host `{}` in allow-hosts: {problem}",
                                entry.get_ref()
                            ),
                        )
                        .hint(hint);
                    ok = false;
                }
            }
        }
        if let Some(url) = base_url {
            match url_host(url.get_ref()) {
                Ok((host, secure)) => {
                    if !secure && !is_internal(&host) {
                        self.rep
                            .warning(url.span(), "base-url uses plain http to a public host")
                            .hint("use https; plain http is meant for local simulators");
                    }
                    if is_internal(&host) {
                        if !hosts.contains(&host) {
                            self.rep
                                .error(url.span(), format!("base-url points at the internal address `{host}`, which allow-hosts does not list"))
                                .hint(format!("loopback and private addresses are reachable only when listed: allow-hosts = [\"{host}\"]"));
                            ok = false;
                        }
                    } else if !hosts.contains(&host) {
                        hosts.push(host);
                    }
                }
                Err(problem) => {
                    let dotted = bare_host(url.get_ref()).and_then(|host| {
                        let ip = ipv4_shorthand(host)??;
                        Some(url.get_ref().replacen(host, &ip.to_string(), 1))
                    });
                    let hint = match dotted {
                        Some(fixed) => {
                            format!("write the address in dotted decimal: base-url = \"{fixed}\"")
                        }
                        None => "e.g. base-url = \"https://api.stripe.com\"".to_owned(),
                    };
                    self.rep
                        .error(url.span(), format!("invalid base-url: {problem}"))
                        .hint(hint);
                    ok = false;
                }
            }
        }
        hosts.sort();
        hosts.dedup();
        ok.then_some(hosts)
    }
}

/// A bare host name or IP literal (IPv6 with or without brackets).
fn parse_host(text: &str) -> Result<AllowedHost, &'static str> {
    let unbracketed = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(AllowedHost::Ip(ip));
    }
    if text.contains("://") {
        return Err("it is a URL, not a host");
    }
    if text.contains('/') || text.contains(':') {
        return Err("a host has no path or port");
    }
    if text.contains('*') {
        return Err("wildcards are not supported; list each host");
    }
    // `127.1`, `2130706433` and `0x7f.1` are 127.0.0.1 to the system resolver, but the egress
    // check matches IP literals in dotted decimal only, and refuses the rest as host names that
    // resolve to an address the rule does not name.
    match ipv4_shorthand(text) {
        Some(Some(_)) => {
            return Err(
                "it is an IPv4 address in a shorthand form, which the egress check refuses",
            );
        }
        Some(None) => {
            return Err("it ends in a number, so it reads as an IPv4 address, and is not one");
        }
        None => {}
    }
    let name = text.to_ascii_lowercase();
    let labels_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !labels_ok {
        return Err("it is not a valid host name");
    }
    Ok(AllowedHost::Name(name))
}

/// A host that ends in a number is an IPv4 address to URL parsers and resolvers (the WHATWG
/// URL standard's rule): `Some(Some(address))` when it reads as one in any of the shorthand
/// forms (fewer than four parts, octal `0177`, hex `0x7f`), `Some(None)` when it does not fit
/// (`999.1`), `None` when it is a name or already in dotted decimal.
fn ipv4_shorthand(text: &str) -> Option<Option<std::net::Ipv4Addr>> {
    if text.parse::<std::net::Ipv4Addr>().is_ok() {
        return None;
    }
    let mut parts: Vec<&str> = text.split('.').collect();
    if parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    let last = parts.last()?;
    fn hex(p: &str) -> Option<&str> {
        p.strip_prefix("0x")
            .or_else(|| p.strip_prefix("0X"))
            .filter(|digits| digits.chars().all(|c| c.is_ascii_hexdigit()))
    }
    let numeric =
        !last.is_empty() && (last.chars().all(|c| c.is_ascii_digit()) || hex(last).is_some());
    if !numeric {
        return None;
    }
    let number = |p: &str| -> Option<u64> {
        if let Some(digits) = hex(p) {
            return if digits.is_empty() {
                Some(0)
            } else {
                u64::from_str_radix(digits, 16).ok()
            };
        }
        if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        if p.len() > 1 && p.starts_with('0') {
            return u64::from_str_radix(&p[1..], 8).ok();
        }
        p.parse().ok()
    };
    let numbers: Option<Vec<u64>> = parts.iter().map(|p| number(p)).collect();
    let address = numbers.filter(|n| n.len() <= 4).and_then(|n| {
        let (head, last) = n.split_at(n.len() - 1);
        if head.iter().any(|&x| x > 255) || last[0] >= 1u64 << (8 * (5 - n.len())) {
            return None;
        }
        let value = head
            .iter()
            .enumerate()
            .fold(last[0], |acc, (i, &x)| acc | (x << (8 * (3 - i))));
        u32::try_from(value).ok().map(std::net::Ipv4Addr::from)
    });
    Some(address)
}

/// The host part of something that looks like a URL, for hints.
fn bare_host(text: &str) -> Option<&str> {
    let rest = text.split_once("://").map_or(text, |(_, rest)| rest);
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    (!host.is_empty() && host != text).then_some(host)
}

/// The host of an http(s) URL, and whether it uses https.
pub(super) fn url_host(url: &str) -> Result<(AllowedHost, bool), String> {
    let (secure, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err("it must start with https:// or http://".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("credentials do not belong in the URL; use auth".into());
    }
    let host = if authority.starts_with('[') {
        // [v6]:port
        authority
            .split_once(']')
            .map(|(h, _)| format!("{h}]"))
            .unwrap_or_else(|| authority.to_owned())
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => {
                if port.parse::<u16>().is_err() {
                    return Err(format!("invalid port `{port}`"));
                }
                host.to_owned()
            }
            None => authority.to_owned(),
        }
    };
    if host.is_empty() {
        return Err("it has no host".into());
    }
    parse_host(&host)
        .map(|h| (h, secure))
        .map_err(|problem| format!("host `{host}`: {problem}"))
}

/// Loopback, private, link-local and unspecified addresses, and `localhost`.
pub(super) fn is_internal(host: &AllowedHost) -> bool {
    match host {
        AllowedHost::Name(name) => name == "localhost" || name.ends_with(".localhost"),
        AllowedHost::Ip(IpAddr::V4(ip)) => {
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                // 100.64.0.0/10, carrier-grade NAT: internal in cloud networks.
                || (ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64)
        }
        AllowedHost::Ip(IpAddr::V6(ip)) => {
            let first = ip.segments()[0];
            ip.is_loopback()
                || ip.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_internal(&AllowedHost::Ip(IpAddr::V4(v4))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_urls() {
        assert_eq!(
            parse_host("API.Stripe.com"),
            Ok(AllowedHost::Name("api.stripe.com".into()))
        );
        assert!(matches!(parse_host("127.0.0.1"), Ok(AllowedHost::Ip(_))));
        assert!(matches!(parse_host("[::1]"), Ok(AllowedHost::Ip(_))));
        assert!(parse_host("https://api.stripe.com").is_err());
        assert!(parse_host("api.stripe.com:443").is_err());
        assert!(parse_host("*.stripe.com").is_err());
        assert_eq!(
            bare_host("https://api.stripe.com/v1"),
            Some("api.stripe.com")
        );
        assert_eq!(bare_host("api.stripe.com:443"), Some("api.stripe.com"));

        let (host, secure) = url_host("http://127.0.0.1:8080/v1")
            .unwrap_or((AllowedHost::Name(String::new()), true));
        assert_eq!(host, AllowedHost::Ip([127, 0, 0, 1].into()));
        assert!(!secure);
        assert!(url_host("https://[::1]:9000").is_ok());
        assert!(url_host("ftp://example.com").is_err());
        assert!(url_host("https://user:pw@example.com").is_err());
        assert!(url_host("https://example.com:http").is_err());
    }

    #[test]
    fn numeric_shorthands_of_ipv4_addresses_are_refused() {
        let loopback = Some(Some(std::net::Ipv4Addr::new(127, 0, 0, 1)));
        for shorthand in [
            "127.1",
            "2130706433",
            "0x7f.1",
            "0x7f000001",
            "0177.0.0.1",
            "127.0.0.01",
            "127.0.1",
            "127.1.",
        ] {
            assert_eq!(ipv4_shorthand(shorthand), loopback, "{shorthand}");
            assert!(parse_host(shorthand).is_err(), "{shorthand}");
            assert!(
                url_host(&format!("http://{shorthand}:8080/")).is_err(),
                "{shorthand}"
            );
        }
        assert_eq!(ipv4_shorthand("999.1"), Some(None));
        assert_eq!(ipv4_shorthand("1.2.3.4.5"), Some(None));
        assert_eq!(
            ipv4_shorthand("0x"),
            Some(Some(std::net::Ipv4Addr::new(0, 0, 0, 0)))
        );
        for name in [
            "api.stripe.com",
            "1.example.com",
            "0x.example",
            "localhost",
            "a1",
        ] {
            assert_eq!(ipv4_shorthand(name), None, "{name}");
        }
        assert_eq!(ipv4_shorthand("127.0.0.1"), None, "the one accepted form");
        assert!(parse_host("127.0.0.1").is_ok());
    }

    #[test]
    fn internal_addresses() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "localhost",
        ] {
            let host = parse_host(internal).unwrap_or(AllowedHost::Name("example.com".into()));
            assert!(is_internal(&host), "{internal}");
        }
        for public in ["8.8.8.8", "api.stripe.com", "2001:4860::8888"] {
            let host = parse_host(public).unwrap_or(AllowedHost::Name("localhost".into()));
            assert!(!is_internal(&host), "{public}");
        }
    }
}
