//! Builds guest crates (connectors, test components) for `wasm32-wasip2` from inside a build
//! script, the way wasmtime's test-programs do. Shared by `runtime/build.rs` and
//! `tests/build.rs` through `#[path]`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the build script's package lives one level below it).
pub fn workspace_root() -> PathBuf {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .expect("package sits inside the workspace")
        .to_path_buf()
}

/// Builds the packages and returns each one's `.wasm` path, in the order given.
pub fn build(packages: &[String]) -> Vec<PathBuf> {
    let root = workspace_root();
    check_target_installed();
    let target_dir = root.join("target").join("wasm");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--profile",
            "guest",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir);
    for p in packages {
        cmd.args(["-p", p]);
    }
    // Flags meant for the host build must not leak into the guest build, and the inner cargo
    // needs its own target directory: the outer one holds the lock on ours.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build connector components: {e}"));
    if !status.success() {
        panic!("building connector components for wasm32-wasip2 failed (see the errors above)");
    }
    packages
        .iter()
        .map(|p| {
            target_dir
                .join("wasm32-wasip2")
                .join("guest")
                .join(format!("{}.wasm", p.replace('-', "_")))
        })
        .collect()
}

fn check_target_installed() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let installed =
        sysroot.is_some_and(|s| Path::new(&s).join("lib/rustlib/wasm32-wasip2").exists());
    if !installed {
        panic!("the wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2`");
    }
}

/// Tells cargo to rebuild when anything under these paths changes.
pub fn rerun_if_changed(paths: &[PathBuf]) {
    for p in paths {
        println!("cargo:rerun-if-changed={}", p.display());
    }
}
