//! The deployment files stay true to the binary: every `docker-compose.yml` service that
//! runs Herald runs a real `herald` sub-command with real settings holding valid values,
//! in the right order; the `Dockerfile` is multi-stage, unprivileged and health-checked.
//! (Docker itself cannot run here; these checks are what can.)

use std::collections::BTreeMap;

use clap::Parser;
use herald::{
    cli::{Cli, Command},
    config::{KNOWN_KEYS, Settings},
    startup, telemetry,
};
use yaml_rust2::{Yaml, YamlLoader};

fn root(file: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `.env.example` as name → value.
fn env_example() -> BTreeMap<String, String> {
    root(".env.example")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("NAME=value lines");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Expands `${NAME}`, `${NAME:-default}` and `${NAME:?message}` as compose does, from
/// `vars`; a variable with no value and no default is an error.
fn expand(value: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed ${") + start;
        let inner = &rest[start + 2..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner.split(":?").next().unwrap(), None),
        };
        let known = vars.get(name).filter(|v| !v.is_empty()).cloned();
        out.push_str(
            &known
                .or(default.map(str::to_owned))
                .unwrap_or_else(|| panic!("`{name}` has no value in .env.example and no default")),
        );
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn str_list(yaml: &Yaml) -> Vec<String> {
    yaml.as_vec()
        .unwrap_or_else(|| panic!("expected a list, got {yaml:?}"))
        .iter()
        .map(|y| y.as_str().expect("strings").to_owned())
        .collect()
}

#[test]
fn compose_runs_real_herald_commands_with_real_settings() {
    let docs = YamlLoader::load_from_str(&root("docker-compose.yml")).expect("valid YAML");
    let services = docs[0]["services"].as_hash().expect("services");
    let mut vars = env_example();
    for name in ["POSTGRES_PASSWORD", "HERALD_JWT_SECRET", "HERALD_MAIN_KEY"] {
        assert_eq!(
            vars.get(name).map(String::as_str),
            Some(""),
            ".env.example lists {name} and leaves it for the operator"
        );
    }
    // What an operator would fill in.
    vars.insert("POSTGRES_PASSWORD".into(), "0123abcd".into());
    vars.insert(
        "HERALD_JWT_SECRET".into(),
        "compose-check-jwt-secret-0123456789abcdef".into(),
    );
    vars.insert(
        "HERALD_MAIN_KEY".into(),
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(),
    );

    let postgres = &docs[0]["services"]["postgres"];
    assert!(
        postgres["healthcheck"]["test"].as_vec().is_some(),
        "PostgreSQL has a health check"
    );
    assert!(
        str_list(&postgres["volumes"])
            .iter()
            .any(|v| v.ends_with(":/var/lib/postgresql/data")),
        "PostgreSQL keeps its data in a volume"
    );

    let mut roles = Vec::new();
    for (name, service) in services {
        let name = name.as_str().unwrap();
        if service["image"].as_str() != Some("herald:latest") {
            continue;
        }
        let args = str_list(&service["command"]);
        let cli = Cli::try_parse_from(std::iter::once("herald".to_owned()).chain(args.clone()))
            .unwrap_or_else(|e| panic!("{name}: `herald {}` is not a command: {e}", args.join(" ")));
        roles.push((name.to_owned(), cli.command));

        let env = service["environment"].as_hash().expect("environment map");
        let mut pairs = Vec::new();
        for (key, value) in env {
            let key = key.as_str().unwrap();
            let setting = key
                .strip_prefix("HERALD_")
                .unwrap_or_else(|| panic!("{name}: {key} is not a Herald setting"))
                .to_ascii_lowercase();
            assert!(
                KNOWN_KEYS.contains(&setting.as_str()),
                "{name}: {key} is not a Herald setting"
            );
            let value = match value {
                Yaml::String(s) => s.clone(),
                other => panic!("{name}: {key} should be a string, got {other:?}"),
            };
            pairs.push((key.to_owned(), expand(&value, &vars)));
        }
        let settings = Settings::load_from(None, pairs)
            .unwrap_or_else(|e| panic!("{name}: the settings do not load: {e:#}"));
        assert!(
            settings
                .database_url
                .starts_with("postgres://herald:0123abcd@postgres:5432/"),
            "{name}: {}",
            settings.database_url
        );
        assert!(
            settings.jwt_secret.is_some() && settings.main_key.is_some(),
            "{name}"
        );
        startup::worker_settings(&settings).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        telemetry::LogFormat::parse(&settings.log_format).unwrap();
    }
    let role = |wanted: fn(&Command) -> bool| {
        roles
            .iter()
            .filter(|(_, c)| wanted(c))
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(role(|c| matches!(c, Command::Migrate)), ["migrate"]);
    assert_eq!(role(|c| matches!(c, Command::Api)), ["api"]);
    assert_eq!(role(|c| matches!(c, Command::Worker)), ["worker"]);

    let depends = |service: &str, on: &str| {
        docs[0]["services"][service]["depends_on"][on]["condition"]
            .as_str()
            .map(str::to_owned)
    };
    assert_eq!(depends("migrate", "postgres").as_deref(), Some("service_healthy"));
    for service in ["api", "worker"] {
        assert_eq!(
            depends(service, "migrate").as_deref(),
            Some("service_completed_successfully"),
            "{service} starts after the migration"
        );
    }
    // Scalable workers: no fixed name, no published port.
    let worker = &docs[0]["services"]["worker"];
    assert!(worker["container_name"].is_badvalue() && worker["ports"].is_badvalue());
    assert_eq!(
        str_list(&docs[0]["services"]["api"]["ports"]),
        ["${HERALD_PORT:-8080}:8080"]
    );
}

#[test]
fn the_dockerfile_is_multi_stage_unprivileged_and_health_checked() {
    let dockerfile = root("Dockerfile");
    let lines: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    let with = |prefix: &'static str| lines.iter().filter(move |l| l.starts_with(prefix));
    assert!(with("FROM ").count() >= 2, "a build stage and a runtime stage");
    assert!(dockerfile.contains("cargo build --release --locked -p herald"));
    let user = with("USER ").next_back().expect("a USER line");
    assert!(
        !matches!(user.trim_start_matches("USER ").trim(), "root" | "0"),
        "{user}"
    );
    assert!(
        with("HEALTHCHECK ").any(|l| l.ends_with(r#"CMD ["herald", "health"]"#)),
        "the health check uses the binary itself"
    );
    assert!(with("ENTRYPOINT ").any(|l| *l == r#"ENTRYPOINT ["herald"]"#));
    let cmd = with("CMD ").next_back().expect("a default CMD");
    let default: Vec<String> = serde_json::from_str(cmd.trim_start_matches("CMD ")).unwrap();
    let cli = Cli::try_parse_from(std::iter::once("herald".to_owned()).chain(default)).unwrap();
    assert!(matches!(cli.command, Command::Serve));
    Cli::try_parse_from(["herald", "health"]).expect("`herald health` exists");
}
