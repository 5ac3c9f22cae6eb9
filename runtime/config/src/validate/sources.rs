//! `[[source]]`: where changes come from, by webhook or polling.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;

use super::super::plan::{Source, Trigger};
use super::super::raw::{RawSource, Text};
use super::{Validator, list_hint};

/// Paths the server answers itself (`server::app`): a source there would never be called.
const RESERVED_PATHS: &[&str] = &["/healthz", "/metrics"];

/// Shortest poll interval: each poll is a call to the vendor's API, and a few milliseconds
/// would flood it and the rate limit.
const MIN_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Why the server could never match `path` as written (it compares the request's raw path):
/// characters a sender must percent-encode, a malformed escape, or a `.`/`..` segment that
/// HTTP clients remove before sending.
fn unroutable(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return Some("`%` does not start an escape like %2F".into());
            }
            i += 3;
            continue;
        }
        // RFC 3986 pchar and `/`: unreserved, sub-delims, `:` and `@`.
        let plain = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b);
        if !plain {
            let c = path[i..].chars().next().unwrap_or_default();
            return Some(format!("`{c}` is sent percent-encoded"));
        }
        i += 1;
    }
    path.split('/')
        .skip(1)
        .any(|segment| segment == "." || segment == "..")
        .then(|| "clients remove `.` and `..` segments before sending".into())
}

/// A checked source, and what it delivers even when it has errors, so routes do not report
/// a missing source on top of the source's own problem.
pub(super) struct SourceState {
    pub(super) source: Option<Source>,
    pub(super) connector: Option<String>,
    /// `None` when `objects` is missing or was left out as malformed.
    pub(super) objects: Option<Vec<String>>,
}

impl Validator<'_, '_> {
    pub(super) fn sources(&mut self, raw: &[Spanned<RawSource>]) -> Vec<SourceState> {
        let mut paths: BTreeMap<String, usize> = BTreeMap::new();
        let mut states = Vec::new();
        for entry in raw {
            let s = entry.get_ref();
            let connector = s
                .connector
                .as_ref()
                .filter(|c| self.use_connector(c))
                .map(|c| c.get_ref().clone());
            let info = connector.as_deref().and_then(|c| self.info(c)).cloned();
            let trigger = match (&s.webhook, &s.poll) {
                (Some(_), Some(poll)) => {
                    self.rep
                        .error(
                            poll.span(),
                            "a source takes either `webhook` or `poll`, not both",
                        )
                        .hint("declare a second [[source]] to both receive webhooks and poll");
                    None
                }
                (None, None) => {
                    self.rep
                        .error(entry.span(), "a source needs `webhook` or `poll`")
                        .hint("e.g. webhook = \"/hooks/stripe\" or poll = \"1m\"");
                    None
                }
                (Some(path), None) => {
                    let ok = self.webhook_path(path, &mut paths);
                    if let Some(info) = &info
                        && !info.webhooks
                    {
                        let hint = if info.polling {
                            "it can poll: write poll = \"1m\" instead"
                        } else {
                            "it can neither receive webhooks nor poll"
                        };
                        self.rep
                            .error(
                                path.span(),
                                format!("module `{}` does not receive webhooks", info.name),
                            )
                            .hint(hint);
                        None
                    } else {
                        ok.then(|| Trigger::Webhook(path.get_ref().clone()))
                    }
                }
                (None, Some(poll)) => {
                    let every = self.duration(poll, "poll").filter(|every| {
                        self.at_least(poll, *every, MIN_POLL_INTERVAL, "poll", "each poll calls the vendor's API; poll = \"1m\" is usual, and webhooks deliver changes at once")
                    });
                    if let Some(info) = &info
                        && !info.polling
                    {
                        let hint = if info.webhooks {
                            "it receives webhooks: write webhook = \"/hooks/NAME\" instead"
                        } else {
                            "it can neither receive webhooks nor poll"
                        };
                        self.rep
                            .error(poll.span(), format!("module `{}` cannot poll", info.name))
                            .hint(hint);
                        None
                    } else {
                        every.map(Trigger::Poll)
                    }
                }
            };
            let mut objects_ok = true;
            let objects: Option<Vec<String>> = s
                .objects
                .as_ref()
                .map(|list| list.get_ref().iter().map(|o| o.get_ref().clone()).collect());
            if let Some(list) = &s.objects {
                if list.get_ref().is_empty() {
                    self.rep
                        .error(list.span(), "a source needs at least one object");
                    objects_ok = false;
                }
                if let Some(info) = &info {
                    for object in list.get_ref() {
                        if !info.source_objects.contains(object.get_ref()) {
                            self.rep
                                .error(
                                    object.span(),
                                    format!(
                                        "module `{}` cannot read `{}`",
                                        info.name,
                                        object.get_ref()
                                    ),
                                )
                                .hint(list_hint("it reads", &info.source_objects));
                            objects_ok = false;
                        }
                    }
                }
            }
            let source = match (&connector, trigger, &objects) {
                (Some(connector), Some(trigger), Some(objects)) if objects_ok => Some(Source {
                    connector: connector.clone(),
                    trigger,
                    objects: objects.clone(),
                }),
                _ => None,
            };
            states.push(SourceState {
                source,
                connector,
                objects,
            });
        }
        states
    }

    /// A webhook path: absolute, plain, one the server can route to a source, and unique in
    /// the file.
    fn webhook_path(&mut self, path: &Text, seen: &mut BTreeMap<String, usize>) -> bool {
        let text = path.get_ref();
        if !text.starts_with('/') || text.contains(['?', '#', ' ']) {
            self.rep
                .error(path.span(), format!("invalid webhook path `{text}`"))
                .hint("a path starts with / and has no query, e.g. /hooks/stripe");
            return false;
        }
        if let Some(reserved) = RESERVED_PATHS.iter().find(|p| **p == text.as_str()) {
            self.rep
                .error(
                    path.span(),
                    format!("webhook path `{text}` is the server's own {reserved} endpoint"),
                )
                .hint("requests to it never reach a source; use a path of its own, e.g. /hooks/stripe");
            return false;
        }
        if let Some(problem) = unroutable(text) {
            self.rep
                .error(
                    path.span(),
                    format!("webhook path `{text}` cannot be routed: {problem}"),
                )
                .hint("the server matches the path exactly as a sender writes it on the wire; use letters, digits and - . _ ~ /, e.g. /hooks/stripe");
            return false;
        }
        let line = self.rep.file().line_of(path.span().start);
        if let Some(first) = seen.get(text) {
            self.rep
                .error(
                    path.span(),
                    format!("webhook path `{text}` is used by two sources"),
                )
                .hint(format!(
                    "first used on line {first}; each source needs its own path"
                ));
            return false;
        }
        seen.insert(text.clone(), line);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_a_sender_cannot_write_as_is_are_unroutable() {
        for fine in [
            "/hooks/stripe",
            "/",
            "/a%2Fb",
            "/v1/hooks:stripe@eu",
            "/x.y/z~_-",
        ] {
            assert_eq!(unroutable(fine), None, "{fine}");
        }
        for bad in [
            "/hooks/strïpe",
            "/hooks/\u{1b}",
            "/a%zz",
            "/a%2",
            "/hooks/../admin",
            "/hooks/.",
            "/a\\b",
            "/a\"b",
            "/a<b>",
        ] {
            assert!(unroutable(bad).is_some(), "{bad}");
        }
    }
}
