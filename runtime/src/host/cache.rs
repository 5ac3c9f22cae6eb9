//! Compile once: compiled components on disk, keyed by the module's SHA-256 and the engine's
//! compatibility hash, so a new wasmtime or different CPU features never load a stale artifact.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

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
    if path.exists() {
        // SAFETY: the file was written by `precompile_component` of an engine with the same
        // compatibility hash, into a cache directory only Junction writes; wasmtime still
        // checks the header and refuses artifacts from another version or configuration.
        #[expect(
            unsafe_code,
            reason = "loading a precompiled component is unsafe by wasmtime's contract"
        )]
        let loaded = unsafe { Component::deserialize_file(engine, &path) };
        match loaded {
            Ok(component) => return Ok((component, true)),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring an unusable cached component")
            }
        }
    }
    let compiled = engine.precompile_component(wasm)?;
    if let Err(e) = store_atomically(dir, &path, &compiled) {
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
    std::fs::rename(&tmp, path)
}
