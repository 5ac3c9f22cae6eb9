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
                distance(&normalized, &normalize(c))
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

/// Edit distance where swapping two neighbouring letters (`emial`) costs one edit, like an
/// insertion, deletion or substitution: the optimal string alignment distance.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows: two back (for transpositions), one back, and the current one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for i in 0..a.len() {
        let mut current = vec![i + 1; b.len() + 1];
        for j in 0..b.len() {
            let substitution = previous[j] + usize::from(a[i] != b[j]);
            let mut best = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                best = best.min(before[j - 1] + 1);
            }
            current[j + 1] = best;
        }
        before = std::mem::replace(&mut previous, current);
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
    fn a_swap_of_two_letters_is_one_edit() {
        assert_eq!(distance("emial", "email"), 1);
        assert_eq!(distance("email", "email"), 0);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(closest("emial", ["email", "name", "phone"]), Some("email"));
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
