//! The `webhook.*` checks: forged and stale webhooks change nothing.

use super::*;

pub(super) async fn webhook_forged(kit: &Kit) -> Verdict {
    if let Some(na) = kit.no_webhooks() {
        return na;
    }
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let Some(hook) = env.target.webhook(HookKind::Forged) else {
        return Verdict::NotApplicable(format!("the {} simulator sends no webhooks", kit.vendor));
    };
    let sent = format!(
        "receive(a {} webhook signed or authenticated with a credential that is not the granted secret)",
        kit.vendor
    );
    match env.connector.receive(&ctx(), hook).await.result {
        Err(e) if is_class(&e, "invalid-webhook") => {
            Verdict::Pass(format!("refused: {}", short(&e.to_string())))
        }
        Ok(changes) => fail(
            sent,
            format!("accepted, {} change(s)", changes.len()),
            "invalid-webhook",
        ),
        Err(e) => fail(sent, shown(&e), "invalid-webhook"),
    }
}

pub(super) async fn webhook_stale(kit: &Kit) -> Verdict {
    if let Some(na) = kit.no_webhooks() {
        return na;
    }
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let Some(hook) = env.target.webhook(HookKind::Stale) else {
        return Verdict::NotApplicable(format!("the {} simulator sends no webhooks", kit.vendor));
    };
    let policy = env.target.stale_policy();
    let answer = env.connector.receive(&ctx(), hook).await.result;
    match policy {
        StalePolicy::Refuse => {
            let sent = format!(
                "receive(a {} webhook correctly signed an hour ago)",
                kit.vendor
            );
            match answer {
                Err(e) if is_class(&e, "invalid-webhook") => {
                    Verdict::Pass(format!("refused: {}", short(&e.to_string())))
                }
                Ok(changes) => fail(
                    sent,
                    format!("accepted, {} change(s)", changes.len()),
                    "invalid-webhook (the signed timestamp is outside the tolerance)",
                ),
                Err(e) => fail(sent, shown(&e), "invalid-webhook"),
            }
        }
        StalePolicy::ConfirmByFetch => {
            let sent = format!(
                "receive(an old {} notification with the right credential, claiming a state the vendor does not hold)",
                kit.vendor
            );
            let changes = match answer {
                Err(e) if is_class(&e, "invalid-webhook") => {
                    return Verdict::Pass(format!("refused: {}", short(&e.to_string())));
                }
                Err(e) => {
                    return fail(
                        sent,
                        shown(&e),
                        "the vendor's current state, or invalid-webhook",
                    );
                }
                Ok(changes) => changes,
            };
            for change in &changes {
                let Some(after) = &change.after else { continue };
                let current = env
                    .connector
                    .fetch(&ctx(), &change.object, &change.key)
                    .await
                    .result;
                let current = match current {
                    Ok(Some(doc)) => doc,
                    Ok(None) => {
                        return fail(
                            sent,
                            format!(
                                "a change of {} {}, which fetch does not find",
                                change.object, change.key
                            ),
                            "no change for an entity the vendor does not hold",
                        );
                    }
                    Err(e) => {
                        return fail(
                            format!("fetch({}, {})", change.object, change.key),
                            shown(&e),
                            "the vendor's current state",
                        );
                    }
                };
                let (a, b) = (parse(after), parse(&current));
                if a != b {
                    return fail(
                        sent,
                        format!("after = {}", short(after)),
                        format!("what the vendor holds now (fetch): {}", short(&current)),
                    );
                }
            }
            Verdict::Pass(format!(
                "{} change(s), each the vendor's current state (the vendor signs no timestamp; the module confirms by reading)",
                changes.len()
            ))
        }
    }
}
