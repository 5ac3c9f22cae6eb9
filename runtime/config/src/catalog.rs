//! What validation needs to know about connector modules, behind a trait the host implements.

use std::fmt;
use std::path::PathBuf;

/// Where a connector's module comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ModuleRef {
    /// A connector shipped inside the `junction` binary: `builtin:stripe` is `Builtin("stripe")`.
    Builtin(String),
    /// A WebAssembly component on disk; relative paths are already resolved against the
    /// pipeline file's folder.
    File(PathBuf),
}

impl fmt::Display for ModuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModuleRef::Builtin(name) => write!(f, "builtin:{name}"),
            ModuleRef::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A setting a module takes from `[connectors.NAME.settings]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingInfo {
    /// The setting's key.
    pub name: String,
    /// Validation fails when a required setting is missing.
    pub required: bool,
    /// The value is masked wherever it could be shown.
    pub sensitive: bool,
}

/// What a module declares about itself (its manifest), as far as validation needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleInfo {
    /// The module's own name, e.g. `stripe`.
    pub name: String,
    /// Canonical objects it can read (receive by webhook, poll, fetch).
    pub source_objects: Vec<String>,
    /// Canonical objects it can write.
    pub sink_objects: Vec<String>,
    /// It can verify and decode webhooks.
    pub webhooks: bool,
    /// It can poll for changes with a cursor.
    pub polling: bool,
    /// Its writes may be accepted and finish later (a job to poll).
    pub async_writes: bool,
    /// Its target applies a change at the change's effective date, so future-dated changes can
    /// be passed on at once instead of being held until they are due.
    pub future_dated_writes: bool,
    /// Settings it takes.
    pub settings: Vec<SettingInfo>,
    /// Secrets it uses through the host's hmac; each must be granted by the pipeline.
    pub secrets: Vec<String>,
}

/// Describes modules. The host implements it by loading the component and calling its
/// `describe` export; tests use a fixed table.
pub trait ModuleCatalog {
    /// The module's manifest, or why it cannot be loaded (shown to the operator as is).
    fn describe(&self, module: &ModuleRef) -> Result<ModuleInfo, String>;
}
