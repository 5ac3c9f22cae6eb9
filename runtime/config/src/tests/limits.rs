//! Files a pipeline names are read only when regular and small, and a file with a flood of
//! problems yields a report of bounded size.

use std::path::{Path, PathBuf};

use super::super::*;
use super::fakes::{self, FakeCatalog};

/// A fresh folder under the system's temporary one, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("junction-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary folder");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn failed_load(paths: &[PathBuf]) -> String {
    match load(paths, &fakes::env, &FakeCatalog) {
        Ok(loaded) => panic!("expected a failed load, got {} plans", loaded.plans.len()),
        Err(diagnostics) => diagnostics.to_string(),
    }
}

#[test]
fn a_pipeline_file_larger_than_the_limit_is_not_read() {
    let dir = TempDir::new("big-pipeline");
    let path = dir.0.join("big.toml");
    let mut text = String::from("[pipeline]\nname = \"big\"\n");
    while (text.len() as u64) <= MAX_PIPELINE_FILE {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&path, text).expect("write");
    let report = failed_load(&[path.clone()]);
    assert!(
        report.starts_with("error: cannot read pipeline file: it is larger than 1024 KiB\n"),
        "{report}"
    );
    assert!(report.contains(&path.display().to_string()), "{report}");
}

#[test]
fn devices_and_fifos_are_refused_as_pipeline_files() {
    let report = failed_load(&[PathBuf::from("/dev/zero")]);
    assert!(
        report.starts_with(
            "error: cannot read pipeline file: it is a character device, not a regular file\n --> /dev/zero\n"
        ),
        "{report}"
    );

    // A FIFO nobody writes to: opening it for reading would wait forever.
    let dir = TempDir::new("fifo-pipeline");
    let fifo = dir.0.join("pipeline.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo failed");
    let report = failed_load(&[fifo]);
    assert!(
        report.starts_with("error: cannot read pipeline file: it is a FIFO, not a regular file\n"),
        "{report}"
    );
}

#[test]
fn a_secret_file_larger_than_the_limit_is_refused() {
    let dir = TempDir::new("big-secret");
    std::fs::write(
        dir.0.join("key.pem"),
        vec![b'k'; MAX_SECRET_FILE as usize + 1],
    )
    .expect("write");
    let text = "\
[pipeline]
name = \"big-secret\"

[connectors.stripe]
module = \"builtin:stripe\"
secrets = { webhook = \"file:key.pem\" }

[[source]]
connector = \"stripe\"
webhook = \"/hooks/stripe\"
objects = [\"customer\"]
";
    let file = dir.0.join("pipeline.toml");
    let report = match load_str(&file, text, &fakes::env, &FakeCatalog) {
        Ok(_) => panic!("a 64 KiB + 1 secret file must be refused"),
        Err(diagnostics) => diagnostics.to_string(),
    };
    assert!(
        report.contains(
            "error: cannot read secret file `key.pem` for secrets.webhook: it is larger than 64 KiB\n"
        ),
        "{report}"
    );
}

#[test]
fn a_flood_of_unknown_keys_gives_a_short_report() {
    let mut text = String::from("[pipeline]\nname = \"flood\"\n");
    for i in 0..20_000 {
        text.push_str(&format!("[junk-{i}]\n"));
    }
    let diagnostics = match load_str(Path::new("flood.toml"), &text, &fakes::env, &FakeCatalog) {
        Ok(_) => panic!("unknown tables must fail the load"),
        Err(diagnostics) => diagnostics,
    };
    let report = diagnostics.to_string();
    assert!(
        diagnostics.len() <= 101,
        "{} diagnostics",
        diagnostics.len()
    );
    assert!(report.len() < 64 << 10, "{} bytes of report", report.len());
    assert!(
        report.contains(
            "error: 19900 more problems in this file not shown (19900 errors, 0 warnings)\n"
        ),
        "{}",
        &report[report.len().saturating_sub(2_000)..]
    );
}
