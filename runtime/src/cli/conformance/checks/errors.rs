//! The `errors.*` checks: the vendor's failures come back as the contract's variants.

use super::*;

/// Runs `probe` with `faults` switched on (after one clean call, so credentials are in hand);
/// answers the error, or the verdict that ends the check.
pub(super) async fn faulted(
    env: &Env,
    c: &Connector,
    probe: &Probe,
    faults: Faults,
) -> Result<CallError, Verdict> {
    env.target.faults().set(Faults::default());
    if let Err(e) = probe.call(c).await {
        return Err(fail(
            probe.sent(),
            shown(&e),
            "an answer without faults, before they are switched on",
        ));
    }
    env.target.faults().set(faults);
    let answer = probe.call(c).await;
    env.target.faults().set(Faults::default());
    match answer {
        Err(e) => Ok(e),
        Ok(()) => Err(fail(
            probe.sent(),
            "success",
            "an error (the simulator refused the request)",
        )),
    }
}

pub(super) async fn errors_rate_limited(kit: &Kit) -> Verdict {
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let Some(probe) = Probe::of(kit, &env) else {
        return no_probe(kit);
    };
    let faults = Faults {
        rate_limit_rate: 1.0,
        retry_after_s: 7,
        ..Faults::default()
    };
    let sent = format!(
        "{} while the simulator answers 429 with Retry-After: 7",
        probe.sent()
    );
    let e = match faulted(&env, &env.connector, &probe, faults.clone()).await {
        Ok(e) => e,
        Err(v) => return v,
    };
    let wanted = if env.target.retry_after() {
        "rate-limited with retry-after-ms 7000"
    } else {
        "rate-limited"
    };
    match &e {
        CallError::Connector(kit::Error::RateLimited(ms))
            if !env.target.retry_after() || *ms == Some(7000) => {}
        _ => return fail(sent, shown(&e), wanted),
    }
    // A write refused by throttling writes nothing.
    let sample = env.target.sample(3);
    if kit.not_a_sink_of(&sample.object).is_none() {
        let w = match write_of(&env.connector, &sample, "conformance-throttled-1").await {
            Ok(w) => w,
            Err(v) => return v,
        };
        let before = env.target.actions(&sample);
        let sent = format!(
            "{} while the simulator answers 429 with Retry-After: 7",
            sent_apply(&w)
        );
        // A simulator that answers before it has read the request body closes the connection,
        // and the answer can be lost with it (the client sees the body write fail): that is the
        // network, not the module, so such an attempt is tried again, a few times.
        let mut attempts = Vec::new();
        let mut limited = false;
        for _ in 0..5 {
            env.target.faults().set(faults.clone());
            let answer = drive(&env.connector, &w, kit.manifest()).await;
            env.target.faults().set(Faults::default());
            match answer {
                Driven::Failed(CallError::Connector(kit::Error::RateLimited(ms)))
                    if !env.target.retry_after() || ms == Some(7000) =>
                {
                    limited = true;
                    break;
                }
                Driven::Failed(CallError::Connector(kit::Error::Transient { message, .. }))
                    if message.contains("request body") =>
                {
                    attempts.push(message);
                }
                Driven::Failed(e) => return fail(sent, shown(&e), wanted),
                Driven::Done(id) => return fail(sent, format!("applied ({id})"), wanted),
                Driven::Broken(why) => return fail(sent, why, wanted),
            }
        }
        if !limited {
            return fail(
                sent,
                format!(
                    "the connection closed before the answer could be read, {} times: {}",
                    attempts.len(),
                    attempts.join("; ")
                ),
                wanted,
            );
        }
        let after = env.target.actions(&sample);
        if after != before {
            return fail(
                sent,
                format!("{}: {before} -> {after}", env.target.actions_meaning()),
                "nothing written",
            );
        }
    }
    Verdict::Pass(format!("{wanted}, for reads and writes"))
}

pub(super) async fn errors_server_error(kit: &Kit) -> Verdict {
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let Some(probe) = Probe::of(kit, &env) else {
        return no_probe(kit);
    };
    let cases = [
        (
            "500",
            Faults {
                error_rate: 1.0,
                ..Faults::default()
            },
        ),
        (
            "503 (an outage)",
            Faults {
                outage: true,
                ..Faults::default()
            },
        ),
    ];
    let mut seen = Vec::new();
    for (what, faults) in cases {
        let e = match faulted(&env, &env.connector, &probe, faults).await {
            Ok(e) => e,
            Err(v) => return v,
        };
        if !is_class(&e, "transient") {
            return fail(
                format!("{} while the simulator answers {what}", probe.sent()),
                shown(&e),
                "transient",
            );
        }
        seen.push(what);
    }
    Verdict::Pass(format!("transient for {}", seen.join(" and ")))
}

pub(super) async fn errors_timeout(kit: &Kit) -> Verdict {
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let Some(probe) = Probe::of(kit, &env) else {
        return no_probe(kit);
    };
    // A short request deadline, well inside the call's.
    let deadline = Duration::from_secs(1);
    let c = kit.instance(env.target.as_ref(), Credentials::Good, deadline);
    let faults = Faults {
        timeout_rate: 1.0,
        hang_ms: 10_000,
        ..Faults::default()
    };
    let e = match faulted(&env, &c, &probe, faults).await {
        Ok(e) => e,
        Err(v) => return v,
    };
    if is_class(&e, "transient") {
        return Verdict::Pass(format!("transient after the {deadline:?} request deadline"));
    }
    fail(
        format!(
            "{} while the simulator does not answer (request deadline {deadline:?})",
            probe.sent()
        ),
        shown(&e),
        "transient",
    )
}

pub(super) async fn errors_validation(kit: &Kit) -> Verdict {
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let sample = env.target.invalid();
    if let Some(na) = kit.not_a_sink_of(&sample.object) {
        return na;
    }
    let w = match write_of(&env.connector, &sample, "conformance-invalid-1").await {
        Ok(w) => w,
        Err(v) => return v,
    };
    match drive(&env.connector, &w, kit.manifest()).await {
        Driven::Failed(CallError::Connector(kit::Error::Rejected { message, field })) => {
            Verdict::Pass(format!(
                "rejected{}: {}",
                field.map(|f| format!(" (field {f})")).unwrap_or_default(),
                short(&message)
            ))
        }
        Driven::Failed(e) => fail(
            sent_apply(&w),
            shown(&e),
            "rejected (the vendor refused it on its merits)",
        ),
        Driven::Done(id) => fail(
            sent_apply(&w),
            format!("applied ({id})"),
            "rejected (the vendor refused it on its merits)",
        ),
        Driven::Broken(why) => fail(sent_apply(&w), why, "rejected"),
    }
}

pub(super) async fn errors_unauthorized(kit: &Kit) -> Verdict {
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let Some(probe) = Probe::of(kit, &env) else {
        return no_probe(kit);
    };
    let c = kit.instance(env.target.as_ref(), Credentials::Wrong, kit.timeout);
    let sent = format!("{} with credentials the simulator refuses", probe.sent());
    match probe.call(&c).await {
        Err(e) if is_class(&e, "unauthorized") => Verdict::Pass("unauthorized".into()),
        Err(e) => fail(sent, shown(&e), "unauthorized"),
        Ok(()) => fail(sent, "success", "unauthorized"),
    }
}
