//! A deliberately hostile connector. The last segment of each webhook path picks a way to
//! misbehave (`/loop` and `/hooks/loop` alike), so the sandbox tests can prove the host stops
//! every one of them and keeps serving, and `junction-load --hostile` can measure the memory
//! of `junction run` while it does.
//!
//! | path | misbehaviour |
//! |---|---|
//! | `/ok` | none: answers an empty list |
//! | `/loop` | spins forever |
//! | `/memory` | allocates until something gives |
//! | `/trap` | panics (a trap) |
//! | `/fetch` | sends a GET to the URL in the body |
//! | `/authorization` | sets its own `Authorization` header |
//! | `/log-flood` | logs a million lines |
//! | `/fields` | creates wasi:http `fields` with big headers and never drops them |
//! | `/requests` | opens 3,000 requests at once to the URL in the body, awaiting none |
//! | `/wait` | waits on a clock for an hour (a guest blocked in a host call, not computing) |
//! | `/many` | turns one webhook into 5,000 changes |
//! | `/remember` | keeps the body in its memory and answers what earlier calls left there |
//! | `/log-300` | logs 300 lines (more than one call's budget) |

use junction_connector_kit::{
    Change, Connector, Error, Host, HttpRequest, Level, Manifest, Webhook,
};

/// The hostile connector.
pub struct Hostile;

impl Connector for Hostile {
    fn describe() -> Manifest {
        Manifest {
            name: "hostile".into(),
            version: "0.0.0".into(),
            description: "misbehaves on purpose, for sandbox tests".into(),
            source_objects: vec!["customer".into()],
            webhooks: true,
            ..Manifest::default()
        }
    }

    fn receive(host: &dyn Host, hook: Webhook) -> Result<Vec<Change>, Error> {
        // The last path segment names the misbehaviour, so `/loop` and a pipeline's
        // `/hooks/loop` both spin.
        let misbehaviour = hook.path.rsplit('/').next().unwrap_or_default();
        match misbehaviour {
            "ok" => Ok(Vec::new()),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "trap" => panic!("hostile connector panics on purpose"),
            "fetch" => {
                let url = String::from_utf8_lossy(&hook.body).trim().to_string();
                match host.send(HttpRequest::new("GET", url)) {
                    Ok(r) => Err(Error::transient(format!(
                        "the request went through with status {}",
                        r.status
                    ))),
                    Err(e) => Err(Error::transient(e)),
                }
            }
            "authorization" => {
                let url = String::from_utf8_lossy(&hook.body).trim().to_string();
                let request = HttpRequest::new("GET", url).header("Authorization", "Bearer stolen");
                match host.send(request) {
                    Ok(r) => Err(Error::transient(format!(
                        "the request went through with status {}",
                        r.status
                    ))),
                    Err(e) => Err(Error::transient(e)),
                }
            }
            "fields" => {
                bombs::fields();
                Ok(Vec::new())
            }
            "requests" => {
                let url = String::from_utf8_lossy(&hook.body).trim().to_string();
                bombs::requests(&url);
                Ok(Vec::new())
            }
            "many" => Ok((0..5_000)
                .map(|i| Change {
                    source_event_id: format!("evt_many_{i}"),
                    object: "customer".into(),
                    key: format!("cus_many_{i}"),
                    operation: junction_connector_kit::Operation::Create,
                    before: None,
                    after: Some(format!("{{\"id\": \"cus_many_{i}\"}}")),
                    occurred_at: 0,
                    effective_at: None,
                    source_version: 1,
                    metadata: Vec::new(),
                })
                .collect()),
            "wait" => {
                bombs::wait();
                Ok(Vec::new())
            }
            "remember" => Ok(vec![remember(&hook.body)]),
            "log-300" => {
                for i in 0..300 {
                    host.log(Level::Info, &format!("line {i}"));
                }
                Ok(Vec::new())
            }
            "log-flood" => {
                for i in 0..1_000_000 {
                    host.log(Level::Info, &format!("flood line {i}"));
                }
                Ok(Vec::new())
            }
            other => Err(Error::rejected(format!("unknown misbehaviour `{other}`"))),
        }
    }
}

/// What earlier calls on this instance left in its memory: how many calls it served and the
/// body of the last `/remember`. A warm instance keeps both; a fresh one has neither.
static MEMORY: std::sync::Mutex<(u64, Vec<u8>)> = std::sync::Mutex::new((0, Vec::new()));

/// Stores `body` and answers one change whose key tells what was there before:
/// `calls=N;previous=BODY` (N counts this call too).
fn remember(body: &[u8]) -> Change {
    let mut memory = MEMORY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    memory.0 += 1;
    let previous = std::mem::replace(&mut memory.1, body.to_vec());
    Change {
        source_event_id: format!("evt_remember_{}", memory.0),
        object: "customer".into(),
        key: format!(
            "calls={};previous={}",
            memory.0,
            String::from_utf8_lossy(&previous)
        ),
        operation: junction_connector_kit::Operation::Update,
        before: None,
        after: None,
        occurred_at: 0,
        effective_at: None,
        source_version: 1,
        metadata: Vec::new(),
    }
}

/// Misbehaviours that need the component's own wasi imports (no-ops natively).
mod bombs {
    #[cfg(target_family = "wasm")]
    use junction_connector_kit::guest::bindings::wasi;

    /// Header sets of 8 KiB each, kept alive: the host holds them, not guest memory.
    pub fn fields() {
        #[cfg(target_family = "wasm")]
        {
            let value = vec![b'x'; 8 << 10];
            let mut kept = Vec::new();
            loop {
                let fields = wasi::http::types::Fields::new();
                let _ = fields.append("x-bomb", &value);
                kept.push(fields);
                std::hint::black_box(&kept);
            }
        }
    }

    /// Thousands of requests in flight at once, none awaited.
    pub fn requests(url: &str) {
        #[cfg(target_family = "wasm")]
        {
            use wasi::http::{outgoing_handler, types};
            let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let mut pending = Vec::new();
            for _ in 0..3_000 {
                let request = types::OutgoingRequest::new(types::Fields::new());
                let _ = request.set_scheme(Some(&if scheme == "https" {
                    types::Scheme::Https
                } else {
                    types::Scheme::Http
                }));
                let _ = request.set_authority(Some(authority));
                let _ = request.set_path_with_query(Some(if path.is_empty() { "/" } else { path }));
                match outgoing_handler::handle(request, None) {
                    Ok(future) => pending.push(future),
                    Err(_) => break,
                }
            }
            for future in &pending {
                future.subscribe().block();
            }
        }
        #[cfg(not(target_family = "wasm"))]
        let _ = url;
    }

    /// Blocks on the monotonic clock for an hour: epochs cannot interrupt a guest waiting in a
    /// host call, only the call's outer deadline can.
    pub fn wait() {
        #[cfg(target_family = "wasm")]
        wasi::clocks::monotonic_clock::subscribe_duration(3_600_000_000_000).block();
    }
}

junction_connector_kit::export_connector!(Hostile);
