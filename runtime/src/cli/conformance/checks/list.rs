//! The `list.*` check: paging through everything exactly once.

use super::*;

/// Entities the list check seeds.
const LISTED: usize = 5;
/// Its page size.
const PAGE: u32 = 2;

pub(super) async fn list_exactly_once(kit: &Kit) -> Verdict {
    let env = match kit.env().await {
        Ok(env) => env,
        Err(v) => return v,
    };
    let first = env.target.sample(10);
    if let Some(na) = kit.not_a_sink_of(&first.object) {
        return na;
    }
    let object = first.object.clone();
    // Listing is not declared in describe: a module that cannot list says so by answering
    // `unsupported`, which is reported with its own words.
    let sent = format!("list({object}, none, {PAGE})");
    match env.connector.list(&ctx(), &object, None, PAGE).await.result {
        Err(e) if is_class(&e, "unsupported") => {
            return Verdict::NotApplicable(format!(
                "the module answers list with unsupported: {}",
                short(&e.to_string())
            ));
        }
        Err(e) => return fail(sent, shown(&e), "a page"),
        Ok(_) => {}
    }
    let mut keys = Vec::new();
    for n in 0..LISTED {
        let sample = if n == 0 {
            first.clone()
        } else {
            env.target.sample(10 + n)
        };
        if let SampleDoc::Literal(_) = sample.doc {
            let w = match write_of(&env.connector, &sample, &format!("conformance-list-{n}")).await
            {
                Ok(w) => w,
                Err(v) => return v,
            };
            if let Err(v) = applied(&env.connector, &w, kit.manifest()).await {
                return v;
            }
        }
        keys.push(sample.key);
    }
    let (mut seen, mut cursor, mut pages) = (Vec::<String>::new(), None::<String>, 0);
    loop {
        pages += 1;
        let sent = format!(
            "list({object}, {}, {PAGE}) (page {pages})",
            cursor.as_deref().unwrap_or("none")
        );
        let page = match env
            .connector
            .list(&ctx(), &object, cursor.as_deref(), PAGE)
            .await
            .result
        {
            Ok(page) => page,
            Err(e) => return fail(sent, shown(&e), "a page"),
        };
        if page.items.len() > PAGE as usize {
            return fail(
                sent,
                format!("{} items", page.items.len()),
                format!("at most {PAGE}"),
            );
        }
        for item in &page.items {
            if seen.contains(&item.key) {
                return fail(
                    sent,
                    format!("{} again (seen: {})", item.key, seen.join(", ")),
                    "each entity once",
                );
            }
            seen.push(item.key.clone());
        }
        match page.next_cursor {
            Some(next) if Some(&next) == cursor.as_ref() => {
                return fail(
                    sent,
                    format!("next cursor {next}, the cursor it was given"),
                    "a cursor that moves on",
                );
            }
            Some(next) => cursor = Some(next),
            None => break,
        }
        if pages >= 100 {
            return fail(
                sent,
                format!("still more after {pages} pages ({} items)", seen.len()),
                "an end",
            );
        }
    }
    let missing: Vec<&String> = keys.iter().filter(|k| !seen.contains(k)).collect();
    if !missing.is_empty() {
        return fail(
            format!(
                "list({object}) through every page after {LISTED} entities were written or seeded"
            ),
            format!(
                "missing [{}] (listed: {})",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                seen.join(", ")
            ),
            "every entity",
        );
    }
    Verdict::Pass(format!(
        "{} entities in {pages} pages of at most {PAGE}, each once",
        seen.len()
    ))
}
