//! Stripe's form encoding (`items[0][price]=p`, `metadata[k]=v`, `types[]=a`) parsed into a JSON
//! tree of strings, with typed readers that answer Stripe's validation errors.

use serde_json::{Map, Value};

use super::error::ApiError;

/// Parsed request parameters: nested objects, arrays for indexed keys, strings at the leaves.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Map<String, Value>);

/// Parses a form body or query string.
pub fn parse(raw: &[u8]) -> Result<Params, ApiError> {
    let mut root = Map::new();
    for (key, value) in form_urlencoded::parse(raw) {
        let (base, path) = split_key(&key)?;
        insert(&mut root, &base, &path, value.into_owned(), &key)?;
    }
    Ok(Params(arrays(root)))
}

/// `a[b][0]` -> ("a", ["b", "0"]); `a[]` -> ("a", [""]).
fn split_key(key: &str) -> Result<(String, Vec<String>), ApiError> {
    let bad = || ApiError::bad_request(format!("Invalid parameter name: {key}"));
    let (base, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if base.is_empty() {
        return Err(bad());
    }
    let mut path = Vec::new();
    while !rest.is_empty() {
        let close = rest
            .find(']')
            .filter(|_| rest.starts_with('['))
            .ok_or_else(bad)?;
        path.push(rest[1..close].to_owned());
        rest = &rest[close + 1..];
    }
    Ok((base.to_owned(), path))
}

fn insert(
    map: &mut Map<String, Value>,
    key: &str,
    path: &[String],
    value: String,
    full: &str,
) -> Result<(), ApiError> {
    let Some((next, rest)) = path.split_first() else {
        map.insert(key.to_owned(), Value::String(value));
        return Ok(());
    };
    let child = map
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(child) = child else {
        return Err(ApiError::invalid(
            format!("Invalid value for {full}: mixed a value and nested values"),
            full,
        ));
    };
    // `types[]=a&types[]=b` appends; numbered keys sort numerically in `arrays`.
    let next = if next.is_empty() {
        child.len().to_string()
    } else {
        next.clone()
    };
    insert(child, &next, rest, value, full)
}

/// Objects whose keys are all indexes become arrays, in index order.
fn arrays(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Object(m) => {
                    let m = arrays(m);
                    let mut indexed: Vec<(usize, Value)> = Vec::new();
                    for (k, v) in &m {
                        match k.parse::<usize>() {
                            Ok(i) => indexed.push((i, v.clone())),
                            Err(_) => break,
                        }
                    }
                    if !m.is_empty() && indexed.len() == m.len() {
                        indexed.sort_by_key(|(i, _)| *i);
                        Value::Array(indexed.into_iter().map(|(_, v)| v).collect())
                    } else {
                        Value::Object(m)
                    }
                }
                other => other,
            };
            (k, v)
        })
        .collect()
}

impl Params {
    /// Rejects parameters outside `allowed`, as Stripe does.
    pub fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(ApiError::unknown_param(k)),
            None => Ok(()),
        }
    }

    /// The raw value, if given.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// A string value; `Some("")` means "unset".
    pub fn str(&self, key: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::invalid(
                format!("Invalid string: {key} must be a string"),
                key,
            )),
        }
    }

    /// A non-empty string, or `None` when absent or empty.
    pub fn text(&self, key: &str) -> Result<Option<String>, ApiError> {
        Ok(self.str(key)?.filter(|s| !s.is_empty()).map(str::to_owned))
    }

    /// An integer; an empty string counts as absent.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.str(key)? {
            None | Some("") => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| ApiError::invalid(format!("Invalid integer: {s}"), key)),
        }
    }

    /// A boolean (`true`/`false`); an empty string counts as absent.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.str(key)? {
            None | Some("") => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(s) => Err(ApiError::invalid(format!("Invalid boolean: {s}"), key)),
        }
    }

    /// A nested hash (e.g. `recurring[interval]`), as its own params.
    pub fn hash(&self, key: &str) -> Result<Option<Params>, ApiError> {
        match self.0.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Params(m.clone()))),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(_) => Err(ApiError::invalid(format!("Invalid hash: {key}"), key)),
        }
    }

    /// An indexed array of hashes (`items[0][price]`).
    pub fn list(&self, key: &str) -> Result<Vec<Params>, ApiError> {
        match self.0.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::Object(m) => Ok(Params(m.clone())),
                    _ => Err(ApiError::invalid(format!("Invalid array: {key}"), key)),
                })
                .collect(),
            Some(_) => Err(ApiError::invalid(format!("Invalid array: {key}"), key)),
        }
    }

    /// An array of strings (`types[]=a` or `types[0]=a`).
    pub fn strings(&self, key: &str) -> Result<Vec<String>, ApiError> {
        match self.0.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| ApiError::invalid(format!("Invalid array: {key}"), key))
                })
                .collect(),
            Some(_) => Err(ApiError::invalid(format!("Invalid array: {key}"), key)),
        }
    }

    /// Applies `metadata[k]=v` updates to `current`: `v = ""` deletes a key, `metadata=` clears all.
    pub fn merge_metadata(&self, current: &mut Map<String, Value>) -> Result<(), ApiError> {
        match self.0.get("metadata") {
            None => {}
            Some(Value::String(s)) if s.is_empty() => current.clear(),
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    match v.as_str() {
                        Some("") => {
                            current.remove(k);
                        }
                        Some(s) => {
                            current.insert(k.clone(), Value::String(s.to_owned()));
                        }
                        None => {
                            return Err(ApiError::invalid(
                                "Invalid metadata: values must be strings",
                                "metadata",
                            ));
                        }
                    }
                }
            }
            Some(_) => return Err(ApiError::invalid("Invalid hash: metadata", "metadata")),
        }
        Ok(())
    }
}

/// The parameters in a stable order, so the same request always fingerprints the same way.
pub fn fingerprint(method: &str, path: &str, raw: &[u8]) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(raw).into_owned().collect();
    pairs.sort();
    let mut out = format!("{method} {path}?");
    for (k, v) in pairs {
        out.push_str(&format!("{k}={v}&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn brackets_become_nested_objects_and_indexed_arrays() {
        let p = parse(b"items[1][price]=p2&items[0][price]=p1&items[0][quantity]=3&metadata[k]=v&types[]=a&types[]=b&cancel_at=")
            .expect("parses");
        assert_eq!(
            p.get("items"),
            Some(&json!([{ "price": "p1", "quantity": "3" }, { "price": "p2" }]))
        );
        assert_eq!(p.strings("types").expect("types"), ["a", "b"]);
        assert_eq!(
            p.str("cancel_at").expect("str"),
            Some(""),
            "empty string means unset"
        );
        assert_eq!(
            p.list("items").expect("items")[0]
                .int("quantity")
                .expect("int"),
            Some(3)
        );
        assert!(parse(b"a[b=1").is_err());
        assert!(parse(b"a=1&a[b]=2").is_err());
        assert_eq!(
            p.only(&["items", "types", "cancel_at"])
                .map_err(|e| e.param),
            Err(Some("metadata".to_owned()))
        );
    }
}
