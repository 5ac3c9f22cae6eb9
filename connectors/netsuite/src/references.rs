//! References read back the way NetSuite returns them.
//!
//! "Format of Selects and References": a reference in a record is `{"id", "refName", "links"}`:
//! the internal id, a display name and a link to the referenced record, never its external id.
//! Junction addresses records by external id (the source system's id), so a read-back follows
//! the `self` link of each reference it maps and reads the referenced record (its external id,
//! or for a price plan its tiers too). Links are followed only within the account's own REST
//! API, and each record once per call.

use std::cell::RefCell;
use std::collections::HashMap;

use junction_connector_kit::{Error, Host, HttpRequest};
use serde_json::Value;

use crate::api::{self, Config};
use crate::errors;

/// Reads referenced records, once each per call.
pub struct Resolver<'a> {
    host: &'a dyn Host,
    config: &'a Config,
    seen: RefCell<HashMap<String, Option<Value>>>,
}

impl<'a> Resolver<'a> {
    pub fn new(host: &'a dyn Host, config: &'a Config) -> Self {
        Self {
            host,
            config,
            seen: RefCell::new(HashMap::new()),
        }
    }

    /// The external id of the record a reference names (from the reference itself when it
    /// carries one, else from the record its link points at), or `None` if it has none.
    pub fn external_id(&self, reference: &Value) -> Result<Option<String>, Error> {
        if let Some(eid) = reference.get("externalId").and_then(Value::as_str) {
            return Ok(Some(eid.to_string()));
        }
        Ok(self
            .record(reference, "?fields=externalId")?
            .and_then(|r| r["externalId"].as_str().map(str::to_string)))
    }

    /// The whole record a reference links to (with its sublists), or `None` if it is gone.
    pub fn expanded(&self, reference: &Value) -> Result<Option<Value>, Error> {
        self.record(reference, "?expandSubResources=true")
    }

    fn record(&self, reference: &Value, query: &str) -> Result<Option<Value>, Error> {
        let Some(href) = self_link(reference) else {
            return Ok(None);
        };
        if !href.starts_with(&format!("{}/services/rest/record/", self.config.base)) {
            return Err(Error::transient(format!(
                "a NetSuite reference links outside the account: {href}"
            )));
        }
        let url = format!("{href}{query}");
        if let Some(found) = self.seen.borrow().get(&url) {
            return Ok(found.clone());
        }
        let response = api::send(self.host, HttpRequest::new("GET", url.clone()))?;
        let found = match response.status {
            404 => None,
            _ if response.is_success() => Some(response.json()),
            _ => return Err(errors::classify(&response)),
        };
        self.seen.borrow_mut().insert(url, found.clone());
        Ok(found)
    }
}

fn self_link(reference: &Value) -> Option<String> {
    reference
        .get("links")?
        .as_array()?
        .iter()
        .find(|l| l["rel"].as_str() == Some("self"))?["href"]
        .as_str()
        .map(str::to_string)
}
