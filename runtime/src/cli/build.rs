//! `junction connector build DIR` and `junction connector new NAME --lang rust|ts|python`: the
//! one way to turn a connector folder in any of the three languages into a component, and a
//! scaffold to start from that builds and passes the conformance kit as it is.
//!
//! The language is the folder's: a `Cargo.toml` is Rust (cargo, wasm32-wasip2), a
//! `package.json` TypeScript (kits/typescript/build.mjs), an `app.py` Python
//! (kits/python/build.py). The kits are found in the Junction repository the folder sits in,
//! or under `$JUNCTION_KITS`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use clap::ValueEnum;

/// A connector's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Rust with `junction-connector-kit` (wit-bindgen).
    Rust,
    /// TypeScript with kits/typescript (componentize-js).
    #[value(alias = "typescript")]
    Ts,
    /// Python with kits/python (componentize-py).
    #[value(alias = "py")]
    Python,
}

impl Lang {
    /// The language of a connector folder, from the file that marks it.
    pub fn of(dir: &Path) -> anyhow::Result<Lang> {
        if dir.join("Cargo.toml").is_file() {
            Ok(Lang::Rust)
        } else if dir.join("package.json").is_file() {
            Ok(Lang::Ts)
        } else if dir.join("app.py").is_file() {
            Ok(Lang::Python)
        } else {
            bail!(
                "{} is not a connector folder: it has no Cargo.toml (Rust), package.json (TypeScript) or app.py (Python)",
                dir.display()
            )
        }
    }
}

/// The folder holding `kits/`: `$JUNCTION_KITS/..`, or the first ancestor of `from` with one.
fn kits(from: &Path) -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("JUNCTION_KITS") {
        return Ok(PathBuf::from(dir));
    }
    let start = from
        .canonicalize()
        .with_context(|| format!("{} does not exist", from.display()))?;
    start
        .ancestors()
        .map(|a| a.join("kits"))
        .find(|k| k.join("typescript/build.mjs").is_file())
        .with_context(|| {
            format!(
                "no Junction kits/ folder above {}: set JUNCTION_KITS to the kits/ folder of a Junction checkout",
                from.display()
            )
        })
}

fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {what} (is it installed?)"))?;
    if !status.success() {
        bail!("{what} failed ({status}); see its output above");
    }
    Ok(())
}

/// Builds the connector in `dir` into `out` (default: the kit's, or cargo's, output path);
/// returns the component's path.
pub fn build(dir: &Path, out: Option<&Path>) -> anyhow::Result<PathBuf> {
    match Lang::of(dir)? {
        Lang::Ts => {
            let kits = kits(dir)?;
            let out = out.map_or_else(
                || dir.join("dist").join("connector.wasm"),
                Path::to_path_buf,
            );
            run(
                Command::new("node")
                    .arg(kits.join("typescript/build.mjs"))
                    .arg(dir)
                    .arg("-o")
                    .arg(&out),
                "node kits/typescript/build.mjs",
            )?;
            Ok(out)
        }
        Lang::Python => {
            let kits = kits(dir)?;
            let out = out.map_or_else(
                || dir.join("dist").join("connector.wasm"),
                Path::to_path_buf,
            );
            run(
                Command::new("python3")
                    .arg(kits.join("python/build.py"))
                    .arg(dir)
                    .arg("-o")
                    .arg(&out),
                "python3 kits/python/build.py",
            )?;
            Ok(out)
        }
        Lang::Rust => {
            // `$JUNCTION_CONNECTOR_TARGET_DIR` shares one cargo target directory between
            // connector folders (a test run that builds several, a CI cache).
            let target = std::env::var_os("JUNCTION_CONNECTOR_TARGET_DIR")
                .map_or_else(|| dir.join("target"), PathBuf::from);
            run(
                Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                    .args([
                        "build",
                        "--release",
                        "--target",
                        "wasm32-wasip2",
                        "--manifest-path",
                    ])
                    .arg(dir.join("Cargo.toml"))
                    .arg("--target-dir")
                    .arg(&target)
                    // Flags of an outer build (a build script, `cargo test`) are not this one's.
                    .env_remove("CARGO_TARGET_DIR")
                    .env_remove("RUSTFLAGS")
                    .env_remove("CARGO_ENCODED_RUSTFLAGS")
                    .env_remove("CARGO_BUILD_TARGET")
                    .env_remove("RUSTC_WRAPPER")
                    .env_remove("RUSTC_WORKSPACE_WRAPPER"),
                "cargo build --target wasm32-wasip2",
            )?;
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))?;
            let name = manifest
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once('=')?;
                    (k.trim() == "name").then(|| v.trim().trim_matches('"').replace('-', "_"))
                })
                .context("Cargo.toml names no package")?;
            let built = target.join(format!("wasm32-wasip2/release/{name}.wasm"));
            match out {
                Some(out) => {
                    if let Some(parent) = out.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::fs::copy(&built, out)
                        .with_context(|| format!("copying {}", built.display()))?;
                    Ok(out.to_path_buf())
                }
                None => Ok(built),
            }
        }
    }
}

/// `junction connector build`.
pub fn build_command(dir: &Path, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let built = build(dir, out)?;
    println!("{}", built.display());
    Ok(ExitCode::SUCCESS)
}

/// The three scaffolds are the parity check's sources (parity/README.md): the same small
/// Zendesk ticket connector in each language, which passes `junction connector test --sim
/// zendesk` as generated.
mod templates {
    pub const TS_INDEX: &str = include_str!("../../../connectors/zendesk/src/index.ts");
    pub const PY_APP: &str = include_str!("../../../parity/python/app.py");
    pub const RUST_LIB: &str = include_str!("../../../parity/rust/src/lib.rs");
}

