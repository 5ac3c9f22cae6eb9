//! The simulator's state: tickets, their comments, end users, custom ticket fields, the
//! idempotency records of ticket creation, and the rate-limit window.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// One comment on a ticket (Ticket Comments: `body`, `public`).
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub body: String,
    pub public: bool,
}

/// A ticket (Tickets > JSON format: the fields the simulator keeps).
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub id: u64,
    pub external_id: Option<String>,
    pub subject: Option<String>,
    pub status: String,
    pub priority: Option<String>,
    pub tags: Vec<String>,
    pub requester_id: Option<u64>,
    pub custom_fields: BTreeMap<u64, Value>,
    pub comments: Vec<Comment>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What the simulator counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZendeskStats {
    pub requests: u64,
    pub auth_failures: u64,
    pub faults_injected: u64,
    pub rate_limited: u64,
    pub tickets_created: u64,
    pub tickets_updated: u64,
    pub idempotency_hits: u64,
    /// Writes answered with success although nothing changed (the silent-drop fault).
    pub silently_dropped: u64,
}

/// A ticket creation remembered under its `Idempotency-Key`.
#[derive(Debug, Clone)]
pub struct IdempotentCreate {
    pub body_hash: [u8; 32],
    pub response: Value,
    pub at: i64,
}

/// An error as the Ticketing API answers it (Response format > 400 range: `error` and
/// `description`, `details` for record validation).
#[derive(Debug, Clone, PartialEq)]
pub struct ZdError {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<u64>,
}

impl ZdError {
    pub fn new(status: u16, error: &str, description: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({"error": error, "description": description.into()}),
            retry_after: None,
        }
    }

    /// 422 RecordInvalid naming the field (Response format > 422 Unprocessable Entity).
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        Self {
            status: 422,
            body: json!({
                "error": "RecordInvalid",
                "description": "Record validation errors",
                "details": { field: [{ "description": description.into(), "error": "InvalidValue" }] },
            }),
            retry_after: None,
        }
    }

    pub fn not_found() -> Self {
        Self::new(404, "RecordNotFound", "Not found")
    }
}

/// Ticket statuses (Tickets > JSON format: `status`). `closed` is reached only from `solved`.
pub const STATUSES: &[&str] = &["new", "open", "pending", "hold", "solved", "closed"];
/// Ticket priorities (Tickets > JSON format: `priority`).
pub const PRIORITIES: &[&str] = &["urgent", "high", "normal", "low"];
/// Ticketing > Introduction > Idempotency: keys expire after two hours.
pub const IDEMPOTENCY_TTL_SECS: i64 = 2 * 60 * 60;

#[derive(Debug, Default)]
pub struct Store {
    pub tickets: BTreeMap<u64, Ticket>,
    pub users: BTreeMap<u64, String>,
    pub fields: BTreeMap<u64, (String, String)>,
    pub idempotency: HashMap<String, IdempotentCreate>,
    pub stats: ZendeskStats,
    next_id: u64,
    /// The current rate-limit minute and the requests made in it.
    pub window: (i64, u32),
}

use crate::cleverbridge::rfc3339;

impl Store {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn add_field(&mut self, title: &str, kind: &str) -> u64 {
        let id = 360_000_000 + self.id();
        self.fields
            .insert(id, (title.to_string(), kind.to_string()));
        id
    }

    /// Counts one request against the minute; `Err(seconds until the next minute)` past the
    /// limit (Rate limits: "If the rate limit is exceeded, the API responds with a 429 Too
    /// Many Requests status code" and a `Retry-After` header in seconds).
    pub fn take_rate(&mut self, now: i64, limit: u32) -> Result<u32, u64> {
        let minute = now.div_euclid(60);
        if self.window.0 != minute {
            self.window = (minute, 0);
        }
        if self.window.1 >= limit {
            return Err((60 - now.rem_euclid(60)).max(1) as u64);
        }
        self.window.1 += 1;
        Ok(limit - self.window.1)
    }

