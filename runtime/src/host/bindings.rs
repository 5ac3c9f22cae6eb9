//! The generated bindings for `junction:connector@0.2.0`, kept private to `host/`, and the
//! conversions between them and the contract's plain Rust types (`junction_connector_kit`).

use junction_connector_kit as kit;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "connector",
    imports: { default: trappable },
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
});

pub(crate) use self::junction::connector::host::Level;
pub(crate) use self::junction::connector::types as wit;

pub(crate) fn manifest(m: wit::Manifest) -> kit::Manifest {
    kit::Manifest {
        name: m.name,
        version: m.version,
        description: m.description,
        source_objects: m.source_objects,
        sink_objects: m.sink_objects,
        hosts: m.hosts,
        settings: m
            .settings
            .into_iter()
            .map(|s| kit::SettingSpec {
                name: s.name,
                description: s.description,
                required: s.required,
                sensitive: s.sensitive,
            })
            .collect(),
        secrets: m.secrets,
        webhooks: m.webhooks,
        polling: m.polling,
        async_writes: m.async_writes,
        future_dated_writes: m.future_dated_writes,
    }
}

pub(crate) fn operation_in(op: wit::Operation) -> kit::Operation {
    match op {
        wit::Operation::Create => kit::Operation::Create,
        wit::Operation::Update => kit::Operation::Update,
        wit::Operation::Delete => kit::Operation::Delete,
        wit::Operation::Snapshot => kit::Operation::Snapshot,
    }
}

pub(crate) fn operation_out(op: kit::Operation) -> wit::Operation {
    match op {
        kit::Operation::Create => wit::Operation::Create,
        kit::Operation::Update => wit::Operation::Update,
        kit::Operation::Delete => wit::Operation::Delete,
        kit::Operation::Snapshot => wit::Operation::Snapshot,
    }
}

pub(crate) fn change(c: wit::Change) -> kit::Change {
    kit::Change {
        source_event_id: c.source_event_id,
        object: c.object,
        key: c.key,
        operation: operation_in(c.operation),
        before: c.before,
        after: c.after,
        occurred_at: c.occurred_at,
        effective_at: c.effective_at,
        source_version: c.source_version,
        metadata: c.metadata,
    }
}

pub(crate) fn webhook(h: kit::Webhook) -> wit::Webhook {
    wit::Webhook {
        method: h.method,
        path: h.path,
        headers: h.headers,
        body: h.body,
    }
}

pub(crate) fn write(w: kit::Write) -> wit::Write {
    wit::Write {
        object: w.object,
        key: w.key,
        operation: operation_out(w.operation),
        document: w.document,
        effective_at: w.effective_at,
        occurred_at: w.occurred_at,
        idempotency_key: w.idempotency_key,
        correlation_id: w.correlation_id,
    }
}

pub(crate) fn outcome(o: wit::Outcome) -> kit::Outcome {
    match o {
        wit::Outcome::Applied(r) => kit::Outcome::Applied(r),
        wit::Outcome::Accepted(j) => kit::Outcome::Accepted(j),
        wit::Outcome::InProgress(j) => kit::Outcome::InProgress(j),
    }
}

pub(crate) fn job_state(s: wit::JobState) -> kit::JobState {
    match s {
        wit::JobState::Pending => kit::JobState::Pending,
        wit::JobState::Succeeded(r) => kit::JobState::Succeeded(r),
        wit::JobState::Failed(e) => kit::JobState::Failed(error(e)),
    }
}

pub(crate) fn error(e: wit::Error) -> kit::Error {
    match e {
        wit::Error::Transient(t) => kit::Error::Transient {
            message: t.message,
            retry_after_ms: t.retry_after_ms,
        },
        wit::Error::RateLimited(ms) => kit::Error::RateLimited(ms),
        wit::Error::Rejected(r) => kit::Error::Rejected {
            message: r.message,
            field: r.field,
        },
        wit::Error::Unauthorized(m) => kit::Error::Unauthorized(m),
        wit::Error::NotFound(m) => kit::Error::NotFound(m),
        wit::Error::Conflict(m) => kit::Error::Conflict(m),
        wit::Error::IdempotencyMismatch(m) => kit::Error::IdempotencyMismatch(m),
        wit::Error::Unsupported(m) => kit::Error::Unsupported(m),
        wit::Error::InvalidWebhook(m) => kit::Error::InvalidWebhook(m),
    }
}

pub(crate) fn document_page(p: wit::DocumentPage) -> kit::DocumentPage {
    kit::DocumentPage {
        items: p
            .items
            .into_iter()
            .map(|d| kit::KeyedDocument {
                key: d.key,
                document: d.document,
            })
            .collect(),
        next_cursor: p.next_cursor,
    }
}

pub(crate) fn change_page(p: wit::ChangePage) -> kit::ChangePage {
    kit::ChangePage {
        changes: p.changes.into_iter().map(change).collect(),
        next_cursor: p.next_cursor,
        has_more: p.has_more,
    }
}
