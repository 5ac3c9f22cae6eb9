//! `[connectors.NAME]`: module, hosts, auth, secrets, limits and settings.

use std::collections::BTreeMap;

use toml::Spanned;

use super::super::catalog::{ModuleInfo, ModuleRef};
use super::super::plan::{AllowedHost, Auth, Connector, Limits, Setting};
use super::super::raw::{RawAuth, RawConnector, RawLimits, Text, TextMap};
use super::super::suggest;
use super::super::units::{self, RATE_HELP, SIZE_HELP};
use super::{Declared, Validator, hosts};
use crate::Secret;

/// WebAssembly 32-bit linear memory cannot grow past 4 GiB.
const MAX_MEMORY: u64 = 4 << 30;

/// Where NetSuite's OAuth 2.0 token endpoint lives under an account's base URL.
const M2M_TOKEN_PATH: &str = "/services/rest/auth/oauth2/v1/token";

impl Validator<'_, '_> {
    pub(super) fn connector(&mut self, name: &Text, raw: &Spanned<RawConnector>) -> Declared {
        let name_ok = self.name(name, "connector name");
        let c = raw.get_ref();
        let module = c.module.as_ref().and_then(|m| self.module_ref(m));
        let info = match (&module, &c.module) {
            (Some(module), Some(written)) => match self.catalog.describe(module) {
                Ok(info) => Some(info),
                Err(reason) => {
                    // Loader errors can span several lines (e.g. a byte dump); the report's
                    // layout needs the message on one.
                    let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
                    self.rep.error(
                        written.span(),
                        format!("cannot load module `{}`: {reason}", written.get_ref()),
                    );
                    None
                }
            },
            _ => None,
        };
        let allow_hosts = self.hosts(c.base_url.as_ref(), c.allow_hosts.as_ref());
        let auth = match &c.auth {
            Some(auth) => self.auth(auth, c.base_url.as_ref(), allow_hosts.as_deref()),
            None => Some(Auth::None),
        };
        // The host adds credentials only to the base-url's origin (or the instance_url a token
        // names): without either they would never be sent.
        let auth = match (&auth, &c.base_url, &c.auth) {
            (Some(a), None, Some(written))
                if !matches!(
                    a,
                    Auth::None
                        | Auth::OAuth2ClientCredentials {
                            instance_url: true,
                            ..
                        }
                ) =>
            {
                self.rep
                    .error(
                        written.span(),
                        "auth is given, but no base-url: the host adds credentials only to requests for the base-url's origin, so none would be sent",
                    )
                    .hint("set base-url to the vendor API's URL, e.g. base-url = \"https://api.stripe.com\"");
                None
            }
            _ => auth,
        };
        let secrets = self.granted_secrets(name, c.secrets.as_ref(), info.as_ref());
        let limits = self.limits(c.limits.as_ref());
        let settings = self.settings(name, raw, info.as_ref());

        let built = match (
            name_ok,
            module,
            &info,
            allow_hosts,
            auth,
            secrets,
            limits,
            settings,
        ) {
            (
                true,
                Some(module),
                Some(info),
                Some(allow_hosts),
                Some(auth),
                Some(secrets),
                Some(limits),
                Some(settings),
            ) => Some(Connector {
                name: name.get_ref().clone(),
                module,
                info: info.clone(),
                base_url: c
                    .base_url
                    .as_ref()
                    .map(|u| u.get_ref().trim_end_matches('/').to_owned()),
                allow_hosts,
                auth,
                secrets,
                limits,
                settings,
            }),
            _ => None,
        };
        Declared { info, built }
    }

    /// `builtin:NAME` or a path to a component, resolved against the pipeline file's folder.
    fn module_ref(&mut self, written: &Text) -> Option<ModuleRef> {
        let text = written.get_ref().trim();
        if let Some(builtin) = text.strip_prefix("builtin:") {
            if builtin.is_empty() {
                self.rep
                    .error(written.span(), "`builtin:` needs a connector name")
                    .hint("e.g. module = \"builtin:stripe\"");
                return None;
            }
            return Some(ModuleRef::Builtin(builtin.to_owned()));
        }
        if let Some((scheme, _)) = text.split_once(':')
            && scheme.len() > 1
            && scheme.chars().all(|c| c.is_ascii_alphabetic())
        {
            self.rep
                .error(written.span(), format!("unknown module kind `{scheme}:`"))
                .hint("write builtin:NAME, or a path to a .wasm component");
            return None;
        }
        // Without `.` components, so messages show `pipelines/x.wasm`, not `pipelines/./x.wasm`.
        let path: std::path::PathBuf = self
            .rep
            .file()
            .dir()
            .join(text)
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        if path.exists() && !path.is_file() {
            self.rep
                .error(
                    written.span(),
                    format!("module file `{text}` is not a regular file"),
                )
                .hint(
                    "a module is a .wasm component file; FIFOs, devices and folders are not read",
                );
            return None;
        }
        if !path.is_file() {
            self.rep
                .error(
                    written.span(),
                    format!("module file `{text}` does not exist"),
                )
                .hint("relative paths are resolved against the folder of the pipeline file");
            return None;
        }
        Some(ModuleRef::File(path))
    }

