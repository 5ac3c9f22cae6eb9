//! From checked plans to running connector instances: module loading (also the
//! [`ModuleCatalog`] that `junction validate` uses), and each connector's grants and limits.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::config::{self, ModuleCatalog, ModuleInfo, ModuleRef, SettingInfo};
use crate::host::{self, Auth, EgressPolicy, Host, InstanceSpec, Limits, Module};
use crate::services::clock::Clock;

/// Describes modules for validation by loading them through the host (and its cache).
pub struct HostCatalog {
    host: Host,
    handle: tokio::runtime::Handle,
    loaded: Mutex<BTreeMap<ModuleRef, Result<Arc<Module>, String>>>,
}

impl HostCatalog {
    /// A catalog that loads through `host`; call from within a multi-threaded tokio runtime.
    pub fn new(host: Host) -> Self {
        Self {
            host,
            handle: tokio::runtime::Handle::current(),
            loaded: Mutex::default(),
        }
    }

    /// The loaded module, if `describe` loaded it successfully.
    pub fn module(&self, module: &ModuleRef) -> Option<Arc<Module>> {
        self.loaded
            .lock()
            .expect("catalog lock")
            .get(module)
            .and_then(|r| r.as_ref().ok().cloned())
    }

    fn load(&self, module: &ModuleRef) -> Result<Arc<Module>, String> {
        if let Some(done) = self.loaded.lock().expect("catalog lock").get(module) {
            return done.clone();
        }
        let reference = module.to_string();
        let host = self.host.clone();
        let result =
            tokio::task::block_in_place(|| self.handle.block_on(host.load(&reference, None)))
                .map_err(|e| e.to_string());
        self.loaded
            .lock()
            .expect("catalog lock")
            .insert(module.clone(), result.clone());
        result
    }
}

impl ModuleCatalog for HostCatalog {
    fn describe(&self, module: &ModuleRef) -> Result<ModuleInfo, String> {
        let m = self.load(module)?.manifest.clone();
        Ok(ModuleInfo {
            name: m.name,
            source_objects: m.source_objects,
            sink_objects: m.sink_objects,
            webhooks: m.webhooks,
            polling: m.polling,
            async_writes: m.async_writes,
            future_dated_writes: m.future_dated_writes,
            settings: m
                .settings
                .into_iter()
                .map(|s| SettingInfo {
                    name: s.name,
                    required: s.required,
                    sensitive: s.sensitive,
                })
                .collect(),
            secrets: m.secrets,
        })
    }
}