    /// The ticket as the API renders it (Tickets > JSON format). Every custom field of the
    /// account is listed, null where the ticket has no value.
    pub fn render(&self, t: &Ticket, base: &str) -> Value {
        let custom: Vec<Value> = self
            .fields
            .keys()
            .map(|id| json!({"id": id, "value": t.custom_fields.get(id).cloned().unwrap_or(Value::Null)}))
            .collect();
        json!({
            "id": t.id,
            "url": format!("{base}/api/v2/tickets/{}.json", t.id),
            "external_id": t.external_id,
            "subject": t.subject,
            "raw_subject": t.subject,
            "description": t.comments.first().map(|c| c.body.clone()),
            "status": t.status,
            "priority": t.priority,
            "type": null,
            "tags": t.tags,
            "requester_id": t.requester_id,
            "submitter_id": t.requester_id,
            "custom_fields": custom,
            "fields": custom,
            "created_at": rfc3339(t.created_at),
            "updated_at": rfc3339(t.updated_at),
        })
    }

    /// Tags as Zendesk keeps them: lower case, a tag with spaces split in several (Tags:
    /// "tags can't contain spaces"; the strictest reading splits them), no duplicates.
    fn tags(v: &Value) -> Result<Vec<String>, ZdError> {
        let Some(items) = v.as_array() else {
            return Err(ZdError::invalid("tags", "Tags must be an array of strings"));
        };
        let mut out: Vec<String> = Vec::new();
        for item in items {
            let Some(s) = item.as_str() else {
                return Err(ZdError::invalid("tags", "Tags must be an array of strings"));
            };
            for tag in s.split_whitespace() {
                let tag = tag.to_lowercase();
                if !out.contains(&tag) {
                    out.push(tag);
                }
            }
        }
        Ok(out)
    }

    fn custom_fields(&self, v: &Value) -> Result<BTreeMap<u64, Value>, ZdError> {
        let Some(items) = v.as_array() else {
            return Err(ZdError::invalid(
                "custom_fields",
                "custom_fields must be an array",
            ));
        };
        let mut out = BTreeMap::new();
        for item in items {
            let Some(id) = item["id"].as_u64() else {
                return Err(ZdError::invalid(
                    "custom_fields",
                    "Each custom field needs an id",
                ));
            };
            // Silent in the docs: the strictest reading refuses a field the account lacks.
            if !self.fields.contains_key(&id) {
                return Err(ZdError::invalid(
                    "custom_fields",
                    format!("Ticket field {id} does not exist"),
                ));
            }
            out.insert(id, item.get("value").cloned().unwrap_or(Value::Null));
        }
        Ok(out)
    }

    fn requester(&mut self, v: &Value) -> Result<u64, ZdError> {
        // Tickets > Create Ticket > Creating a ticket with a new requester: `requester` with
        // `email` (and `name`); an existing user with that address is reused.
        let Some(email) = v["email"].as_str().filter(|e| e.contains('@')) else {
            return Err(ZdError::invalid("requester", "Requester: Email is invalid"));
        };
        if let Some((id, _)) = self
            .users
            .iter()
            .find(|(_, e)| e.eq_ignore_ascii_case(email))
        {
            return Ok(*id);
        }
        let id = self.id();
        self.users.insert(id, email.to_string());
        Ok(id)
    }

