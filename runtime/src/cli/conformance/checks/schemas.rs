//! The `schema.*` check: every document matches its canonical schema and its key.

use super::*;

pub(super) async fn schema_documents(kit: &Kit) -> Verdict {
    let m = kit.manifest();
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    // (where it came from, object, key it was answered for, document)
    let mut docs: Vec<(String, String, Option<String>, String)> = Vec::new();
    let sample = env.target.sample(4);
    if kit.not_a_sink_of(&sample.object).is_none() {
        let w = match write_of(&env.connector, &sample, "conformance-schema-1").await {
            Ok(w) => w,
            Err(v) => return v,
        };
        if let Err(v) = applied(&env.connector, &w, m).await {
            return v;
        }
        match env.connector.fetch(&ctx(), &w.object, &w.key).await.result {
            Ok(Some(doc)) => docs.push((
                format!("fetch({}, {})", w.object, w.key),
                w.object.clone(),
                Some(w.key.clone()),
                doc,
            )),
            Ok(None) => {
                return fail(
                    format!("fetch({}, {}) after apply", w.object, w.key),
                    "none",
                    "the document",
                );
            }
            Err(e) => {
                return fail(
                    format!("fetch({}, {})", w.object, w.key),
                    shown(&e),
                    "a canonical document",
                );
            }
        }
        match env.connector.expected(&ctx(), w.clone()).await.result {
            Ok(doc) => docs.push((
                format!("expected({} {})", w.object, w.key),
                w.object.clone(),
                Some(w.key.clone()),
                doc,
            )),
            Err(e) => {
                return fail(
                    format!("expected({} {})", w.object, w.key),
                    shown(&e),
                    "a canonical document",
                );
            }
        }
        match env.connector.list(&ctx(), &w.object, None, 10).await.result {
            Ok(page) => docs.extend(page.items.into_iter().map(|i| {
                (
                    format!("list({}, none, 10)", w.object),
                    w.object.clone(),
                    Some(i.key),
                    i.document,
                )
            })),
            Err(e) if is_class(&e, "unsupported") => {}
            Err(e) => {
                return fail(
                    format!("list({}, none, 10)", w.object),
                    shown(&e),
                    "canonical documents",
                );
            }
        }
    }
    if m.webhooks
        && let Some(hook) = env.target.webhook(HookKind::Genuine)
    {
        match env.connector.receive(&ctx(), hook).await.result {
            Ok(changes) => {
                for c in changes {
                    for d in [&c.before, &c.after].into_iter().flatten() {
                        docs.push((
                            format!("receive: change {} {}", c.object, c.key),
                            c.object.clone(),
                            Some(c.key.clone()),
                            d.clone(),
                        ));
                    }
                }
            }
            Err(e) => return fail("receive(a genuine webhook)", shown(&e), "canonical changes"),
        }
    }
    if m.polling {
        for object in &m.source_objects {
            match env.connector.poll(&ctx(), object, None, 10).await.result {
                Ok(page) => {
                    for c in page.changes {
                        for d in [&c.before, &c.after].into_iter().flatten() {
                            docs.push((
                                format!("poll({object}): change {}", c.key),
                                c.object.clone(),
                                Some(c.key.clone()),
                                d.clone(),
                            ));
                        }
                    }
                }
                Err(e) => {
                    return fail(
                        format!("poll({object}, none, 10)"),
                        shown(&e),
                        "canonical changes",
                    );
                }
            }
        }
    }
    if docs.is_empty() {
        return Verdict::NotApplicable("the module returned no documents to check (describe declares no sink objects, and no webhook or poll yielded changes)".into());
    }
    for (from, object, key, doc) in &docs {
        if let Err(e) = canonical::validate(object, doc) {
            return fail(
                from.clone(),
                short(doc),
                format!("a {object} document matching its schema: {e}"),
            );
        }
        let id = parse(doc)["id"].clone();
        if let (Some(key), Some(id)) = (key, id.as_str())
            && id != key
        {
            return fail(
                from.clone(),
                format!("a document with id {id}"),
                format!("the id it was answered for, {key}"),
            );
        }
    }
    let kinds: HashSet<&str> = docs.iter().map(|d| d.1.as_str()).collect();
    let mut kinds: Vec<&str> = kinds.into_iter().collect();
    kinds.sort_unstable();
    Verdict::Pass(format!(
        "{} documents ({}) match their schemas and keys",
        docs.len(),
        kinds.join(", ")
    ))
}
