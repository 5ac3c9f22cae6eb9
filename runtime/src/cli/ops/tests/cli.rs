//! The command line itself: arguments parse as documented, and a missing store is not created.

use clap::{CommandFactory, Parser};

use super::temp_dir;
use crate::cli::Cli;
use crate::cli::ops::{Access, open};

#[test]
fn the_commands_are_well_formed() {
    Cli::command().debug_assert();
    for args in [
        &["trace", "sub_1", "--json"][..],
        &[
            "dlq",
            "list",
            "--pipeline",
            "p",
            "--route",
            "r",
            "--all",
            "--json",
        ],
        &["dlq", "show", "4", "--json"],
        &["dlq", "redrive", "4", "5"],
        &["dlq", "redrive", "--all", "--pipeline", "p"],
        &["audit", "verify", "--json", "--store", "sqlite://x.db"],
    ] {
        let argv = std::iter::once(&"junction").chain(args);
        assert!(Cli::try_parse_from(argv).is_ok(), "{args:?}");
    }
    for args in [
        &["dlq", "redrive"][..],
        &["dlq", "redrive", "4", "--all"],
        &["dlq", "redrive", "4", "--pipeline", "p"],
        &["dlq", "show", "four"],
        &["trace"],
    ] {
        let argv = std::iter::once(&"junction").chain(args);
        assert!(
            Cli::try_parse_from(argv).is_err(),
            "{args:?} should be refused"
        );
    }
}

#[tokio::test]
async fn a_missing_store_is_an_error_not_a_new_database() {
    let dir = temp_dir();
    let path = dir.join("nowhere.db");
    let url = format!("sqlite://{}", path.display());
    for access in [Access::Read, Access::Repair] {
        let err = open(&url, access).await.expect_err("no store there");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("no store at {}", path.display())),
            "{message}"
        );
        assert!(
            message.contains("run `junction run` first or pass --store"),
            "{message}"
        );
        assert!(!path.exists(), "no empty store was created");
    }
    let _ = std::fs::remove_dir_all(dir);
}