fn readme(name: &str, lang: Lang) -> String {
    let (lang_name, layout, edit) = match lang {
        Lang::Rust => (
            "Rust",
            "Cargo.toml and src/lib.rs (junction-connector-kit's `Connector` trait)",
            "src/lib.rs",
        ),
        Lang::Ts => (
            "TypeScript",
            "package.json, tsconfig.json and src/index.ts (kits/typescript's `Connector`)",
            "src/index.ts",
        ),
        Lang::Python => ("Python", "app.py (kits/python's `Connector`)", "app.py"),
    };
    format!(
        "# {name}: a Junction connector in {lang_name}\n\n\
         Made by `junction connector new {name} --lang {lang}`: {layout}. As generated it is a\n\
         small Zendesk connector (one ticket per invoice that needs support, by external id),\n\
         which passes the conformance kit against Junction's Zendesk simulator. Change\n\
         {edit} into your vendor's connector.\n\n\
         ## Build\n\n    junction connector build . -o dist/{name}.wasm\n\n\
         The output is a WebAssembly component (wasm32-wasip2) that imports only what Junction\n\
         grants: `wasi:http/outgoing-handler` (through the pipeline's allow-list, which adds the\n\
         credentials) and `junction:connector/host` (log, clock, settings, HMAC).\n\n\
         ## Test\n\n    junction connector test dist/{name}.wasm --sim zendesk\n\n\
         runs every contract check (idempotency, read-back, rate limits, 5xx, timeouts,\n\
         validation, credentials, listing, schemas) against a simulator started in-process.\n\n\
         ## Inspect and call\n\n    junction connector inspect dist/{name}.wasm\n    \
         junction connector call dist/{name}.wasm fetch --object invoice --key in_1 --base-url http://127.0.0.1:PORT --setting invoice-field=ID\n\n\
         ## Load it in a pipeline\n\n```toml\n[connectors.{name}]\nmodule = \"connectors/{name}.wasm\"   # a path, relative to the pipeline file\n\
         base-url = \"https://SUBDOMAIN.zendesk.com\"\nauth = {{ scheme = \"basic\", username = \"env:ZENDESK_USER\", password = \"env:ZENDESK_API_TOKEN\" }}\n\
         settings = {{ invoice-field = \"360000000001\" }}\n```\n",
        lang = match lang {
            Lang::Rust => "rust",
            Lang::Ts => "ts",
            Lang::Python => "python",
        }
    )
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Writes a new connector folder `dir/NAME`; returns its path.
pub fn new(name: &str, lang: Lang, parent: &Path) -> anyhow::Result<PathBuf> {
    if !name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        bail!(
            "connector name `{}` must start with a lower-case letter and hold only lower-case letters, digits and dashes",
            crate::config::printable(name)
        );
    }
    let dir = parent.join(name);
    if dir.exists() {
        bail!(
            "{} already exists: choose another name or folder",
            dir.display()
        );
    }
    std::fs::create_dir_all(parent)?;
    let kits = kits(parent)?.canonicalize().context("the kits/ folder")?;
    let display = |p: PathBuf| p.display().to_string().replace('\\', "/");
    match lang {
        Lang::Ts => {
            write(
                &dir.join("package.json"),
                &format!(
                    "{{\n  \"name\": \"{name}\",\n  \"version\": \"0.1.0\",\n  \"private\": true,\n  \"type\": \"module\"\n}}\n"
                ),
            )?;
            let kit = display(kits.join("typescript"));
            write(
                &dir.join("tsconfig.json"),
                &format!(
                    "{{\n  \"extends\": \"{kit}/tsconfig.base.json\",\n  \"compilerOptions\": {{\n    \"paths\": {{ \"@junction/connector-kit\": [\"{kit}/src/index.ts\"] }}\n  }},\n  \"include\": [\"src/**/*.ts\", \"{kit}/src/**/*.ts\", \"{kit}/generated/**/*.ts\"]\n}}\n"
                ),
            )?;
            write(
                &dir.join("src/index.ts"),
                &templates::TS_INDEX.replace("name: \"zendesk\"", &format!("name: \"{name}\"")),
            )?;
            write(&dir.join(".gitignore"), "dist/\n")?;
        }
        Lang::Python => {
            write(
                &dir.join("app.py"),
                &templates::PY_APP.replace("name=\"zendesk\"", &format!("name=\"{name}\"")),
            )?;
            write(&dir.join(".gitignore"), "dist/\n__pycache__/\n")?;
        }
        Lang::Rust => {
            let kit = display(kits.join("../connectors/kit").canonicalize()?);
            write(
                &dir.join("Cargo.toml"),
                &format!(
                    "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
                     # A connector of its own, outside any workspace: `junction connector build .`.\n[workspace]\n\n\
                     [lib]\ncrate-type = [\"cdylib\", \"rlib\"]\n\n[dependencies]\n\
                     junction-connector-kit = {{ path = \"{kit}\" }}\nserde_json = \"1\"\n\n\
                     [profile.release]\nopt-level = 3\nlto = true\ncodegen-units = 1\npanic = \"abort\"\nstrip = \"debuginfo\"\n"
                ),
            )?;
            write(
                &dir.join("src/lib.rs"),
                &templates::RUST_LIB.replace(
                    "name: \"zendesk\".into()",
                    &format!("name: \"{name}\".into()"),
                ),
            )?;
            write(&dir.join(".gitignore"), "target/\ndist/\nCargo.lock\n")?;
        }
    }
    write(&dir.join("README.md"), &readme(name, lang))?;
    Ok(dir)
}
