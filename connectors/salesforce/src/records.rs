//! The sink and the reads: upsert by external id, fetch by external id, list and poll through
//! SOQL (fact sheet §2, §6), each record mapped back to its canonical document.

use std::collections::HashMap;

use junction_connector_kit::form::pct;
use junction_connector_kit::time::rfc3339;
use junction_connector_kit::{
    Change, ChangePage, DocumentPage, Error, HttpRequest, KeyedDocument, Level, Operation, Outcome,
    Write,
};
use serde_json::Value;

use crate::api::{Api, classify, several, soql_text};
use crate::config::Kind;
use crate::mapping;

/// Most records one `poll` or `list` returns (one SOQL batch at most).
pub const MAX_POLL: u32 = 2000;

/// A Salesforce record Id: 15 or 18 letters and digits.
fn is_record_id(text: &str) -> bool {
    matches!(text.len(), 15 | 18) && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Api<'_> {
    fn sobject_url(&self, kind: Kind, key: &str) -> String {
        format!(
            "{}/sobjects/{}/{}/{}",
            self.config.root(),
            self.config.object(kind),
            self.config.ext(kind),
            pct(key)
        )
    }

    fn several(&self, kind: Kind, key: &str, body: &Value) -> Error {
        several(
            body,
            Some((self.config.object(kind), self.config.ext(kind), key)),
        )
    }

    /// `PATCH /sobjects/{Object}/{ExtIdField}/{key}`: 201 created, 200 (API >= 46.0) or 204
    /// updated. Repeating it lands the same values on the same record, which is how the
    /// write's idempotency key is honoured (Salesforce REST takes no Idempotency-Key).
    pub fn upsert(&self, kind: Kind, write: &Write) -> Result<Outcome, Error> {
        let body = mapping::body(&self.config, kind, write)?;
        let request = HttpRequest::new("PATCH", self.sobject_url(kind, &write.key))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(Value::Object(body).to_string());
        let response = self.send(request)?;
        match response.status {
            200 | 201 => {
                let answer = response.json();
                let id = answer["id"].as_str().unwrap_or(&write.key).to_owned();
                Ok(Outcome::Applied(id))
            }
            204 => Ok(Outcome::Applied(write.key.clone())),
            300 => Err(self.several(kind, &write.key, &response.json())),
            _ => Err(classify(&response)),
        }
    }

    /// `GET /sobjects/{Object}/{ExtIdField}/{key}?fields=..`: the record, `None` on 404.
    pub fn fetch(&self, kind: Kind, key: &str) -> Result<Option<String>, Error> {
        let fields = mapping::select(&self.config, kind).join(",");
        let url = format!("{}?fields={}", self.sobject_url(kind, key), pct(&fields));
        let response = self.send(HttpRequest::new("GET", url))?;
        match response.status {
            200 => {
                let record = response.json();
                let accounts = self.account_keys(kind, std::slice::from_ref(&record))?;
                self.document(kind, &record, key, &accounts).map(Some)
            }
            404 => Ok(None),
            300 => Err(self.several(kind, key, &response.json())),
            _ => Err(classify(&response)),
        }
    }

    /// A record's canonical document under `key`.
    fn document(
        &self,
        kind: Kind,
        record: &Value,
        key: &str,
        accounts: &HashMap<String, String>,
    ) -> Result<String, Error> {
        match kind {
            Kind::Customer => mapping::customer_from(record, key),
            Kind::Subscription => {
                let account = record[&self.config.subscription_account]
                    .as_str()
                    .unwrap_or_default();
                let customer = accounts
                    .get(account)
                    .cloned()
                    .unwrap_or_else(|| account.to_owned());
                if customer.is_empty() {
                    return Err(Error::rejected(format!(
                        "{} has no {}",
                        record["Id"].as_str().unwrap_or(key),
                        self.config.subscription_account
                    )));
                }
                mapping::subscription_from(record, key, &customer)
            }
        }
    }

    /// The external ids of the accounts subscription records name, in one query (the
    /// simulator, like SOQL on a lookup's id, answers by Salesforce id).
    fn account_keys(
        &self,
        kind: Kind,
        records: &[Value],
    ) -> Result<HashMap<String, String>, Error> {
        if kind != Kind::Subscription {
            return Ok(HashMap::new());
        }
        let mut ids: Vec<&str> = records
            .iter()
            .filter_map(|r| r[&self.config.subscription_account].as_str())
            .filter(|id| !id.is_empty())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let list: Vec<String> = ids.iter().map(|id| soql_text(id)).collect();
        let soql = format!(
            "SELECT Id, {ext} FROM {object} WHERE Id IN ({})",
            list.join(", "),
            ext = self.config.account_ext,
            object = self.config.account_object,
        );
        let mut keys = HashMap::new();
        let mut page = self.query(&soql, false, 2000)?;
        loop {
            for r in page["records"].as_array().into_iter().flatten() {
                if let (Some(id), Some(ext)) = (
                    r["Id"].as_str(),
                    r[&self.config.account_ext]
                        .as_str()
                        .filter(|e| !e.is_empty()),
                ) {
                    keys.insert(id.to_owned(), ext.to_owned());
                }
            }
            match page["nextRecordsUrl"].as_str() {
                Some(next) if page["done"] != Value::Bool(true) => page = self.more(next)?,
                _ => break,
            }
        }
        Ok(keys)
    }

    /// At most `limit` records with an external id, ordered by Id, after the cursor: the last
    /// Id of the page before (keyset paging, so a page never holds more than `limit`, which a
    /// SOQL batch of at least 200 would, and no query locator expires mid-listing).
    pub fn list(
        &self,
        kind: Kind,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<DocumentPage, Error> {
        let limit = limit.clamp(1, MAX_POLL) as usize;
        let ext = self.config.ext(kind).to_owned();
        let mut conditions = vec![format!("{ext} != null")];
        if let Some(after) = cursor.as_deref().filter(|c| !c.is_empty()) {
            if !is_record_id(after) {
                return Err(Error::rejected(format!(
                    "`{after}` is not a list cursor of this connector (a Salesforce record Id)"
                )));
            }
            conditions.push(format!("Id > {}", soql_text(after)));
        }
        let soql = format!(
            "SELECT {} FROM {} WHERE {} ORDER BY Id LIMIT {}",
            mapping::select(&self.config, kind).join(", "),
            self.config.object(kind),
            conditions.join(" AND "),
            limit + 1
        );
        let mut records: Vec<Value> = Vec::new();
        let mut page = self.query(&soql, false, limit as u32 + 1)?;
        loop {
            records.extend(page["records"].as_array().cloned().unwrap_or_default());
            match page["nextRecordsUrl"].as_str() {
                Some(next) if page["done"] != Value::Bool(true) && records.len() <= limit => {
                    page = self.more(next)?;
                }
                _ => break,
            }
        }
        let has_more = records.len() > limit;
        records.truncate(limit);
        let next_cursor = if has_more {
            records
                .last()
                .and_then(|r| r["Id"].as_str())
                .map(str::to_owned)
        } else {
            None
        };
        let accounts = self.account_keys(kind, &records)?;
        let mut items = Vec::new();
        for record in &records {
            let Some(key) = record[&ext].as_str().filter(|k| !k.is_empty()) else {
                continue;
            };
            match self.document(kind, record, key, &accounts) {
                Ok(document) => items.push(KeyedDocument {
                    key: key.to_owned(),
                    document,
                }),
                Err(e) => self.skip(record, &e),
            }
        }
        Ok(DocumentPage { items, next_cursor })
    }

    fn skip(&self, record: &Value, e: &Error) {
        self.host.log(
            Level::Warn,
            &format!(
                "skipping {} {}: {e}",
                record["attributes"]["type"].as_str().unwrap_or("record"),
                record["Id"].as_str().unwrap_or("?")
            ),
        );
    }

    /// Records changed after `cursor`, oldest first: `SystemModstamp` then `Id`, so records
    /// sharing one second are neither missed nor repeated. `queryAll` also returns deleted
    /// records. The newest `poll-lag-seconds` are left for the next poll: a second still
    /// being written could otherwise gain a record after the cursor passed it.
    pub fn poll(
        &self,
        kind: Kind,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<ChangePage, Error> {
        let limit = limit.clamp(1, MAX_POLL) as usize;
        let after = cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(parse_cursor)
            .transpose()?;
        let mut conditions = Vec::new();
        if let Some((ms, id)) = &after {
            let at = soql_datetime(*ms);
            conditions.push(format!(
                "(SystemModstamp > {at} OR (SystemModstamp = {at} AND Id > {}))",
                soql_text(id)
            ));
        }
        if self.config.poll_lag_secs > 0 {
            let settled = (self.host.now_ms() - self.config.poll_lag_secs * 1000).div_euclid(1000);
            conditions.push(format!(
                "SystemModstamp < {}",
                soql_datetime(settled * 1000)
            ));
        }
        let soql = format!(
            "SELECT {} FROM {}{} ORDER BY SystemModstamp, Id LIMIT {}",
            mapping::select(&self.config, kind).join(", "),
            self.config.object(kind),
            if conditions.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", conditions.join(" AND "))
            },
            limit + 1
        );
        let mut records: Vec<Value> = Vec::new();
        let mut page = self.query(&soql, true, limit as u32 + 1)?;
        loop {
            records.extend(page["records"].as_array().cloned().unwrap_or_default());
            match page["nextRecordsUrl"].as_str() {
                Some(next) if page["done"] != Value::Bool(true) && records.len() <= limit => {
                    page = self.more(next)?;
                }
                _ => break,
            }
        }
        let has_more = records.len() > limit;
        records.truncate(limit);
        let accounts = self.account_keys(kind, &records)?;
        let ext = self.config.ext(kind).to_owned();
        let mut changes = Vec::new();
        let mut next_cursor = cursor;
        for record in &records {
            let (Some(id), Some(stamp)) = (
                record["Id"].as_str(),
                mapping::datetime_ms(&record["SystemModstamp"]),
            ) else {
                self.skip(record, &Error::rejected("no Id or SystemModstamp"));
                continue;
            };
            // The cursor passes every record returned, mapped or not.
            next_cursor = Some(format!("{stamp}|{id}"));
            let key = record[&ext]
                .as_str()
                .filter(|k| !k.is_empty())
                .unwrap_or(id);
            let document = match self.document(kind, record, key, &accounts) {
                Ok(d) => d,
                Err(e) => {
                    self.skip(record, &e);
                    continue;
                }
            };
            let operation = if record["IsDeleted"] == Value::Bool(true) {
                Operation::Delete
            } else if mapping::datetime_ms(&record["CreatedDate"]) == Some(stamp) {
                Operation::Create
            } else {
                Operation::Update
            };
            changes.push(Change {
                source_event_id: format!("{id}@{stamp}"),
                object: kind.canonical().to_owned(),
                key: key.to_owned(),
                operation,
                before: None,
                after: Some(document),
                occurred_at: stamp,
                effective_at: None,
                source_version: u64::try_from(stamp).unwrap_or(0),
                metadata: vec![
                    ("salesforce_id".to_owned(), id.to_owned()),
                    ("sobject".to_owned(), self.config.object(kind).to_owned()),
                ],
            });
        }
        Ok(ChangePage {
            changes,
            next_cursor,
            has_more,
        })
    }
}

/// `<SystemModstamp ms>|<Id>`.
fn parse_cursor(cursor: &str) -> Result<(i64, String), Error> {
    cursor
        .split_once('|')
        .and_then(|(ms, id)| {
            let ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric());
            Some((ms.parse::<i64>().ok()?, id.to_owned())).filter(|_| ok)
        })
        .ok_or_else(|| Error::rejected(format!("`{cursor}` is not a salesforce poll cursor")))
}

/// A SOQL dateTime literal (UTC), with milliseconds when there are any.
fn soql_datetime(ms: i64) -> String {
    let secs = rfc3339(ms.div_euclid(1000));
    match ms.rem_euclid(1000) {
        0 => secs,
        frac => format!("{}.{frac:03}Z", secs.trim_end_matches('Z')),
    }
}
