//! The `herald` command-line contract, on the built binary: commands that make something
//! print only its id or token on stdout; every error is one line on stderr and a non-zero
//! exit; `serve` prints its first-run login once and keeps tokens valid across restarts;
//! real processes survive kills and drain on SIGTERM; `verify` judges captured deliveries;
//! `listen` relays an inbox to a local server.
//! One test binary, a module per concern; the helpers every module uses are here.

// Tests fail by panicking; helpers here unwrap like test bodies do.
#![allow(clippy::unwrap_used)]

mod commands;
mod keys;
mod listen;
mod processes;
mod serve;
mod verify;

use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

use herald::config::{Secret, Settings};
use tests::TestDb;

/// The binary, pointed at `db`. On PostgreSQL the keys must be configured; on SQLite
/// they are left out so the binary generates and keeps its own.
fn herald(db: &TestDb) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
    cmd.current_dir(db.dir())
        .env("HERALD_DATABASE_URL", &db.url)
        .env("HERALD_LOG", "warn");
    for (name, _) in
        std::env::vars().filter(|(n, _)| n.starts_with("HERALD_") && n != "HERALD_TEST_DATABASE_URL")
    {
        cmd.env_remove(name);
    }
    cmd.env("HERALD_DATABASE_URL", &db.url);
    if db.backend == domain::db::Backend::Postgres {
        cmd.env("HERALD_JWT_SECRET", "cli-test-jwt-secret-0123456789abcdef")
            .env("HERALD_MAIN_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    }
    cmd
}

/// The settings the binary used, so the test can open the same database with the same keys.
fn settings_of(db: &TestDb) -> Settings {
    let mut settings = Settings {
        database_url: db.url.clone(),
        ..Settings::default()
    };
    if db.backend == domain::db::Backend::Postgres {
        settings.jwt_secret = Some(Secret::new("cli-test-jwt-secret-0123456789abcdef"));
        settings.main_key = Some(Secret::new("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="));
    }
    settings
}

fn run(cmd: &mut Command, stdin: Option<&str>) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        // A command that fails before reading its input closes the pipe first: EPIPE
        // here is that command's business, judged by its exit status and stderr.
        let _ = pipe.write_all(input.as_bytes());
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Exactly one line on stdout.
fn only_line(output: &Output) -> String {
    let text = stdout(output);
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got {text:?}");
    lines[0].to_owned()
}

async fn migrated(db: &TestDb) {
    let out = run(herald(db).arg("migrate"), None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn new_tenant(db: &TestDb, name: &str) -> String {
    only_line(&run(herald(db).args(["tenant", "create", name]), None))
}
