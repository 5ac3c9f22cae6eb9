//! A careless sink: it declares customers as sink objects and answers every call without
//! asking the vendor. `apply` says `applied` and writes nothing, `fetch` finds nothing, `list`
//! answers the same page for ever and no failure of the vendor ever reaches it. The
//! conformance kit (`junction connector test`) must fail it, naming each broken check.

use junction_connector_kit::{
    Connector, DocumentPage, Error, Host, KeyedDocument, Manifest, Outcome, Write,
};

/// The careless sink.
pub struct CarelessSink;

impl Connector for CarelessSink {
    fn describe() -> Manifest {
        Manifest {
            name: "careless-sink".into(),
            version: "0.0.1".into(),
            description: "says applied, writes nothing (for the conformance kit's tests)".into(),
            sink_objects: vec!["customer".into()],
            ..Manifest::default()
        }
    }

    fn apply(_host: &dyn Host, write: Write) -> Result<Outcome, Error> {
        Ok(Outcome::Applied(write.key))
    }

    fn fetch(_host: &dyn Host, _object: &str, _key: &str) -> Result<Option<String>, Error> {
        Ok(None)
    }

    fn list(
        _host: &dyn Host,
        _object: &str,
        cursor: Option<String>,
        _limit: u32,
    ) -> Result<DocumentPage, Error> {
        let document = r#"{"id": "cus_Same", "email": "same@example.com", "name": "Same", "phone": null,
            "currency": "usd", "address": null, "created_at": null, "deleted": false, "metadata": {}}"#;
        Ok(DocumentPage {
            items: vec![KeyedDocument {
                key: "cus_Same".into(),
                document: document.into(),
            }],
            next_cursor: Some(cursor.unwrap_or_else(|| "again".into())),
        })
    }
}

junction_connector_kit::export_connector!(CarelessSink);
