//! Golden files: each `tests/ui/NAME.toml` is a bad pipeline, `NAME.err` the exact report.
//! `JUNCTION_BLESS=1 cargo test -p junction --lib config` rewrites the `.err` files.

use std::path::{Path, PathBuf};

use super::super::load;
use super::fakes::{self, FakeCatalog};

/// The report for one file: the diagnostics of a failed load, or the warnings of a
/// successful one, with paths relative to the workspace.
fn report(workspace: &Path, path: &Path) -> String {
    match load(&[path.to_path_buf()], &fakes::env, &FakeCatalog) {
        Ok(loaded) => loaded.warnings.relative_to(workspace).to_string(),
        Err(diagnostics) => diagnostics.relative_to(workspace).to_string(),
    }
}

#[test]
fn bad_pipelines_match_their_golden_files() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let dir = workspace.join("tests/ui");
    let bless = std::env::var("JUNCTION_BLESS").is_ok_and(|v| v == "1");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/ui exists")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 15,
        "expected at least 15 bad pipelines, found {}",
        cases.len()
    );

    let mut failures = Vec::new();
    for case in &cases {
        let actual = report(&workspace, case);
        let golden = case.with_extension("err");
        if actual.is_empty() {
            failures.push(format!("{}: loaded without any problem", case.display()));
            continue;
        }
        if bless {
            std::fs::write(&golden, &actual).expect("write golden file");
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "{} differs from {}\n--- expected\n{expected}\n--- actual\n{actual}",
                case.display(),
                golden.display()
            ));
        }
    }
    let orphans: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/ui exists")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "err"))
        .filter(|path| !path.with_extension("toml").exists())
        .collect();
    for orphan in orphans {
        failures.push(format!("{}: no .toml beside it", orphan.display()));
    }
    assert!(
        failures.is_empty(),
        "{}\n\nrun with JUNCTION_BLESS=1 to accept the new output",
        failures.join("\n\n")
    );
}
