//! Builds the first-party connectors (`connectors/*`, all but the kit) into components and
//! embeds them in the `junction` binary as `builtin:<name>`.

#[path = "build/guests.rs"]
mod guests;

use std::fmt::Write as _;

fn main() {
    let root = guests::workspace_root();
    let folders: Vec<std::path::PathBuf> = std::fs::read_dir(root.join("connectors"))
        .expect("reading connectors/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    // Connectors written in TypeScript (a package.json) or Python (an app.py) are built by
    // their kits (kits/typescript, kits/python; `junction connector build DIR`) and loaded by
    // path: building them here would make every Rust build need Node.js or Python and take
    // tens of seconds. Their conformance tests build them (tests/it/polyglot.rs).
    let folders: Vec<std::path::PathBuf> = folders
        .into_iter()
        .filter(|p| {
            p.join("Cargo.toml").exists()
                || !(p.join("package.json").exists() || p.join("app.py").exists())
        })
        .collect();
    // A connector folder Junction cannot build (and so cannot test) is an error, not a
    // connector quietly left out of the binary.
    let unbuildable: Vec<String> = folders
        .iter()
        .filter(|p| !p.join("Cargo.toml").exists())
        .map(|p| p.display().to_string())
        .collect();
    if !unbuildable.is_empty() {
        panic!(
            "{} under connectors/ has no Cargo.toml: every folder there is a connector Junction builds into the binary and tests (move other material elsewhere)",
            unbuildable.join(", ")
        );
    }
    let mut names: Vec<String> = folders
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .filter(|name| name != "kit")
        .collect();
    names.sort();
    let packages: Vec<String> = names
        .iter()
        .map(|n| format!("junction-connector-{n}"))
        .collect();
    let wasm = guests::build(&packages);

    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut table = String::from(
        "/// Built-in connectors: (name, component bytes).\nstatic BUILTIN_CONNECTORS: &[(&str, &[u8])] = &[\n",
    );
    for (name, path) in names.iter().zip(&wasm) {
        let dest = out.join(format!("{name}.wasm"));
        std::fs::copy(path, &dest).unwrap_or_else(|e| panic!("copying {}: {e}", path.display()));
        writeln!(
            table,
            "    ({name:?}, include_bytes!({:?})),",
            dest.display().to_string()
        )
        .expect("writing to a String");
    }
    table.push_str("];\n");
    std::fs::write(out.join("builtin_connectors.rs"), table)
        .expect("writing builtin_connectors.rs");

    guests::rerun_if_changed(&[
        root.join("connectors"),
        root.join("wit"),
        root.join("runtime").join("migrations"),
        root.join("Cargo.toml"),
        root.join("Cargo.lock"),
    ]);
}
