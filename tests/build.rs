//! Builds the test components (`tests/components/*`) for wasm32-wasip2, and fails the build
//! when a first-party connector has no integration tests (`tests/it/connector_<name>.rs`).

#[path = "../runtime/build/guests.rs"]
mod guests;

fn main() {
    let root = guests::workspace_root();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root.join("connectors"))
        .expect("reading connectors/")
        .filter_map(Result::ok)
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "kit" || !entry.path().join("Cargo.toml").exists() {
            continue;
        }
        let test = root
            .join("tests")
            .join("it")
            .join(format!("connector_{name}.rs"));
        if !test.exists() {
            missing.push(format!(
                "connector `{name}` has no integration tests: add {}",
                test.display()
            ));
        }
    }
    if !missing.is_empty() {
        panic!("{}", missing.join("\n"));
    }

    let components = ["hostile", "scripted", "slow-describe", "careless-sink"];
    let packages: Vec<String> = components
        .iter()
        .map(|c| format!("junction-test-{c}"))
        .collect();
    let wasm = guests::build(&packages);
    for (name, path) in components.iter().zip(&wasm) {
        println!(
            "cargo:rustc-env=JUNCTION_TEST_COMPONENT_{}={}",
            name.to_uppercase().replace('-', "_"),
            path.display()
        );
    }
    guests::rerun_if_changed(&[
        root.join("tests").join("components"),
        root.join("connectors"),
        root.join("tests").join("it"),
        root.join("wit"),
    ]);
}