    fn auth(
        &mut self,
        written: &Spanned<RawAuth>,
        base_url: Option<&Text>,
        allow_hosts: Option<&[AllowedHost]>,
    ) -> Option<Auth> {
        let raw = written.get_ref();
        let scheme = raw.scheme.as_ref()?;
        // The structural check guarantees the scheme's required keys are present; a missing one
        // here was reported there.
        let secret = |v: &mut Self, field: &Option<Text>, what: &str| -> Option<Secret> {
            v.secret(field.as_ref()?, what)
        };
        match scheme.get_ref().as_str() {
            "none" => Some(Auth::None),
            "bearer" => Some(Auth::Bearer {
                secret: secret(self, &raw.secret, "auth.secret")?,
            }),
            "basic" => {
                let username = secret(self, &raw.username, "auth.username");
                let password = secret(self, &raw.password, "auth.password");
                Some(Auth::Basic {
                    username: username?,
                    password: password?,
                })
            }
            "oauth1-tba" => {
                let consumer_key = secret(self, &raw.consumer_key, "auth.consumer-key");
                let consumer_secret = secret(self, &raw.consumer_secret, "auth.consumer-secret");
                let token = secret(self, &raw.token, "auth.token");
                let token_secret = secret(self, &raw.token_secret, "auth.token-secret");
                Some(Auth::OAuth1Tba {
                    realm: raw.realm.as_ref()?.get_ref().clone(),
                    consumer_key: consumer_key?,
                    consumer_secret: consumer_secret?,
                    token: token?,
                    token_secret: token_secret?,
                })
            }
            "oauth2-client-credentials" => {
                let client_id = secret(self, &raw.client_id, "auth.client-id");
                let client_secret = secret(self, &raw.client_secret, "auth.client-secret");
                let token_url = self.token_url(raw.token_url.as_ref()?, allow_hosts);
                let instance_url = raw.instance_url.unwrap_or(false);
                if instance_url && allow_hosts.is_some_and(<[AllowedHost]>::is_empty) {
                    self.rep
                        .error(
                            scheme.span(),
                            "instance-url = true, but allow-hosts names no host the instance could be on",
                        )
                        .hint("list the org's host, e.g. allow-hosts = [\"mydomain.my.salesforce.com\"]");
                    return None;
                }
                Some(Auth::OAuth2ClientCredentials {
                    token_url: token_url?,
                    client_id: client_id?,
                    client_secret: client_secret?,
                    instance_url,
                })
            }
            "oauth2-m2m" => {
                let client_id = secret(self, &raw.client_id, "auth.client-id");
                let private_key = secret(self, &raw.private_key, "auth.private-key");
                let algorithm = raw
                    .algorithm
                    .as_ref()
                    .map_or_else(|| "PS256".to_owned(), |a| a.get_ref().clone());
                let token_url = match (&raw.token_url, base_url) {
                    (Some(url), _) => self.token_url(url, allow_hosts),
                    (None, Some(base)) => Some(format!(
                        "{}{M2M_TOKEN_PATH}",
                        base.get_ref().trim_end_matches('/')
                    )),
                    (None, None) => {
                        self.rep
                            .error(
                                scheme.span(),
                                "oauth2-m2m needs a token-url, or a base-url to find it under",
                            )
                            .hint(format!(
                                "NetSuite's is base-url + {M2M_TOKEN_PATH}, e.g. https://1234567.suitetalk.api.netsuite.com{M2M_TOKEN_PATH}"
                            ));
                        None
                    }
                };
                let key_ok = match (&private_key, &raw.private_key) {
                    (Some(key), Some(written)) => self.signing_key(key, &algorithm, written),
                    _ => false,
                };
                let private_key = private_key.filter(|_| key_ok);
                Some(Auth::OAuth2M2m {
                    token_url: token_url?,
                    client_id: client_id?,
                    certificate_id: raw.certificate_id.as_ref()?.get_ref().clone(),
                    private_key: private_key?,
                    algorithm,
                    scope: raw
                        .scope
                        .as_ref()
                        .map_or_else(|| "rest_webservices".to_owned(), |s| s.get_ref().clone()),
                })
            }
            _ => None,
        }
    }

