//! Shared helpers: a host with a per-test cache, and loading test components.

use std::sync::OnceLock;

use junction::host::Host;

/// One host for the whole test binary, with a compiled-component cache under `target/`, so
/// every test after the first loads connectors in milliseconds.
pub fn host() -> Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/junction-test-cache");
        Host::new(Some(dir)).expect("the wasmtime engine starts")
    })
    .clone()
}

/// The hostile test component built by `tests/build.rs`.
pub const HOSTILE: &str = env!("JUNCTION_TEST_COMPONENT_HOSTILE");
/// A sink that answers as each write's document says (`tests/components/scripted`).
pub const SCRIPTED: &str = env!("JUNCTION_TEST_COMPONENT_SCRIPTED");
/// A component whose `describe()` never answers.
pub const SLOW_DESCRIBE: &str = env!("JUNCTION_TEST_COMPONENT_SLOW_DESCRIBE");
/// A sink that says `applied` and writes nothing (the conformance kit's tests).
pub const CARELESS_SINK: &str = env!("JUNCTION_TEST_COMPONENT_CARELESS_SINK");

/// Runs each named `async fn(Backend)` once per backend, as `NAME::sqlite` and
/// `NAME::postgres`, on a two-thread runtime like the engine's.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(crate::support::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(crate::support::Backend::Postgres).await;
                }
            }
        )*
    };
}
pub(crate) use on_both_backends;

/// The store backends the durability tests run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory: the embedded default.
    Sqlite,
    /// A PostgreSQL database of the test's own, dropped after it.
    Postgres,
}

/// A store for one test: its URL, and what keeps it alive until the test ends. A SQLite
/// store's folder is removed afterwards, unless the test failed (then it is kept to look at).
pub struct TestStore {
    /// The URL to open, or to pass as `junction run --store`.
    pub url: String,
    _database: Option<junction::store::testing::TestDatabase>,
    dir: Option<std::path::PathBuf>,
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            if std::thread::panicking() {
                eprintln!("the store is kept in {}", dir.display());
            } else {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

impl Backend {
    /// A fresh, empty store on this backend.
    pub async fn store(self) -> TestStore {
        match self {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!(
                    "junction-store-{}-{}",
                    std::process::id(),
                    rand::random::<u32>()
                ));
                std::fs::create_dir_all(&dir).expect("temp dir");
                TestStore {
                    url: format!("sqlite://{}", dir.join("junction.db").display()),
                    _database: None,
                    dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let database = junction::store::testing::TestDatabase::create().await;
                TestStore {
                    url: database.url().to_owned(),
                    _database: Some(database),
                    dir: None,
                }
            }
        }
    }
}
