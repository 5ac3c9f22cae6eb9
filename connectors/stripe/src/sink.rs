//! The sink side: subscriptions and customers written, read back and listed.

use junction_connector_kit::{
    DocumentPage, Error, Host, KeyedDocument, Level, Operation, Outcome, Write,
};
use serde_json::Value;

use crate::api::{Api, Found, Params, list_data, segment};
use crate::canonical::{self, Document};
use crate::errors::MapError;
use crate::forms::{self, SubscriptionDoc};
use crate::settings;
use crate::wire::{Object, bool_of};

/// One kind of object Stripe can be read as: its collection URL and its mapping.
struct Resource {
    collection: &'static str,
    map: for<'a> fn(&'a Object<'_>) -> Result<Document<'a>, MapError>,
}

fn resource(object: &str) -> Result<Resource, Error> {
    match object {
        "subscription" => Ok(Resource {
            collection: "/v1/subscriptions",
            map: subscription_document,
        }),
        "customer" => Ok(Resource {
            collection: "/v1/customers",
            map: customer_document,
        }),
        _ => Err(Error::Unsupported(format!(
            "Stripe does not read or write `{object}`; use subscription or customer"
        ))),
    }
}

fn subscription_document<'a>(s: &'a Object<'_>) -> Result<Document<'a>, MapError> {
    canonical::subscription(s).map(Document::Subscription)
}

fn customer_document<'a>(c: &'a Object<'_>) -> Result<Document<'a>, MapError> {
    canonical::customer(c).map(Document::Customer)
}

/// Makes the write's document true at Stripe.
///
/// `create` and `snapshot` are upserts: the key is looked up first and the object created
/// when Stripe has none (the outcome then names the new id). `update` posts to the key
/// directly. `delete`, or a document whose status says it ended, cancels a subscription now
/// and deletes a customer; an object already gone or ended counts as done.
pub(crate) fn apply(host: &dyn Host, write: &Write) -> Result<Outcome, Error> {
    let api = Api::new(host);
    let path = format!(
        "{}/{}",
        resource(&write.object)?.collection,
        segment(&write.key)
    );
    let upsert = matches!(write.operation, Operation::Create | Operation::Snapshot);
    if write.object == "customer" {
        return apply_customer(&api, write, &path, upsert);
    }
    if write.operation == Operation::Delete {
        return cancel_subscription(&api, &path, &write.key);
    }
    let doc = SubscriptionDoc::parse(&write.document)?;
    if upsert && api.get_if_exists(&path)?.is_none() {
        if doc.is_ended() {
            return Err(Error::rejected(
                "will not create a subscription that has already ended",
            ));
        }
        return applied(&api.post(
            "/v1/subscriptions",
            &doc.create_form()?,
            &write.idempotency_key,
        )?);
    }
    if doc.is_ended() {
        return cancel_subscription(&api, &path, &write.key);
    }
    let form = doc.update_form(&settings::proration_behavior(host)?)?;
    applied(&api.post(&path, &form, &write.idempotency_key)?)
}

fn apply_customer(
    api: &Api<'_>,
    write: &Write,
    path: &str,
    upsert: bool,
) -> Result<Outcome, Error> {
    let doc = if write.operation == Operation::Delete {
        None
    } else {
        Some(forms::object(&write.document)?)
    };
    let Some(doc) = doc.filter(|d| d.get("deleted") != Some(&Value::Bool(true))) else {
        api.delete_if_exists(path)?;
        return Ok(Outcome::Applied(write.key.clone()));
    };
    if upsert && api.get_if_exists(path)?.is_none_or(|c| is_deleted(&c)) {
        return applied(&api.post(
            "/v1/customers",
            &forms::customer_form(&doc, true)?,
            &write.idempotency_key,
        )?);
    }
    applied(&api.post(
        path,
        &forms::customer_form(&doc, false)?,
        &write.idempotency_key,
    )?)
}

/// `DELETE` cancels now. Stripe refuses to cancel twice, so a refusal is checked against the
/// subscription's state: a retry of a cancel whose answer was lost must not dead-letter.
fn cancel_subscription(api: &Api<'_>, path: &str, key: &str) -> Result<Outcome, Error> {
    match api.delete_if_exists(path) {
        Ok(Some(sub)) => applied(&sub),
        Ok(None) => Ok(Outcome::Applied(key.to_owned())),
        Err(refused @ Error::Rejected { .. }) => match api.get_if_exists(path)? {
            Some(sub)
                if matches!(
                    sub["status"].as_str(),
                    Some("canceled" | "incomplete_expired")
                ) =>
            {
                applied(&sub)
            }
            _ => Err(refused),
        },
        Err(e) => Err(e),
    }
}

fn applied(object: &Value) -> Result<Outcome, Error> {
    let id = object["id"]
        .as_str()
        .ok_or_else(|| Error::transient("Stripe's answer to a write has no `id`"))?;
    Ok(Outcome::Applied(id.to_owned()))
}

pub(crate) fn is_deleted(object: &Value) -> bool {
    object["deleted"].as_bool() == Some(true)
}

/// The Stripe object as Stripe holds it now (`GET /v1/subscriptions/{id}` or
/// `GET /v1/customers/{id}`), or `None` when Stripe answers 404 `resource_missing`. A deleted
/// customer comes back as Stripe's stub `{"id", "object", "deleted": true}`. Used by `fetch`
/// (read-back) and by the source side (the current state of an event's object).
pub(crate) fn retrieve(api: &Api<'_>, object: &str, key: &str) -> Result<Option<Found>, Error> {
    let resource = resource(object)?;
    api.get_object_if_exists(&format!("{}/{}", resource.collection, segment(key)))
}

/// Reads one subscription or customer; `None` when Stripe has none (or deleted it).
pub(crate) fn fetch(host: &dyn Host, object: &str, key: &str) -> Result<Option<String>, Error> {
    let resource = resource(object)?;
    let Some(found) = retrieve(&Api::new(host), object, key)? else {
        return Ok(None);
    };
    let found = found.object();
    if bool_of(&found.deleted) == Some(true) {
        return Ok(None);
    }
    let document = (resource.map)(&found).map_err(|e| e.rejected(&format!("a {object}")))?;
    Ok(Some(document.to_json()))
}

/// Lists subscriptions (every status) or customers, newest first, `limit` (1-100) per page.
pub(crate) fn list(
    host: &dyn Host,
    object: &str,
    cursor: Option<String>,
    limit: u32,
) -> Result<DocumentPage, Error> {
    let resource = resource(object)?;
    let mut query = Params::new();
    if object == "subscription" {
        query.push(("status".into(), "all".into()));
    }
    query.push(("limit".into(), limit.clamp(1, 100).to_string()));
    query.extend(cursor.map(|c| ("starting_after".into(), c)));
    let list = Api::new(host).get(resource.collection, &query)?;
    let (data, has_more) = list_data(&list)?;
    let mut items = Vec::with_capacity(data.len());
    for found in data {
        let typed = Object::of_value(found).unwrap_or_default();
        match (resource.map)(&typed) {
            Ok(doc) => items.push(KeyedDocument {
                key: doc.id().to_owned(),
                document: doc.to_json(),
            }),
            Err(e) => host.log(
                Level::Warn,
                &format!("skipping Stripe {object} {}: {e}", found["id"]),
            ),
        }
    }
    let next_cursor = data
        .last()
        .and_then(|last| last["id"].as_str())
        .filter(|_| has_more)
        .map(str::to_owned);
    Ok(DocumentPage { items, next_cursor })
}
