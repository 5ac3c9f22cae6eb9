//! "Did you mean ...?": the closest known name to a misspelled one.

/// The candidate closest to `input`, if it is close enough to be the likely intent.
///
/// `base_url` matches `base-url` and `Customer` matches `customer` outright; otherwise the edit
/// distance must be at most a third of the word (at least 1), so short unrelated words do
/// not suggest each other.
pub(crate) fn closest<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let normalized = normalize(input);
    let limit = (input.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != input)
        .map(|c| {
            let distance = if normalize(c) == normalized {
                0
            } else {
                levenshtein(&normalized, &normalize(c))
            };
            (distance, c)
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// A hint naming the closest candidate, if any, and listing the candidates when they are few
/// enough to read in one line.
pub(crate) fn hint<'a, I>(input: &str, candidates: I, what: &str) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let list = format!("{what}: {}", candidates.join(", "));
    match closest(input, candidates.iter().copied()) {
        Some(best) if candidates.len() > 8 => format!("did you mean `{best}`?"),
        Some(best) => format!("did you mean `{best}`? {list}"),
        None if candidates.is_empty() => format!("there are no {what}"),
        None => list,
    }
}

fn normalize(s: &str) -> String {
    s.to_lowercase().replace('_', "-")
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let keys = ["base-url", "allow-hosts", "module"];
        assert_eq!(closest("base_url", keys), Some("base-url"));
        assert_eq!(closest("modul", keys), Some("module"));
        assert_eq!(closest("allow-host", keys), Some("allow-hosts"));
        assert_eq!(closest("timeout", keys), None);
    }

    #[test]
    fn hint_lists_candidates_when_nothing_is_close() {
        assert_eq!(
            hint("sap", ["netsuite", "stripe"], "declared connectors"),
            "declared connectors: netsuite, stripe"
        );
        assert_eq!(
            hint("netsuit", ["netsuite", "stripe"], "declared connectors"),
            "did you mean `netsuite`? declared connectors: netsuite, stripe"
        );
        assert_eq!(
            hint("x", [], "declared connectors"),
            "there are no declared connectors"
        );
    }
}
