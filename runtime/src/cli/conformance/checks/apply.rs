//! The `apply.*` checks: one business action per idempotency key, and read-back as `expected` says.

use super::*;

pub(super) async fn apply_idempotent(kit: &Kit) -> Verdict {
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let sample = env.target.sample(1);
    if let Some(na) = kit.not_a_sink_of(&sample.object) {
        return na;
    }
    let w = match write_of(&env.connector, &sample, "conformance-idempotent-1").await {
        Ok(w) => w,
        Err(v) => return v,
    };
    let before = env.target.actions(&sample);
    if let Err(v) = applied(&env.connector, &w, kit.manifest()).await {
        return v;
    }
    let once = env.target.actions(&sample);
    if once == before {
        return fail(
            sent_apply(&w),
            format!(
                "applied, yet the simulator shows no business action ({}: {before} before and after)",
                env.target.actions_meaning()
            ),
            "the write performed at the vendor",
        );
    }
    if let Err(v) = applied(&env.connector, &w, kit.manifest()).await {
        return v;
    }
    let twice = env.target.actions(&sample);
    if twice != once {
        return fail(
            format!("the same {} again", sent_apply(&w)),
            format!(
                "{}: {before} before, {once} after the first apply, {twice} after the second",
                env.target.actions_meaning()
            ),
            "no business action for the second apply",
        );
    }
    Verdict::Pass(format!(
        "{}: {before} -> {once} -> {twice}",
        env.target.actions_meaning()
    ))
}

pub(super) async fn apply_read_back(kit: &Kit) -> Verdict {
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let sample = env.target.sample(2);
    if let Some(na) = kit.not_a_sink_of(&sample.object) {
        return na;
    }
    let w = match write_of(&env.connector, &sample, "conformance-read-back-1").await {
        Ok(w) => w,
        Err(v) => return v,
    };
    if let Err(v) = applied(&env.connector, &w, kit.manifest()).await {
        return v;
    }
    let expected = match env.connector.expected(&ctx(), w.clone()).await.result {
        Ok(doc) => parse(&doc),
        Err(e) => {
            return fail(
                format!("expected({} {})", w.object, w.key),
                shown(&e),
                "the document fetch returns once the write took effect",
            );
        }
    };
    let sent = format!("fetch({}, {}) after {}", w.object, w.key, sent_apply(&w));
    let back = match env.connector.fetch(&ctx(), &w.object, &w.key).await.result {
        Ok(Some(doc)) => parse(&doc),
        Ok(None) => return fail(sent, "none", "the document written"),
        Err(e) => return fail(sent, shown(&e), "the document written"),
    };
    if back == expected {
        return Verdict::Pass(format!(
            "fetch returns what `expected` said ({} fields)",
            back.as_object().map_or(0, |o| o.len())
        ));
    }
    let differing: Vec<String> = match (back.as_object(), expected.as_object()) {
        (Some(b), Some(e)) => b
            .keys()
            .chain(e.keys())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter(|k| b.get(*k) != e.get(*k))
            .map(|k| {
                format!(
                    "{k}: read {} but expected {}",
                    b.get(k).unwrap_or(&Value::Null),
                    e.get(k).unwrap_or(&Value::Null)
                )
            })
            .collect(),
        _ => vec![format!("read {back}, expected {expected}")],
    };
    fail(
        sent,
        short(&differing.join("; ")),
        "the document `expected` says the target keeps",
    )
}
