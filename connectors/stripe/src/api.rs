//! Calls to Stripe's REST API through the host: URLs, headers, form bodies and JSON answers.
//! The host adds `Authorization`; the connector never sees the API key.

use junction_connector_kit::{Error, Host, HttpRequest, HttpResponse, form};
use serde_json::Value;

use crate::{errors, settings};

/// Form or query parameters, in the order they are sent.
pub(crate) type Params = Vec<(String, String)>;

/// Stripe's API as one pipeline's settings point at it.
pub(crate) struct Api<'h> {
    host: &'h dyn Host,
    base: String,
    version: String,
}

impl<'h> Api<'h> {
    pub(crate) fn new(host: &'h dyn Host) -> Self {
        Self {
            host,
            base: settings::base_url(host),
            version: settings::api_version(host),
        }
    }

    /// `GET path?query`.
    pub(crate) fn get(&self, path: &str, query: &Params) -> Result<Value, Error> {
        let mut url = self.url(path);
        if !query.is_empty() {
            url = format!("{url}?{}", form::encode(query));
        }
        json(self.send(self.request("GET", url))?)
    }

    /// `GET path`, or `None` when Stripe answers 404 `resource_missing`.
    pub(crate) fn get_if_exists(&self, path: &str) -> Result<Option<Value>, Error> {
        unless_missing(self.send(self.request("GET", self.url(path)))?)
    }

    /// `POST path` with a form body under `idempotency_key`.
    pub(crate) fn post(
        &self,
        path: &str,
        params: &Params,
        idempotency_key: &str,
    ) -> Result<Value, Error> {
        let request = self
            .request("POST", self.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Idempotency-Key", idempotency_key)
            .body(form::encode(params));
        json(self.send(request)?)
    }

    /// `DELETE path`, or `None` when the object does not exist.
    pub(crate) fn delete_if_exists(&self, path: &str) -> Result<Option<Value>, Error> {
        unless_missing(self.send(self.request("DELETE", self.url(path)))?)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn request(&self, method: &str, url: String) -> HttpRequest {
        HttpRequest::new(method, url)
            .header("Accept", "application/json")
            .header("Stripe-Version", self.version.as_str())
    }

    fn send(&self, request: HttpRequest) -> Result<HttpResponse, Error> {
        let (method, url) = (request.method.clone(), request.url.clone());
        self.host
            .send(request)
            .map_err(|reason| errors::network(&method, &url, &reason))
    }
}

/// The JSON body of a successful answer, or the classified error.
fn json(response: HttpResponse) -> Result<Value, Error> {
    if !response.is_success() {
        return Err(errors::classify(&response));
    }
    serde_json::from_slice(&response.body).map_err(|e| errors::not_json(&e))
}

fn unless_missing(response: HttpResponse) -> Result<Option<Value>, Error> {
    if errors::is_missing(&response) {
        Ok(None)
    } else {
        json(response).map(Some)
    }
}

/// An id as one URL path segment (ids come from other systems; nothing may escape the path).
pub(crate) fn segment(id: &str) -> String {
    form::pct(id)
}

/// Reads a Stripe list object: its entries and `has_more`.
pub(crate) fn list_data(list: &Value) -> Result<(&[Value], bool), Error> {
    let data = list["data"]
        .as_array()
        .ok_or_else(|| Error::transient("Stripe answered a list without `data`"))?;
    Ok((data, list["has_more"].as_bool().unwrap_or(false)))
}
