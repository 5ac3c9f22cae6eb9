//! The only code that touches wasmtime: the engine, the compiled-component cache, the linker
//! with fail-closed WASI, per-call sandbox limits, the contract's host imports and the one hook
//! every outbound request passes. The rest of the runtime sees plain Rust types.

mod bindings;
mod builtin;
pub mod cache;
mod egress;
mod engine;
mod instance;
pub mod oauth1;
mod state;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use junction_connector_kit as kit;
use tokio::sync::Semaphore;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, Store};

pub use builtin::{builtin, builtin_names};
pub use egress::{Auth, EgressPolicy, Exchange};
pub use instance::{CallContext, CallError, Called, Connector, WarmInstance};
pub use state::{InstanceSpec, Limits};

/// Why a module could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `builtin:NAME` names no embedded connector.
    #[error("unknown built-in connector `{name}` (built in: {known})")]
    UnknownBuiltin {
        /// The name asked for.
        name: String,
        /// The names that exist.
        known: String,
    },
    /// The module file could not be read.
    #[error("cannot read connector module {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not a component implementing `junction:connector@0.2.0`.
    #[error("{module} is not a usable Junction connector: {reason}")]
    NotAConnector {
        /// The module reference.
        module: String,
        /// What wasmtime said.
        reason: String,
    },
    /// The engine could not be set up.
    #[error("cannot start the WebAssembly engine: {0}")]
    Engine(String),
}

/// A compiled connector module and its manifest.
pub struct Module {
    /// How the pipeline named it (`builtin:stripe`, a path).
    pub reference: String,
    /// SHA-256 of the component bytes.
    pub hash: String,
    /// What the module says about itself.
    pub manifest: kit::Manifest,
    /// Whether the compiled code came from the disk cache.
    pub from_cache: bool,
    pre: bindings::ConnectorPre<state::CallState>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("reference", &self.reference)
            .field("hash", &self.hash)
            .field("manifest", &self.manifest)
            .finish()
    }
}

pub(crate) struct HostInner {
    engine: Engine,
    linker: Linker<state::CallState>,
    cache_dir: Option<PathBuf>,
    slots: Semaphore,
}

/// Loads connector modules and makes instances of them. Cheap to clone.
#[derive(Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("cache_dir", &self.inner.cache_dir)
            .finish()
    }
}

impl Host {
    /// A host whose compiled components are cached in `cache_dir` (none: compile every time).
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Self, Error> {
        let engine = engine::new_engine().map_err(|e| Error::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        let link = |linker: &mut Linker<state::CallState>| -> wasmtime::Result<()> {
            // All of WASI is linked so modules from any toolchain instantiate, but the context
            // grants nothing (see `CallState::new`): it fails closed.
            wasmtime_wasi::p2::add_to_linker_async(linker)?;
            wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
            bindings::junction::connector::types::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
            bindings::junction::connector::host::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
            Ok(())
        };
        link(&mut linker).map_err(|e| Error::Engine(format!("{e:#}")))?;
        let slots = Semaphore::new(engine::MAX_LIVE_INSTANCES);
        Ok(Self {
            inner: Arc::new(HostInner {
                engine,
                linker,
                cache_dir,
                slots,
            }),
        })
    }

    /// Loads `builtin:NAME` or a component file (relative paths against `base_dir`), compiling
    /// it or taking it from the cache, and reads its manifest.
    pub async fn load(
        &self,
        reference: &str,
        base_dir: Option<&Path>,
    ) -> Result<Arc<Module>, Error> {
        let started = Instant::now();
        let bytes: std::borrow::Cow<'static, [u8]> = match reference.strip_prefix("builtin:") {
            Some(name) => builtin(name)
                .ok_or_else(|| Error::UnknownBuiltin {
                    name: name.to_string(),
                    known: builtin_names().collect::<Vec<_>>().join(", "),
                })?
                .into(),
            None => {
                let path =
                    base_dir.map_or_else(|| PathBuf::from(reference), |dir| dir.join(reference));
                std::fs::read(&path)
                    .map_err(|source| Error::Read { path, source })?
                    .into()
            }
        };
        let not_a_connector = |reason: String| Error::NotAConnector {
            module: reference.to_string(),
            reason,
        };
        let hash = cache::module_hash(&bytes);
        let inner = self.inner.clone();
        let (component, from_cache) = {
            let hash = hash.clone();
            tokio::task::spawn_blocking(move || {
                cache::load(&inner.engine, inner.cache_dir.as_deref(), &bytes, &hash)
            })
            .await
            .map_err(|e| not_a_connector(e.to_string()))?
            .map_err(|e| not_a_connector(format!("{e:#}")))?
        };
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| not_a_connector(format!("{e:#}")))?;
        let pre =
            bindings::ConnectorPre::new(pre).map_err(|e| not_a_connector(format!("{e:#}")))?;

        let (state, _journal) = state::CallState::new(
            Arc::new(InstanceSpec::default()),
            Arc::default(),
            None,
            None,
        );
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(500);
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| not_a_connector(format!("{e:#}")))?;
        let manifest = instance
            .call_describe(&mut store)
            .await
            .map_err(|e| not_a_connector(format!("describe failed: {e:#}")))?;
        let manifest = bindings::manifest(manifest);
        tracing::debug!(module = reference, %hash, from_cache, elapsed_ms = started.elapsed().as_millis() as u64, "connector module loaded");
        Ok(Arc::new(Module {
            reference: reference.to_string(),
            hash,
            manifest,
            from_cache,
            pre,
        }))
    }

    /// An instance of `module` with the grants and limits in `spec`.
    pub fn instantiate(&self, module: Arc<Module>, mut spec: InstanceSpec) -> Connector {
        spec.limits.memory_bytes = spec.limits.memory_bytes.min(engine::MAX_MEMORY_BYTES);
        Connector::new(self.inner.clone(), module, spec)
    }
}
