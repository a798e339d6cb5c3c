//! Dependencies point inward: `domain` knows nothing of the web, templates, the job queue
//! or the HTTP client; `api`, `dashboard` and `worker` never depend on each other.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// package name → names of its normal and build dependencies (from `cargo metadata`).
fn dependency_graph() -> (BTreeMap<String, BTreeSet<String>>, BTreeMap<String, String>) {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let output = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--manifest-path",
            manifest,
        ])
        .output()
        .expect("running cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");

    let names: BTreeMap<String, String> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut graph = BTreeMap::new();
    for node in metadata["resolve"]["nodes"].as_array().unwrap() {
        let id = node["id"].as_str().unwrap().to_owned();
        let deps = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].as_str() != Some("dev"))
            })
            .map(|d| d["pkg"].as_str().unwrap().to_owned())
            .collect();
        graph.insert(id, deps);
    }
    (graph, names)
}

/// Every package `root` pulls in, by name.
fn closure(root: &str) -> BTreeSet<String> {
    let (graph, names) = dependency_graph();
    let start = names
        .iter()
        .find(|(_, n)| *n == root)
        .map(|(id, _)| id.clone())
        .expect("workspace crate");
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(id) = stack.pop() {
        for dep in graph.get(&id).into_iter().flatten() {
            if seen.insert(dep.clone()) {
                stack.push(dep.clone());
            }
        }
    }
    seen.into_iter().map(|id| names[&id].clone()).collect()
}

#[test]
fn domain_knows_nothing_of_the_web_templates_jobs_or_http_clients() {
    let deps = closure("domain");
    let forbidden: Vec<_> = deps
        .iter()
        .filter(|name| {
            name.starts_with("actix")
                || name.starts_with("askama")
                || name.starts_with("apalis")
                || *name == "reqwest"
        })
        .collect();
    assert!(forbidden.is_empty(), "domain depends on {forbidden:?}");
}

#[test]
fn api_dashboard_and_worker_do_not_depend_on_each_other() {
    let crates = ["api", "dashboard", "worker"];
    for krate in crates {
        let deps = closure(krate);
        for other in crates.iter().filter(|o| **o != krate) {
            assert!(!deps.contains(*other), "{krate} depends on {other}");
        }
        assert!(deps.contains("domain"), "{krate} should build on domain");
    }
}
