//! Configuration layering: defaults, then the file, then `HERALD_*` variables.

use herald::config::Settings;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn write(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let path = dir.path().join("herald.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn defaults_need_no_configuration() {
    let s = Settings::load_from(None, env(&[])).unwrap();
    assert_eq!(s.database_url, "sqlite://herald.db");
    assert_eq!(s.listen, "127.0.0.1:8080");
    assert!(s.jwt_secret.is_none() && s.main_key.is_none());
}

#[test]
fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        "listen = \"0.0.0.0:9000\"\ndatabase_max_connections = 3\nlog = \"debug\"\n",
    );
    let s = Settings::load_from(Some(&file), env(&[])).unwrap();
    assert_eq!(
        (s.listen.as_str(), s.database_max_connections, s.log.as_str()),
        ("0.0.0.0:9000", Some(3), "debug")
    );
    assert_eq!(
        s.database_url, "sqlite://herald.db",
        "untouched keys keep their defaults"
    );

    let s = Settings::load_from(
        Some(&file),
        env(&[
            ("HERALD_LISTEN", "127.0.0.1:7000"),
            ("HERALD_DATABASE_MAX_CONNECTIONS", "9"),
            ("OTHER", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(
        (s.listen.as_str(), s.database_max_connections, s.log.as_str()),
        ("127.0.0.1:7000", Some(9), "debug")
    );
}

#[test]
fn secrets_come_from_the_environment_and_stay_hidden() {
    let s = Settings::load_from(
        None,
        env(&[
            ("HERALD_JWT_SECRET", "a-jwt-secret-of-some-length-here!"),
            ("HERALD_MAIN_KEY", "c2VjcmV0"),
        ]),
    )
    .unwrap();
    assert_eq!(
        s.jwt_secret.as_ref().unwrap().expose(),
        "a-jwt-secret-of-some-length-here!"
    );
    let debug = format!("{s:?}");
    assert!(
        !debug.contains("a-jwt-secret") && !debug.contains("c2VjcmV0"),
        "{debug}"
    );
}

#[test]
fn mistakes_are_clear_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let typo = write(&dir, "lisen = \"0.0.0.0:9000\"\n");
    let err = Settings::load_from(Some(&typo), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown setting `lisen`"), "{err}");

    let bad = write(&dir, "database_max_connections = \"many\"\n");
    let err = Settings::load_from(Some(&bad), env(&[])).unwrap_err().to_string();
    assert!(
        err.contains("database_max_connections") && !err.contains('\n'),
        "{err}"
    );

    let err = Settings::load_from(Some(&dir.path().join("missing.toml")), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
}