    /// A token endpoint: https, or plain http to an internal address that allow-hosts lists
    /// (a local simulator). Client secrets and assertions go there, so the rule is the one for
    /// credentials.
    fn token_url(&mut self, url: &Text, allow_hosts: Option<&[AllowedHost]>) -> Option<String> {
        match hosts::url_host(url.get_ref()) {
            Ok((host, secure)) => {
                let internal = hosts::is_internal(&host);
                if internal && !allow_hosts.is_some_and(|hosts| hosts.contains(&host)) {
                    self.rep
                        .error(url.span(), format!("token-url points at the internal address `{host}`, which allow-hosts does not list"))
                        .hint(format!("loopback and private addresses are reachable only when listed: allow-hosts = [\"{host}\"]"));
                    return None;
                }
                if !secure && !internal {
                    self.rep
                        .error(url.span(), "token-url uses plain http to a public host")
                        .hint("client credentials travel to the token endpoint: use https");
                    return None;
                }
                Some(url.get_ref().clone())
            }
            Err(problem) => {
                self.rep
                    .error(url.span(), format!("invalid token-url: {problem}"))
                    .hint("e.g. token-url = \"https://MyDomain.my.salesforce.com/services/oauth2/token\"");
                None
            }
        }
    }

    /// Checks that the private key is a PEM key the algorithm can sign with, so a wrong key is
    /// refused here and not at the first token request.
    fn signing_key(&mut self, key: &Secret, algorithm: &str, written: &Text) -> bool {
        let pem = key.expose().as_bytes();
        let (parsed, kind) = if algorithm.starts_with("PS") {
            (
                jsonwebtoken::EncodingKey::from_rsa_pem(pem).map(drop),
                "an RSA",
            )
        } else {
            (
                jsonwebtoken::EncodingKey::from_ec_pem(pem).map(drop),
                "an EC",
            )
        };
        match parsed {
            Ok(()) => true,
            Err(_) => {
                self.rep
                    .error(
                        written.span(),
                        format!("auth.private-key is not {kind} private key in PEM form, which {algorithm} signs with"),
                    )
                    .hint("give the certificate's private key, e.g. private-key = \"file:/etc/junction/netsuite-m2m.pem\" (-----BEGIN PRIVATE KEY-----)");
                false
            }
        }
    }

    /// Resolves `secrets = { .. }` and checks them against what the module asks for.
    fn granted_secrets(
        &mut self,
        connector: &Text,
        granted: Option<&Spanned<TextMap>>,
        info: Option<&ModuleInfo>,
    ) -> Option<BTreeMap<String, Secret>> {
        let mut resolved = BTreeMap::new();
        let mut ok = true;
        let empty = TextMap::new();
        let table = granted.map_or(&empty, |g| g.get_ref());
        for (name, reference) in table {
            match self.secret(reference, &format!("secrets.{}", name.get_ref())) {
                Some(secret) => {
                    resolved.insert(name.get_ref().clone(), secret);
                }
                None => ok = false,
            }
        }
        if let Some(info) = info {
            for name in table.keys() {
                if !info.secrets.contains(name.get_ref()) {
                    let hint = suggest::hint(
                        name.get_ref(),
                        info.secrets.iter().map(String::as_str),
                        "secrets it uses",
                    );
                    self.rep
                        .warning(
                            name.span(),
                            format!(
                                "module `{}` does not use a secret `{}`",
                                info.name,
                                name.get_ref()
                            ),
                        )
                        .hint(hint);
                }
            }
            for needed in &info.secrets {
                let reported =
                    granted.is_some_and(|g| self.rep.was_removed(g.span().start, needed));
                if !table.contains_key(needed.as_str()) && !reported {
                    let span = granted.map_or(connector.span(), Spanned::span);
                    self.rep
                        .error(
                            span,
                            format!(
                                "module `{}` needs the secret `{needed}`, which connector `{}` does not grant",
                                info.name,
                                connector.get_ref()
                            ),
                        )
                        .hint(format!(
                            "add secrets = {{ {needed} = \"env:VAR\" }} to [connectors.{}]",
                            connector.get_ref()
                        ));
                    ok = false;
                }
            }
        }
        ok.then_some(resolved)
    }