/// The grants and limits a pipeline gives one connector. Only the pipeline grants: the
/// module's manifest lists the hosts it calls (`junction connector inspect`) but cannot widen
/// its own reach. The instance, and its OAuth 2.0 token source if any, read time from `clock`.
pub fn instance_spec(connector: &config::Connector, clock: &Clock) -> Result<InstanceSpec, String> {
    let mut settings: BTreeMap<String, String> = connector
        .settings
        .iter()
        .map(|(k, v)| (k.clone(), v.expose().to_string()))
        .collect();
    let allow: Vec<String> = connector
        .allow_hosts
        .iter()
        .map(ToString::to_string)
        .collect();
    let (allow_hosts, credential_origins) = grants(&allow, connector.base_url.as_deref());
    if let Some(url) = &connector.base_url {
        settings.insert("base-url".into(), url.trim_end_matches('/').to_string());
    }
    let auth = match &connector.auth {
        config::Auth::None => Auth::None,
        config::Auth::Bearer { secret: s } => Auth::Bearer(s.clone()),
        config::Auth::Basic { username, password } => Auth::Basic {
            username: username.clone(),
            password: password.clone(),
        },
        config::Auth::OAuth1Tba {
            realm,
            consumer_key,
            consumer_secret,
            token,
            token_secret,
        } => Auth::OAuth1(host::oauth1::Tba {
            realm: realm.clone(),
            consumer_key: consumer_key.clone(),
            consumer_secret: consumer_secret.clone(),
            token: token.clone(),
            token_secret: token_secret.clone(),
        }),
        config::Auth::OAuth2ClientCredentials {
            token_url,
            client_id,
            client_secret,
            instance_url,
        } => oauth2(
            connector,
            clock,
            host::oauth2::OAuth2 {
                token_url: token_url.clone(),
                grant: host::oauth2::Grant::ClientSecret {
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                },
                instance_url: *instance_url,
            },
        )?,
        config::Auth::OAuth2M2m {
            token_url,
            client_id,
            certificate_id,
            private_key,
            algorithm,
            scope,
        } => oauth2(
            connector,
            clock,
            host::oauth2::OAuth2 {
                token_url: token_url.clone(),
                grant: host::oauth2::Grant::JwtAssertion {
                    client_id: client_id.clone(),
                    certificate_id: certificate_id.clone(),
                    private_key: private_key.clone(),
                    algorithm: host::oauth2::algorithm(algorithm)
                        .ok_or_else(|| format!("unknown JWT algorithm `{algorithm}`"))?,
                    scope: scope.clone(),
                },
                instance_url: false,
            },
        )?,
    };
    Ok(InstanceSpec {
        name: connector.name.clone(),
        settings,
        secrets: connector.secrets.clone(),
        egress: EgressPolicy {
            allow_hosts,
            auth,
            credential_origins,
            timeout: connector.limits.call_timeout,
        },
        limits: Limits {
            memory_bytes: connector.limits.memory,
            // The call deadline covers the request and the guest's work around it.
            call_timeout: connector.limits.call_timeout + std::time::Duration::from_secs(1),
            concurrency: connector.limits.concurrency.max(1) as usize,
            ..Limits::default()
        },
        clock: clock.clone(),
        // The pipeline's, set by the engine (`Engine::new`).
        masking_key: None,
    })
}

/// One token source per connector instance: its tokens are never shared with another
/// connector's configuration.
fn oauth2(
    connector: &config::Connector,
    clock: &Clock,
    setup: host::oauth2::OAuth2,
) -> Result<Auth, String> {
    host::oauth2::TokenSource::with_clock(&connector.name, setup, clock.clone())
        .map(|source| Auth::OAuth2(Arc::new(source)))
}

/// The hosts a pipeline grants a connector, and the origin its credentials belong to. The
/// grant is the pipeline's `allow-hosts`, or without them its `base-url`'s host unless that is
/// an internal address (loopback, private, link-local: reachable only when `allow-hosts` names
/// it). The credentials belong to the `base-url`'s exact origin.
fn grants(allow_hosts: &[String], base_url: Option<&str>) -> (Vec<String>, Vec<host::Origin>) {
    let origin = base_url.and_then(|url| host::Origin::of_url(url).ok());
    let mut hosts = allow_hosts.to_vec();
    if hosts.is_empty()
        && let Some(origin) = &origin
        && !host::is_internal_host(&origin.host)
    {
        hosts.push(origin.host.clone());
    }
    (hosts, origin.into_iter().collect())
}

/// Where a module reference's relative path is resolved: the pipeline file's folder.
pub fn module_base(plan_file: &Path) -> Option<&Path> {
    plan_file.parent()
}

#[cfg(test)]
mod tests {
    use super::grants;

    #[test]
    fn only_the_pipeline_grants_hosts_and_internal_ones_only_by_name() {
        let none: &[String] = &[];
        let (hosts, origins) = grants(none, Some("https://api.stripe.com"));
        assert_eq!(hosts, ["api.stripe.com"]);
        assert_eq!(origins.len(), 1);
        // Nothing named, nothing granted (a module's own manifest hosts do not count).
        assert_eq!(grants(none, None), (vec![], vec![]));
        // An internal base URL is not reachable unless allow-hosts names it.
        for internal in [
            "http://127.0.0.1:4010",
            "http://169.254.169.254",
            "http://localhost:1",
        ] {
            assert!(grants(none, Some(internal)).0.is_empty(), "{internal}");
        }
        let named = ["127.0.0.1".to_string()];
        assert_eq!(
            grants(&named, Some("http://127.0.0.1:4010")).0,
            ["127.0.0.1"]
        );
    }
}
