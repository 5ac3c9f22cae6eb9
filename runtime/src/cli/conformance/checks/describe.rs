//! The `describe.*` checks: the manifest is well formed, and the module does what it declares.

use super::*;

pub(super) async fn describe_manifest(kit: &Kit) -> Verdict {
    let m = kit.manifest();
    let sent = "describe()".to_string();
    if m.name.trim().is_empty() || m.name.chars().any(|c| c.is_control()) {
        return fail(
            sent,
            format!("name {:?}", m.name),
            "a non-empty printable name",
        );
    }
    let semver = m.version.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = semver.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || p.parse::<u64>().is_err())
    {
        return fail(
            sent,
            format!("version {:?}", m.version),
            "a semantic version (MAJOR.MINOR.PATCH)",
        );
    }
    for (side, objects) in [("source", &m.source_objects), ("sink", &m.sink_objects)] {
        let mut seen = HashSet::new();
        for o in objects {
            if !canonical::OBJECTS.contains(&o.as_str()) {
                return fail(
                    sent,
                    format!("{side} object `{o}`"),
                    format!("canonical objects only ({})", canonical::OBJECTS.join(", ")),
                );
            }
            if !seen.insert(o) {
                return fail(
                    sent,
                    format!("{side} object `{o}` twice"),
                    "each object once",
                );
            }
        }
    }
    if (m.webhooks || m.polling) && m.source_objects.is_empty() {
        return fail(
            sent,
            format!(
                "webhooks = {}, polling = {}, no source objects",
                m.webhooks, m.polling
            ),
            "the source objects the webhooks or polling yield",
        );
    }
    let mut names = HashSet::new();
    for s in &m.settings {
        if !names.insert(&s.name) {
            return fail(
                sent,
                format!("setting `{}` twice", s.name),
                "each setting once",
            );
        }
    }
    // What the vendor setup grants: a declared requirement it does not meet is a module the
    // kit (and an operator following the vendor's documentation) cannot run.
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let granted = env.target.spec(&m.name, Credentials::Good, kit.timeout);
    // With OAuth 2.0 `instance-url`, the host passes the token's instance URL as `base-url`.
    let host_given = |name: &str| {
        name == "base-url"
            && matches!(&granted.egress.auth, crate::host::Auth::OAuth2(s) if s.config().instance_url)
    };
    let missing: Vec<&str> = m
        .settings
        .iter()
        .filter(|s| s.required)
        .map(|s| s.name.as_str())
        .filter(|n| {
            !granted.settings.contains_key(*n) && !kit.settings.contains_key(*n) && !host_given(n)
        })
        .collect();
    if !missing.is_empty() {
        return fail(
            sent,
            format!("required settings [{}]", missing.join(", ")),
            format!(
                "settings the {} setup grants ([{}]) or --setting NAME=VALUE gives",
                kit.vendor,
                granted
                    .settings
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    let secrets: Vec<&str> = m
        .secrets
        .iter()
        .map(String::as_str)
        .filter(|s| !granted.secrets.contains_key(*s))
        .collect();
    if !secrets.is_empty() {
        return fail(
            sent,
            format!("secrets [{}]", secrets.join(", ")),
            format!(
                "secrets the {} setup grants ([{}])",
                kit.vendor,
                granted
                    .secrets
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    Verdict::Pass(format!(
        "{} {}: source [{}] (webhooks {}, polling {}), sink [{}] (async writes {})",
        m.name,
        m.version,
        m.source_objects.join(", "),
        m.webhooks,
        m.polling,
        m.sink_objects.join(", "),
        m.async_writes
    ))
}

pub(super) async fn describe_source(kit: &Kit) -> Verdict {
    let m = kit.manifest();
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let mut seen = Vec::new();
    // Webhooks.
    let hook = env.target.webhook(HookKind::Genuine);
    if m.webhooks {
        match &hook {
            None => seen.push(format!(
                "the {} simulator sends no webhooks to try",
                kit.vendor
            )),
            Some(hook) => {
                let sent = format!(
                    "receive(a genuine {} webhook, {} bytes)",
                    kit.vendor,
                    hook.body.len()
                );
                match env.connector.receive(&ctx(), hook.clone()).await.result {
                    Ok(changes) => {
                        if let Some(c) = changes
                            .iter()
                            .find(|c| !m.source_objects.contains(&c.object))
                        {
                            return fail(
                                sent,
                                format!("a change of `{}`", c.object),
                                format!(
                                    "changes of the declared source objects [{}]",
                                    m.source_objects.join(", ")
                                ),
                            );
                        }
                        seen.push(format!(
                            "a genuine webhook decoded into {} change(s)",
                            changes.len()
                        ));
                    }
                    Err(e) => {
                        return fail(
                            sent,
                            shown(&e),
                            "the webhook's changes (describe declares webhooks = true)",
                        );
                    }
                }
            }
        }
    } else {
        let hook = hook.unwrap_or_else(|| kit::Webhook {
            method: "POST".into(),
            path: env.target.webhook_path(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: b"{}".to_vec(),
        });
        let sent = format!("receive({} bytes to {})", hook.body.len(), hook.path);
        match env.connector.receive(&ctx(), hook).await.result {
            Err(e) if is_class(&e, "unsupported") => {
                seen.push("receive answers unsupported".into())
            }
            other => {
                return fail(
                    sent,
                    match other {
                        Ok(changes) => format!("{} change(s)", changes.len()),
                        Err(e) => shown(&e),
                    },
                    "unsupported (describe declares webhooks = false)",
                );
            }
        }
    }
    // Polling.
    if m.polling {
        for object in &m.source_objects {
            let sent = format!("poll({object}, none, 10)");
            match env.connector.poll(&ctx(), object, None, 10).await.result {
                Ok(page) => {
                    if let Some(c) = page.changes.iter().find(|c| &c.object != object) {
                        return fail(
                            sent,
                            format!("a change of `{}`", c.object),
                            format!("changes of `{object}`"),
                        );
                    }
                    if page.changes.len() > 10 {
                        return fail(
                            sent,
                            format!("{} changes", page.changes.len()),
                            "at most the limit, 10",
                        );
                    }
                }
                Err(e) => {
                    return fail(
                        sent,
                        shown(&e),
                        format!("a page of `{object}` changes (describe declares polling = true)"),
                    );
                }
            }
        }
        seen.push(format!(
            "poll answers pages of [{}]",
            m.source_objects.join(", ")
        ));
    } else {
        let object = m
            .source_objects
            .first()
            .or(m.sink_objects.first())
            .cloned()
            .unwrap_or_else(|| "customer".into());
        let sent = format!("poll({object}, none, 10)");
        match env.connector.poll(&ctx(), &object, None, 10).await.result {
            Err(e) if is_class(&e, "unsupported") => seen.push("poll answers unsupported".into()),
            other => {
                return fail(
                    sent,
                    match other {
                        Ok(page) => format!("{} change(s)", page.changes.len()),
                        Err(e) => shown(&e),
                    },
                    "unsupported (describe declares polling = false)",
                );
            }
        }
    }
    Verdict::Pass(seen.join("; "))
}

pub(super) async fn describe_sink(kit: &Kit) -> Verdict {
    let m = kit.manifest();
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    if m.sink_objects.is_empty() {
        let sample = env.target.sample(0);
        let object = m.source_objects.first().cloned().unwrap_or(sample.object);
        let sent = format!("fetch({object}, {MISSING_KEY})");
        return match env
            .connector
            .fetch(&ctx(), &object, MISSING_KEY)
            .await
            .result
        {
            Err(e) if is_class(&e, "unsupported") => Verdict::Pass(
                "describe declares no sink objects and fetch answers unsupported".into(),
            ),
            Ok(doc) => fail(
                sent,
                format!("{doc:?}"),
                "unsupported (describe declares no sink objects)",
            ),
            Err(e) => fail(
                sent,
                shown(&e),
                "unsupported (describe declares no sink objects)",
            ),
        };
    }
    for object in &m.sink_objects {
        let sent =
            format!("fetch({object}, {MISSING_KEY}) of an entity the simulator does not hold");
        match env
            .connector
            .fetch(&ctx(), object, MISSING_KEY)
            .await
            .result
        {
            Ok(None) => {}
            Ok(Some(doc)) => return fail(sent, short(&doc), "none"),
            Err(e) => {
                return fail(
                    sent,
                    shown(&e),
                    format!("none (describe declares `{object}` a sink object)"),
                );
            }
        }
    }
    Verdict::Pass(format!(
        "fetch of a missing entity answers none for [{}]",
        m.sink_objects.join(", ")
    ))
}
