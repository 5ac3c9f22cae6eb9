//! Compile once: compiled components on disk, keyed by the module's SHA-256 and the engine's
//! compatibility hash, so a new wasmtime or different CPU features never load a stale artifact.
//!
//! A cached artifact is native code, so it is trusted only when it proves it is Junction's: each
//! carries an HMAC-SHA256 (over the module's hash and the artifact's bytes) under a key kept
//! beside the cache directory, not in it (`<cache dir>.key`, created on first use, private to
//! its owner), and the directory and files must not be writable by anyone else. A swapped,
//! edited or unsigned artifact is ignored and the module compiled again.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled components live by default: `$JUNCTION_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/junction/components`, else `~/.cache/junction/components`.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("JUNCTION_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("junction").join("components"))
}

/// The module's content hash, hex.
pub fn module_hash(wasm: &[u8]) -> String {
    hex::encode(Sha256::digest(wasm))
}

/// Loads a compiled component from the cache, or compiles and stores it.
pub(crate) fn load(
    engine: &Engine,
    dir: Option<&Path>,
    wasm: &[u8],
    hash: &str,
) -> wasmtime::Result<(Component, bool)> {
    let Some(dir) = dir else {
        return Ok((Component::new(engine, wasm)?, false));
    };
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let path = dir.join(format!("{hash}-{:016x}.cwasm", hasher.finish()));
    let key = match cache_key(dir) {
        Ok(key) => key,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "the component cache is not private; compiling without it");
            return Ok((Component::new(engine, wasm)?, false));
        }
    };
    if path.exists() {
        match verified(&path, &key, hash) {
            Ok(bytes) => {
                // SAFETY: the bytes carry this installation's MAC over this module's hash, so
                // they were written by `precompile_component` of an engine with the same
                // compatibility hash; wasmtime still checks the header and refuses artifacts
                // from another version or configuration.
                #[expect(
                    unsafe_code,
                    reason = "loading a precompiled component is unsafe by wasmtime's contract"
                )]
                let loaded = unsafe { Component::deserialize(engine, &bytes) };
                match loaded {
                    Ok(component) => return Ok((component, true)),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "ignoring an unusable cached component")
                    }
                }
            }
            Err(reason) => {
                tracing::warn!(path = %path.display(), %reason, "ignoring a cached component that is not Junction's; compiling again")
            }
        }
    }
    let compiled = engine.precompile_component(wasm)?;
    let signed = [compiled.as_slice(), &mac(&key, hash, &compiled)].concat();
    if let Err(e) = store_atomically(dir, &path, &signed) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot write the component cache; continuing without it");
    }
    // SAFETY: these bytes were produced a moment ago by this very engine.
    #[expect(
        unsafe_code,
        reason = "loading a precompiled component is unsafe by wasmtime's contract"
    )]
    let component = unsafe { Component::deserialize(engine, &compiled)? };
    Ok((component, false))
}

/// Length of the MAC appended to each artifact.
const MAC_BYTES: usize = 32;

fn mac(key: &[u8; 32], hash: &str, artifact: &[u8]) -> [u8; MAC_BYTES] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(hash.as_bytes());
    mac.update(artifact);
    mac.finalize().into_bytes().into()
}

/// The artifact's bytes if the file is private and its MAC verifies for `hash`.
fn verified(path: &Path, key: &[u8; 32], hash: &str) -> Result<Vec<u8>, String> {
    check_private(path)?;
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let Some(split) = bytes.len().checked_sub(MAC_BYTES) else {
        return Err("too short to carry a MAC".into());
    };
    let (artifact, tag) = bytes.split_at(split);
    let mut check = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    check.update(hash.as_bytes());
    check.update(artifact);
    check.verify_slice(tag).map_err(|_| {
        "its MAC does not verify (swapped, edited, or written by another installation)".to_string()
    })?;
    Ok(artifact.to_vec())
}