    fn limits(&mut self, raw: Option<&RawLimits>) -> Option<Limits> {
        let mut limits = Limits::DEFAULT;
        let Some(raw) = raw else {
            return Some(limits);
        };
        let mut ok = true;
        if let Some(memory) = &raw.memory {
            match units::parse_size(memory.get_ref()) {
                Ok(bytes) if bytes <= MAX_MEMORY => limits.memory = bytes,
                Ok(_) => {
                    self.rep
                        .error(
                            memory.span(),
                            format!("memory limit `{}` is above 4GiB", memory.get_ref()),
                        )
                        .hint("a 32-bit WebAssembly module cannot use more than 4GiB");
                    ok = false;
                }
                Err(error) => {
                    self.rep
                        .error(
                            memory.span(),
                            format!(
                                "invalid size `{}` for limits.memory: it {error}",
                                memory.get_ref()
                            ),
                        )
                        .hint(SIZE_HELP);
                    ok = false;
                }
            }
        }
        if let Some(timeout) = &raw.call_timeout {
            match self.duration(timeout, "limits.call-timeout") {
                Some(d) => limits.call_timeout = d,
                None => ok = false,
            }
        }
        if let Some(rate) = &raw.rate {
            match units::parse_rate(rate.get_ref()) {
                Ok(r) => limits.rate = Some(r),
                Err(error) => {
                    self.rep
                        .error(
                            rate.span(),
                            format!(
                                "invalid rate `{}` for limits.rate: it {error}",
                                rate.get_ref()
                            ),
                        )
                        .hint(RATE_HELP);
                    ok = false;
                }
            }
        }
        if let Some(concurrency) = raw.concurrency {
            limits.concurrency = concurrency;
        }
        ok.then_some(limits)
    }

    /// Checks settings against the module's declared ones and marks the sensitive ones.
    fn settings(
        &mut self,
        connector: &Text,
        raw: &Spanned<RawConnector>,
        info: Option<&ModuleInfo>,
    ) -> Option<BTreeMap<String, Setting>> {
        let empty = TextMap::new();
        let given = raw.get_ref().settings.as_ref();
        let table = given.map_or(&empty, |s| s.get_ref());
        let Some(info) = info else {
            // Without the module's manifest nothing can be checked; the load fails anyway.
            return None;
        };
        let mut ok = true;
        let mut settings = BTreeMap::new();
        for (key, value) in table {
            if key.get_ref() == BASE_URL {
                // The runtime hands the connector's `base-url` to the module under this name
                // and derives the allow-list from it; a second way to set it would leave the
                // allow-list on the module's default hosts.
                self.rep
                    .error(
                        key.span(),
                        format!("`{BASE_URL}` belongs on the connector, not under settings"),
                    )
                    .hint(format!(
                        "write base-url = \"...\" in [connectors.{}]: the module receives it as its `{BASE_URL}` setting, and its host is allowed",
                        connector.get_ref()
                    ));
                ok = false;
                continue;
            }
            match info.settings.iter().find(|s| &s.name == key.get_ref()) {
                Some(declared) => {
                    let setting = if declared.sensitive {
                        self.rep.mark_secret(value.span());
                        Setting::Sensitive(Secret::new(value.get_ref().clone()))
                    } else {
                        let value = value.get_ref().clone();
                        Setting::Plain(value)
                    };
                    settings.insert(key.get_ref().clone(), setting);
                }
                None => {
                    let hint = suggest::hint(
                        key.get_ref(),
                        info.settings.iter().map(|s| s.name.as_str()),
                        "settings it takes",
                    );
                    self.rep
                        .error(
                            key.span(),
                            format!(
                                "module `{}` takes no setting `{}`",
                                info.name,
                                key.get_ref()
                            ),
                        )
                        .hint(hint);
                    ok = false;
                }
            }
        }
        // With `auth.instance-url = true` the host hands the module the token's instance_url
        // as its `base-url` (host/instance.rs), so the module's required base-url is given.
        let instance_url = raw.get_ref().auth.as_ref().is_some_and(|a| {
            let a = a.get_ref();
            a.instance_url == Some(true)
                && a.scheme
                    .as_ref()
                    .is_some_and(|s| s.get_ref() == "oauth2-client-credentials")
        });
        let has_base_url = raw.get_ref().base_url.is_some() || instance_url;
        for declared in info
            .settings
            .iter()
            .filter(|s| s.required && !(s.name == BASE_URL && has_base_url))
        {
            let reported =
                given.is_some_and(|g| self.rep.was_removed(g.span().start, &declared.name));
            if !table.contains_key(declared.name.as_str()) && !reported {
                let span = given.map_or(connector.span(), Spanned::span);
                self.rep
                    .error(
                        span,
                        format!(
                            "connector `{}` is missing the setting `{}` that module `{}` requires",
                            connector.get_ref(),
                            declared.name,
                            info.name
                        ),
                    )
                    .hint(format!(
                        "add settings = {{ {} = \"...\" }} to [connectors.{}]",
                        declared.name,
                        connector.get_ref()
                    ));
                ok = false;
            }
        }
        ok.then_some(settings)
    }
}

/// The setting the runtime fills from the connector's `base-url` key.
const BASE_URL: &str = "base-url";
