//! The Zendesk connector of connectors/zendesk (TypeScript), written again in Rust with
//! `junction-connector-kit`: one ticket per invoice, found by its external id, created under
//! the write's `Idempotency-Key`, updated (and solved) by later writes of the same invoice.

use junction_connector_kit::form::pct;
use junction_connector_kit::{
    Connector, DocumentPage, Error, Host, HttpRequest, HttpResponse, KeyedDocument, Level,
    Manifest, Operation, Outcome, SettingSpec, Write, export_connector,
};
use serde_json::{Value, json};

pub struct Zendesk;

fn setting(host: &dyn Host, name: &str) -> Result<String, Error> {
    host.setting(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::Rejected {
            message: format!("the pipeline sets no `{name}` for this connector"),
            field: Some(name.into()),
        })
}

fn invoice_field(host: &dyn Host) -> Result<u64, Error> {
    let raw = setting(host, "invoice-field")?;
    raw.parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| Error::Rejected {
            message: format!("setting invoice-field `{raw}` is not a ticket field id"),
            field: Some("invoice-field".into()),
        })
}

/// 429 rate-limited, 5xx and 408 transient, 401/403 unauthorized, 404 not-found, 409 conflict,
/// other 4xx rejected (the same classes as the TypeScript and Python kits).
fn classify(r: &HttpResponse) -> Error {
    let text = String::from_utf8_lossy(&r.body);
    let text: String = text.chars().take(500).collect();
    match r.status {
        429 => Error::RateLimited(r.retry_after_ms()),
        s if s >= 500 || s == 408 => Error::Transient {
            message: format!("HTTP {s}: {text}"),
            retry_after_ms: r.retry_after_ms(),
        },
        401 | 403 => Error::Unauthorized(format!("HTTP {}: {text}", r.status)),
        404 => Error::NotFound(format!("HTTP 404: {text}")),
        409 => Error::Conflict(format!("HTTP 409: {text}")),
        s => Error::rejected(format!("HTTP {s}: {text}")),
    }
}

fn send(host: &dyn Host, method: &str, path: &str, body: Option<&Value>, key: Option<&str>) -> Result<Value, Error> {
    let base = setting(host, "base-url")?;
    let mut req = HttpRequest::new(method, format!("{}{path}", base.trim_end_matches('/')))
        .header("accept", "application/json");
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_string());
    }
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let r = host
        .send(req)
        .map_err(|e| Error::transient(format!("{method} {path}: {e}")))?;
    if r.header("x-rate-limit-remaining") == Some("0") {
        host.log(Level::Warn, "Zendesk's rate limit is used up for this minute");
    }
    if !r.is_success() {
        return Err(classify(&r));
    }
    if r.body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&r.body)
        .map_err(|_| Error::transient(format!("{method} {path}: HTTP {} with a body that is not JSON", r.status)))
}

fn ticket_status(inv: &Value) -> &'static str {
    match inv["status"].as_str() {
        Some("paid" | "void") => "solved",
        _ => "open",
    }
}

fn priority(host: &dyn Host, inv: &Value) -> String {
    if inv["status"] == "uncollectible" {
        return "urgent".into();
    }
    host.setting("priority").unwrap_or_else(|| "high".into())
}

fn tags(inv: &Value) -> Value {
    json!(["junction", "billing", format!("invoice_{}", inv["status"].as_str().unwrap_or_default())])
}

fn money(minor: Option<i64>, currency: &str) -> String {
    match minor {
        None => "an unknown amount".into(),
        Some(m) => format!("{:.2} {}", m as f64 / 100.0, currency.to_uppercase()),
    }
}

fn comment(inv: &Value, before: Option<&Value>) -> String {
    let id = inv["id"].as_str().unwrap_or_default();
    let cur = inv["currency"].as_str().unwrap_or_default();
    let total = inv["total"].as_i64();
    let due = money(inv["amount_due"].as_i64().or(total), cur);
    match (inv["status"].as_str(), before) {
        (Some("paid"), _) => format!(
            "Invoice {id} is paid ({}). Solved by Junction.",
            money(inv["amount_paid"].as_i64().or(total), cur)
        ),
        (Some("void"), _) => format!("Invoice {id} was voided. Solved by Junction."),
        (_, None) => format!(
            "The payment of invoice {id} (customer {}) failed: {due} due.",
            inv["customer_id"].as_str().unwrap_or_default()
        ),
        (status, Some(_)) => format!(
            "The payment of invoice {id} failed again: {due} due (status {}).",
            status.unwrap_or_default()
        ),
    }
}

fn stored(ticket: &Value, field: u64) -> Option<Value> {
    ticket["custom_fields"]
        .as_array()?
        .iter()
        .find(|f| f["id"].as_u64() == Some(field))
        .and_then(|f| f["value"].as_str())
        .filter(|v| !v.is_empty())
        .and_then(|v| serde_json::from_str(v).ok())
}

