//! A scripted [`Host`] for connector unit tests and native benchmarks: canned HTTP responses
//! answered in order, settings, a fixed clock, and HMAC computed with secrets the test holds.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use crate::{Host, HttpRequest, HttpResponse, Level};

/// A [`Host`] whose every answer is decided by the test.
#[derive(Default)]
pub struct FakeHost {
    /// Milliseconds since the epoch returned by `now_ms`.
    pub now_ms: i64,
    /// Settings by name.
    pub settings: HashMap<String, String>,
    /// HMAC keys by secret name.
    pub secrets: HashMap<String, Vec<u8>>,
    responses: RefCell<VecDeque<Result<HttpResponse, String>>>,
    /// Every request sent, in order.
    pub requests: RefCell<Vec<HttpRequest>>,
    /// Every log line, in order.
    pub logs: RefCell<Vec<(Level, String)>>,
}

impl FakeHost {
    /// A host at time `now_ms` with no settings, secrets or responses.
    pub fn at(now_ms: i64) -> Self {
        Self {
            now_ms,
            ..Self::default()
        }
    }

    /// Adds a setting.
    pub fn with_setting(mut self, name: &str, value: &str) -> Self {
        self.settings.insert(name.into(), value.into());
        self
    }

    /// Adds a secret usable through `hmac_sha256`.
    pub fn with_secret(mut self, name: &str, value: &str) -> Self {
        self.secrets.insert(name.into(), value.as_bytes().to_vec());
        self
    }

    /// Queues a response with a JSON (or any text) body.
    pub fn respond(&self, status: u16, headers: &[(&str, &str)], body: &str) {
        self.responses.borrow_mut().push_back(Ok(HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }));
    }

    /// Queues a network failure.
    pub fn fail(&self, reason: &str) {
        self.responses.borrow_mut().push_back(Err(reason.into()));
    }
}

impl Host for FakeHost {
    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_string()));
    }

    fn now_ms(&self) -> i64 {
        self.now_ms
    }

    fn setting(&self, name: &str) -> Option<String> {
        self.settings.get(name).cloned()
    }

    fn hmac_sha256(&self, secret: &str, data: &[u8]) -> Result<Vec<u8>, String> {
        let key = self
            .secrets
            .get(secret)
            .ok_or_else(|| format!("unknown secret `{secret}`"))?;
        Ok(hmac_sha256(key, data).to_vec())
    }

    fn send(&self, request: HttpRequest) -> Result<HttpResponse, String> {
        self.requests.borrow_mut().push(request.clone());
        self.responses.borrow_mut().pop_front().unwrap_or_else(|| {
            Err(format!(
                "FakeHost: no response queued for {} {}",
                request.method, request.url
            ))
        })
    }
}

/// HMAC-SHA256 with a key the test holds (in a component, signing is the host's job).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_matches_published_vectors() {
        // RFC 4231 test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // The Stripe fact sheet's known answer.
        assert_eq!(
            hex(&hmac_sha256(
                b"whsec_test_secret",
                br#"1700000000.{"id":"evt_test_webhook","object":"event"}"#
            )),
            "d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990"
        );
    }
}