/// The installation's cache key, `<dir>.key`: created with owner-only permissions on first use;
/// refused if anyone else may read or write it, or may write the cache directory.
fn cache_key(dir: &Path) -> Result<[u8; 32], String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    make_private(dir, true);
    check_private(dir)?;
    let key_path = dir.with_extension("key");
    if !key_path.exists() {
        let key: [u8; 32] = rand::random();
        let tmp = dir.with_extension(format!("key.{}.tmp", std::process::id()));
        std::fs::write(&tmp, hex::encode(key)).map_err(|e| e.to_string())?;
        make_private(&tmp, false);
        // Another process may have won the race: keep whichever key landed first.
        if std::fs::hard_link(&tmp, &key_path).is_err() && !key_path.exists() {
            return Err(format!("cannot create {}", key_path.display()));
        }
        let _ = std::fs::remove_file(&tmp);
    }
    check_private(&key_path)?;
    let text = std::fs::read_to_string(&key_path).map_err(|e| e.to_string())?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut key)
        .map_err(|_| format!("{} is not a cache key", key_path.display()))?;
    Ok(key)
}

#[cfg(unix)]
fn make_private(path: &Path, dir: bool) {
    use std::os::unix::fs::PermissionsExt;
    let mode = if dir { 0o700 } else { 0o600 };
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

#[cfg(not(unix))]
fn make_private(_path: &Path, _dir: bool) {}

/// Refuses a path that group or others may write (or, for the key, read).
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if meta.file_type().is_symlink() {
        return Err(format!("{} is a symbolic link", path.display()));
    }
    let mode = meta.permissions().mode();
    let forbidden = if meta.is_dir() { 0o022 } else { 0o077 };
    if mode & forbidden != 0 {
        return Err(format!(
            "{} has mode {:o}: others may change it",
            path.display(),
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), String> {
    Ok(())
}

fn store_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("component"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)?;
    make_private(&tmp, false);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        super::super::engine::new_engine().expect("engine")
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "junction-cache-test-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        dir.join("components")
    }

    #[test]
    fn a_cached_artifact_is_used_only_with_its_mac() {
        let engine = engine();
        let dir = temp_dir("mac");
        let stripe = super::super::builtin("stripe").expect("builtin");
        let netsuite = super::super::builtin("netsuite").expect("builtin");
        let (stripe_hash, netsuite_hash) = (module_hash(stripe), module_hash(netsuite));
        assert!(!load(&engine, Some(&dir), stripe, &stripe_hash).unwrap().1);
        assert!(
            load(&engine, Some(&dir), stripe, &stripe_hash).unwrap().1,
            "cached"
        );
        assert!(
            !load(&engine, Some(&dir), netsuite, &netsuite_hash)
                .unwrap()
                .1
        );

        // Another module's artifact (valid native code, correctly signed for *its* hash)
        // swapped in under stripe's name is refused, and stripe compiled again.
        let file = |hash: &str| {
            std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(hash))
                .unwrap()
        };
        std::fs::copy(file(&netsuite_hash), file(&stripe_hash)).unwrap();
        assert!(!load(&engine, Some(&dir), stripe, &stripe_hash).unwrap().1);
        assert!(
            load(&engine, Some(&dir), stripe, &stripe_hash).unwrap().1,
            "re-signed"
        );

        // So is an edited one, and one without a MAC.
        let path = file(&stripe_hash);
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert!(!load(&engine, Some(&dir), stripe, &stripe_hash).unwrap().1);
        std::fs::write(&path, engine.precompile_component(stripe).unwrap()).unwrap();
        assert!(!load(&engine, Some(&dir), stripe, &stripe_hash).unwrap().1);
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn a_cache_others_may_write_is_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let engine = engine();
        let dir = temp_dir("perms");
        let stripe = super::super::builtin("stripe").expect("builtin");
        let hash = module_hash(stripe);
        assert!(!load(&engine, Some(&dir), stripe, &hash).unwrap().1);
        let key = dir.with_extension("key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            !load(&engine, Some(&dir), stripe, &hash).unwrap().1,
            "a readable key proves nothing"
        );
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }
}