    fn check_enum(v: &Value, field: &str, allowed: &[&str]) -> Result<Option<String>, ZdError> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) if allowed.contains(&s.as_str()) => Ok(Some(s.clone())),
            _ => Err(ZdError::invalid(
                field,
                format!("{field}: is not one of {}", allowed.join(", ")),
            )),
        }
    }

    fn comment(v: &Value) -> Result<Option<Comment>, ZdError> {
        if v.is_null() {
            return Ok(None);
        }
        let body = v["body"]
            .as_str()
            .or_else(|| v["html_body"].as_str())
            .filter(|b| !b.trim().is_empty());
        let Some(body) = body else {
            return Err(ZdError::invalid("comment", "Comment: body can't be blank"));
        };
        Ok(Some(Comment {
            body: body.to_string(),
            // Ticket Comments: `public` defaults to true.
            public: v["public"].as_bool().unwrap_or(true),
        }))
    }

    /// Tickets > Create Ticket. The `comment` is required (it becomes the description); the
    /// strictest reading of "status" refuses `closed` on a new ticket.
    pub fn create(&mut self, ticket: &Value, now: i64) -> Result<Ticket, ZdError> {
        if !ticket.is_object() {
            return Err(ZdError::new(
                400,
                "InvalidEndpoint",
                "The body needs a `ticket` object",
            ));
        }
        let Some(comment) = Self::comment(&ticket["comment"])? else {
            return Err(ZdError::invalid(
                "description",
                "Description: cannot be blank",
            ));
        };
        let status = Self::check_enum(&ticket["status"], "status", &STATUSES[..5])?
            .unwrap_or_else(|| "new".into());
        let priority = Self::check_enum(&ticket["priority"], "priority", PRIORITIES)?;
        let tags = match ticket.get("tags") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => Self::tags(v)?,
        };
        let custom_fields = match ticket.get("custom_fields") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(v) => self.custom_fields(v)?,
        };
        let requester_id = match ticket.get("requester") {
            None | Some(Value::Null) => None,
            Some(v) => Some(self.requester(v)?),
        };
        let external_id = match &ticket["external_id"] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            _ => {
                return Err(ZdError::invalid(
                    "external_id",
                    "external_id must be a string",
                ));
            }
        };
        let id = self.id();
        let t = Ticket {
            id,
            external_id,
            subject: ticket["subject"].as_str().map(str::to_owned),
            status,
            priority,
            tags,
            requester_id,
            custom_fields,
            comments: vec![comment],
            created_at: now,
            updated_at: now,
        };
        self.stats.tickets_created += 1;
        self.tickets.insert(id, t.clone());
        Ok(t)
    }

    /// Tickets > Update Ticket: the fields given change; a `comment` is added; a closed
    /// ticket cannot be updated ("Status: closed prevents ticket update").
    pub fn update(
        &mut self,
        id: u64,
        ticket: &Value,
        now: i64,
        dropped: bool,
    ) -> Result<Ticket, ZdError> {
        if !ticket.is_object() {
            return Err(ZdError::new(
                400,
                "InvalidEndpoint",
                "The body needs a `ticket` object",
            ));
        }
        let Some(current) = self.tickets.get(&id).cloned() else {
            return Err(ZdError::not_found());
        };
        if current.status == "closed" {
            return Err(ZdError::invalid(
                "status",
                "Status: closed prevents ticket update",
            ));
        }
        let mut t = current.clone();
        if let Some(s) = Self::check_enum(&ticket["status"], "status", STATUSES)? {
            t.status = s;
        }
        if let Some(p) = Self::check_enum(&ticket["priority"], "priority", PRIORITIES)? {
            t.priority = Some(p);
        }
        if let Some(v) = ticket.get("tags").filter(|v| !v.is_null()) {
            t.tags = Self::tags(v)?;
        }
        if let Some(v) = ticket.get("custom_fields").filter(|v| !v.is_null()) {
            t.custom_fields.extend(self.custom_fields(v)?);
        }
        if let Some(s) = ticket["subject"].as_str() {
            t.subject = Some(s.to_string());
        }
        if let Some(c) = Self::comment(&ticket["comment"])? {
            t.comments.push(c);
        }
        t.updated_at = now;
        if dropped {
            self.stats.silently_dropped += 1;
            return Ok(current);
        }
        self.stats.tickets_updated += 1;
        self.tickets.insert(id, t.clone());
        Ok(t)
    }

    /// SHA-256 of a request body, to tell a retry from a different request under one key.
    pub fn hash(body: &[u8]) -> [u8; 32] {
        Sha256::digest(body).into()
    }

    /// Tickets in id order after `after` (cursor pagination), at most `size`.
    pub fn page(&self, after: u64, size: usize) -> (Vec<&Ticket>, bool) {
        let mut it = self.tickets.range(after + 1..).map(|(_, t)| t);
        let page: Vec<&Ticket> = it.by_ref().take(size).collect();
        let more = it.next().is_some();
        (page, more)
    }

    pub fn with_external_id(&self, external_id: &str) -> Vec<&Ticket> {
        self.tickets
            .values()
            .filter(|t| t.external_id.as_deref() == Some(external_id))
            .collect()
    }
}

/// An object of fields, for JSON answers.
pub fn object(pairs: Vec<(&str, Value)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<Map<_, _>>(),
    )
}
