//! Durable intake with group commit: concurrent webhook requests queue their decoded changes,
//! one committer writes everything waiting in one transaction, and each request is answered
//! only after its changes and dedupe records are on disk.

use junction_connector_kit as kit;
use tokio::sync::{mpsc, oneshot};

use crate::store::{Intake, NewChange, Store};

/// Most changes committed in one transaction.
const MAX_BATCH: usize = 512;

type Reply = oneshot::Sender<Result<Vec<Intake>, String>>;

/// The sending side of the committer.
#[derive(Clone, Debug)]
pub struct IntakeQueue {
    tx: mpsc::Sender<(Vec<NewChange>, Reply)>,
}

impl IntakeQueue {
    /// Starts the committer task on `store`.
    pub fn start(store: Store, on_commit: impl Fn() + Send + 'static) -> Self {
        let (tx, mut rx) = mpsc::channel::<(Vec<NewChange>, Reply)>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut waiting = vec![first];
                let mut total = waiting[0].0.len();
                while total < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(next) => {
                            total += next.0.len();
                            waiting.push(next);
                        }
                        Err(_) => break,
                    }
                }
                let batch: Vec<NewChange> = waiting
                    .iter()
                    .flat_map(|(c, _)| c.iter().cloned())
                    .collect();
                match store.intake(&batch).await {
                    Ok(results) => {
                        let mut results = results.into_iter();
                        for (changes, reply) in waiting {
                            let _ = reply.send(Ok(results.by_ref().take(changes.len()).collect()));
                        }
                        on_commit();
                    }
                    Err(e) => {
                        let message = e.to_string();
                        tracing::error!(error = %message, changes = batch.len(), "intake commit failed; requests answered 503 so senders retry");
                        for (_, reply) in waiting {
                            let _ = reply.send(Err(message.clone()));
                        }
                    }
                }
            }
        });
        Self { tx }
    }

    /// Commits `changes` durably; returns once they are on disk.
    pub async fn submit(&self, changes: Vec<NewChange>) -> Result<Vec<Intake>, String> {
        if changes.is_empty() {
            return Ok(vec![]);
        }
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((changes, reply))
            .await
            .map_err(|_| "the intake committer has stopped".to_string())?;
        answer
            .await
            .map_err(|_| "the intake committer has stopped".to_string())?
    }
}

/// A fresh correlation id for a change.
pub fn correlation_id() -> String {
    format!("c-{}", hex::encode(rand::random::<[u8; 12]>()))
}

/// W3C trace context derived from a correlation id, so vendor-side logs can be matched.
pub fn traceparent(correlation_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let trace = hex::encode(&Sha256::digest(correlation_id.as_bytes())[..16]);
    format!("00-{trace}-{}-01", hex::encode(rand::random::<[u8; 8]>()))
}

/// A decoded change as the store keeps it.
pub fn new_change(pipeline: &str, source: &str, c: kit::Change) -> NewChange {
    let metadata: serde_json::Map<String, serde_json::Value> = c
        .metadata
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    NewChange {
        pipeline: pipeline.to_string(),
        source: source.to_string(),
        source_event_id: c.source_event_id,
        object: c.object,
        key: c.key,
        operation: operation_in(c.operation),
        before: c.before,
        after: c.after,
        occurred_at_ms: c.occurred_at,
        effective_at_ms: c.effective_at,
        source_version: i64::try_from(c.source_version).unwrap_or(i64::MAX),
        metadata: serde_json::Value::Object(metadata).to_string(),
        correlation_id: correlation_id(),
    }
}

/// The contract's operation as the store records it.
pub fn operation_in(op: kit::Operation) -> crate::store::Operation {
    use crate::store::Operation;
    match op {
        kit::Operation::Create => Operation::Create,
        kit::Operation::Update => Operation::Update,
        kit::Operation::Delete => Operation::Delete,
        kit::Operation::Snapshot => Operation::Snapshot,
    }
}

/// A stored operation as the contract carries it to a target.
pub fn operation_out(op: crate::store::Operation) -> kit::Operation {
    use crate::store::Operation;
    match op {
        Operation::Create => kit::Operation::Create,
        Operation::Update => kit::Operation::Update,
        Operation::Delete => kit::Operation::Delete,
        Operation::Snapshot => kit::Operation::Snapshot,
    }
}
