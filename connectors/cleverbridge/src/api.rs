//! Calls to Cleverbridge's Subscription API through the host: RPC-style operations under
//! `/subscription/`, reads as `GET` with a query, writes as `POST` with a JSON body (fact
//! sheet §1-2). The host adds `Authorization: Basic`; the connector never sees credentials.

use junction_connector_kit::{Error, Host, HttpRequest, form};
use serde_json::Value;

use crate::{errors, settings};

/// Cleverbridge's Subscription API as one pipeline's settings point at it.
pub(crate) struct Api<'h> {
    host: &'h dyn Host,
    base: String,
}

impl<'h> Api<'h> {
    pub(crate) fn new(host: &'h dyn Host) -> Self {
        Self {
            host,
            base: settings::base_url(host),
        }
    }

    /// `getsubscription?subscriptionId=S..&isCurrent=true`: the subscription with only the
    /// live version of each item, or `None` on 404 (unknown id).
    pub(crate) fn subscription(&self, id: &SubscriptionId) -> Result<Option<Value>, Error> {
        let query = form::encode(&[
            ("subscriptionId", id.request()),
            ("isCurrent", "true".into()),
        ]);
        let url = format!("{}/subscription/getsubscription?{query}", self.base);
        match self.send(HttpRequest::new("GET", url)) {
            Ok(body) => body
                .get("Subscription")
                .filter(|s| s.is_object())
                .cloned()
                .map(Some)
                .ok_or_else(|| Error::transient("getsubscription answered without `Subscription`")),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /subscription/<operation>` with a JSON body; the answer's body on `OK`.
    pub(crate) fn post(&self, operation: &str, body: &Value) -> Result<Value, Error> {
        let url = format!("{}/subscription/{operation}", self.base);
        let request = HttpRequest::new("POST", url)
            .header("Content-Type", "application/json")
            .body(body.to_string());
        self.send(request)
    }

    fn send(&self, request: HttpRequest) -> Result<Value, Error> {
        let request = request.header("Accept", "application/json");
        let (method, url) = (request.method.clone(), request.url.clone());
        let response = self
            .host
            .send(request)
            .map_err(|reason| errors::network(&method, &url, &reason))?;
        errors::check(&response)
    }
}

/// A subscription id: the digits of Cleverbridge's numeric `Id`, taken with or without the
/// leading `S` the requests print (fact sheet §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubscriptionId(String);

impl SubscriptionId {
    pub(crate) fn parse(key: &str) -> Option<Self> {
        let digits = key.strip_prefix(['S', 's']).unwrap_or(key);
        (!digits.is_empty() && digits.len() <= 19 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Self(digits.to_owned()))
    }

    /// From a JSON number or string.
    pub(crate) fn of(value: &Value) -> Option<Self> {
        match value {
            Value::Number(n) => n.as_u64().map(|n| Self(n.to_string())),
            Value::String(s) => Self::parse(s),
            _ => None,
        }
    }

    /// The canonical key: the digits.
    pub(crate) fn key(&self) -> &str {
        &self.0
    }

    /// As requests write it: `S12345678`.
    pub(crate) fn request(&self) -> String {
        format!("S{}", self.0)
    }
}
