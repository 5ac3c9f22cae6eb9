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
pub mod oauth2;
mod pool;
mod state;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use junction_connector_kit as kit;
use tokio::sync::Semaphore;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, Store};

pub use builtin::{builtin, builtin_names};
pub use egress::{Auth, EgressPolicy, Exchange, Origin, is_internal_host};
pub use instance::{CallContext, CallError, Called, Connector, WarmInstance};
pub use pool::PoolStats;
pub use state::{DEFAULT_REUSE_LIMIT, InstanceSpec, Limits};

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
    /// Idle warm instances across all connectors (`engine::MAX_IDLE_INSTANCES`).
    idle_slots: Arc<Semaphore>,
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

/// How long a module's `describe()` may take.
pub const DESCRIBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The largest module file Junction reads (componentize-py output is ~18 MB).
pub const MAX_MODULE_BYTES: u64 = 256 << 20;

/// Reads a component file: a regular file (not a FIFO or a device), at most
/// [`MAX_MODULE_BYTES`], starting with the WebAssembly magic, checked before the rest is read.
fn read_module(path: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read as _;
    let failed = |source: std::io::Error| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    let refused = |reason: String| Error::NotAConnector {
        module: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(failed)?;
    if !meta.is_file() {
        return Err(refused("it is not a regular file".into()));
    }
    if meta.len() > MAX_MODULE_BYTES {
        return Err(refused(format!(
            "it has {} bytes, more than the {MAX_MODULE_BYTES} a module may have",
            meta.len()
        )));
    }
    let mut file = std::fs::File::open(path).map_err(failed)?;
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic)
        .map_err(|_| refused("it is too short to be a WebAssembly component".into()))?;
    if magic != *b"\0asm" {
        return Err(refused(
            "it does not start with the WebAssembly magic bytes (\\0asm)".into(),
        ));
    }
    let mut bytes = magic.to_vec();
    file.take(MAX_MODULE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(failed)?;
    Ok(bytes)
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
                idle_slots: Arc::new(Semaphore::new(engine::MAX_IDLE_INSTANCES)),
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
                read_module(&path)?.into()
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
        // `describe()` must not do I/O; a module that computes or waits anyway (a clock, a
        // request) is stopped at this deadline, so `inspect`, `validate` and start-up never hang.
        engine::arm_deadline(&mut store, DESCRIBE_TIMEOUT);
        let described = tokio::time::timeout(DESCRIBE_TIMEOUT + engine::EPOCH_TICK * 5, async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.call_describe(&mut store).await
        })
        .await;
        let manifest = match described {
            Ok(Ok(manifest)) => manifest,
            Ok(Err(e)) => return Err(not_a_connector(format!("describe failed: {e:#}"))),
            Err(_) => {
                return Err(not_a_connector(format!(
                    "describe() did not answer within {DESCRIBE_TIMEOUT:?} (it must not do I/O)"
                )));
            }
        };
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
