//! Calls to Stripe's REST API through the host: URLs, headers, form bodies and JSON answers.
//! The host adds `Authorization`; the connector never sees the API key.

use junction_connector_kit::{Error, Host, HttpRequest, HttpResponse, form};
use serde_json::Value;

use crate::wire::{Obj, Object};
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

    /// `GET path` for an object the connector maps: its JSON body, checked to be JSON but read
    /// only when mapped (`Found::object`), or `None` when Stripe answers 404
    /// `resource_missing`.
    pub(crate) fn get_object_if_exists(&self, path: &str) -> Result<Option<Found>, Error> {
        let response = self.send(self.request("GET", self.url(path)))?;
        if errors::is_missing(&response) {
            return Ok(None);
        }
        if !response.is_success() {
            return Err(errors::classify(&response));
        }
        // Parsed (and validated) as the object is read: the same errors `json` gives.
        serde_json::from_slice::<Obj<Object<'_>>>(&response.body)
            .map_err(|e| errors::not_json(&e))?;
        Ok(Some(Found(response.body)))
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

/// A Stripe object's JSON answer, known to be JSON.
#[derive(Clone)]
pub(crate) struct Found(Vec<u8>);

impl Found {
    /// The object as the mapping reads it (one with every field absent if the answer is JSON
    /// but not an object, as indexing a non-object `Value` read).
    pub(crate) fn object(&self) -> Object<'_> {
        serde_json::from_slice::<Obj<Object<'_>>>(&self.0)
            .ok()
            .and_then(|o| o.0)
            .unwrap_or_default()
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