fn find(host: &dyn Host, key: &str) -> Result<Option<Value>, Error> {
    let r = send(host, "GET", &format!("/api/v2/tickets.json?external_id={}", pct(key)), None, None)?;
    let mut tickets = r["tickets"].as_array().cloned().unwrap_or_default();
    tickets.sort_by_key(|t| t["id"].as_u64());
    Ok(tickets.into_iter().next())
}

impl Connector for Zendesk {
    fn describe() -> Manifest {
        let s = |name: &str, description: &str, required: bool| SettingSpec {
            name: name.into(),
            description: description.into(),
            required,
            sensitive: false,
        };
        Manifest {
            name: "zendesk".into(),
            version: "0.1.0".into(),
            description: "Zendesk Support tickets: one ticket per invoice that needs support, by external id".into(),
            sink_objects: vec!["invoice".into()],
            settings: vec![
                s("base-url", "https://SUBDOMAIN.zendesk.com", true),
                s("invoice-field", "id of a text custom ticket field where Junction keeps the invoice it wrote (read-back)", true),
                s("priority", "priority of new tickets (default high)", false),
            ],
            ..Manifest::default()
        }
    }

    fn apply(host: &dyn Host, w: Write) -> Result<Outcome, Error> {
        if w.object != "invoice" {
            return Err(Error::Unsupported(format!("zendesk writes no {}", w.object)));
        }
        let field = invoice_field(host)?;
        let inv: Value = serde_json::from_str(&w.document).map_err(|_| Error::rejected("the invoice document is not JSON"))?;
        if inv["id"].as_str() != Some(w.key.as_str()) {
            return Err(Error::Rejected {
                message: format!("the invoice's id {} is not the write's key {}", inv["id"], w.key),
                field: Some("id".into()),
            });
        }
        let fields = json!([{"id": field, "value": inv.to_string()}]);
        let Some(existing) = find(host, &w.key)? else {
            if w.operation == Operation::Delete || ticket_status(&inv) == "solved" {
                return Ok(Outcome::Applied("none".into()));
            }
            let mut ticket = json!({
                "subject": format!("Payment failed: invoice {}", w.key),
                "comment": {"body": comment(&inv, None), "public": false},
                "external_id": w.key,
                "status": ticket_status(&inv),
                "priority": priority(host, &inv),
                "tags": tags(&inv),
                "custom_fields": fields,
            });
            let email = inv["customer_email"]
                .as_str()
                .or(inv["metadata"]["customer_email"].as_str());
            if let Some(email) = email.filter(|e| !e.is_empty()) {
                ticket["requester"] = json!({"email": email, "name": email});
            }
            let r = send(host, "POST", "/api/v2/tickets.json", Some(&json!({"ticket": ticket})), Some(&w.idempotency_key))?;
            let id = r["ticket"]["id"]
                .as_u64()
                .ok_or_else(|| Error::transient("Zendesk created a ticket but its answer names none"))?;
            return Ok(Outcome::Applied(id.to_string()));
        };
        let id = existing["id"].as_u64().unwrap_or_default();
        let before = stored(&existing, field);
        if before.as_ref() == Some(&inv) && existing["status"] == ticket_status(&inv) {
            return Ok(Outcome::Applied(id.to_string()));
        }
        if existing["status"] == "closed" {
            return Err(Error::Rejected {
                message: format!("ticket {id} is closed and can no longer change"),
                field: Some("status".into()),
            });
        }
        let body = json!({"ticket": {
            "status": ticket_status(&inv), "priority": priority(host, &inv), "tags": tags(&inv),
            "custom_fields": fields, "comment": {"body": comment(&inv, before.as_ref()), "public": false},
        }});
        send(host, "PUT", &format!("/api/v2/tickets/{id}.json"), Some(&body), None)?;
        Ok(Outcome::Applied(id.to_string()))
    }

    fn fetch(host: &dyn Host, object: &str, key: &str) -> Result<Option<String>, Error> {
        if object != "invoice" {
            return Err(Error::Unsupported(format!("zendesk writes no {object}")));
        }
        let field = invoice_field(host)?;
        Ok(find(host, key)?.and_then(|t| stored(&t, field)).map(|v| v.to_string()))
    }

    fn list(host: &dyn Host, object: &str, cursor: Option<String>, limit: u32) -> Result<DocumentPage, Error> {
        if object != "invoice" {
            return Err(Error::Unsupported(format!("zendesk writes no {object}")));
        }
        let field = invoice_field(host)?;
        let mut path = format!("/api/v2/tickets.json?page%5Bsize%5D={}", limit.clamp(1, 100));
        if let Some(c) = &cursor {
            path.push_str(&format!("&page%5Bafter%5D={}", pct(c)));
        }
        let r = send(host, "GET", &path, None, None)?;
        let items = r["tickets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                Some(KeyedDocument {
                    key: t["external_id"].as_str()?.to_string(),
                    document: stored(t, field)?.to_string(),
                })
            })
            .collect();
        let next_cursor = match (r["meta"]["has_more"].as_bool(), r["meta"]["after_cursor"].as_str()) {
            (Some(true), Some(c)) => Some(c.to_string()),
            _ => None,
        };
        Ok(DocumentPage { items, next_cursor })
    }
}

export_connector!(Zendesk);
