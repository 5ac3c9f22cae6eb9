//! A deliberately hostile connector. Each webhook path picks a way to misbehave, so the
//! sandbox tests can prove the host stops every one of them and keeps serving.
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
        match hook.path.as_str() {
            "/ok" => Ok(Vec::new()),
            "/loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "/memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "/trap" => panic!("hostile connector panics on purpose"),
            "/fetch" => {
                let url = String::from_utf8_lossy(&hook.body).trim().to_string();
                match host.send(HttpRequest::new("GET", url)) {
                    Ok(r) => Err(Error::transient(format!(
                        "the request went through with status {}",
                        r.status
                    ))),
                    Err(e) => Err(Error::transient(e)),
                }
            }
            "/authorization" => {
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
            "/log-flood" => {
                for i in 0..1_000_000 {
                    host.log(Level::Info, &format!("flood line {i}"));
                }
                Ok(Vec::new())
            }
            other => Err(Error::rejected(format!("unknown misbehaviour `{other}`"))),
        }
    }
}

junction_connector_kit::export_connector!(Hostile);
