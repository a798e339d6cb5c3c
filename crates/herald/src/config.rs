//! Configuration: built-in defaults, then `herald.toml`, then `HERALD_*` environment
//! variables, into one typed [`Settings`]. Secrets are redacted in `Debug`.

use std::{collections::BTreeSet, fmt, path::Path};

use anyhow::{Context as _, bail};
use figment::{
    Figment, Metadata, Profile, Provider,
    providers::{Format, Serialized, Toml},
    value::{Dict, Map, Value},
};
use serde::{Deserialize, Serialize};

/// The file read when no `--config` / `HERALD_CONFIG` names another.
pub const DEFAULT_FILE: &str = "herald.toml";

/// A configured secret. It prints as `[redacted]`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Every setting, named as in `herald.toml`; the environment variable is `HERALD_` and
/// the name in capitals (`HERALD_DATABASE_URL`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// `sqlite://FILE` (the embedded default) or `postgres://USER@HOST/DB`.
    pub database_url: String,
    /// Pool size; default 4 on SQLite (one writes at a time; the rest read), 20 on
    /// PostgreSQL.
    pub database_max_connections: Option<u32>,
    /// Address the HTTP server listens on.
    pub listen: String,
    /// The URL people reach Herald at, for printed and returned links; default
    /// `http://` + the listen address.
    pub public_url: Option<String>,
    /// HS256 key for API and portal tokens (at least 32 characters). Generated and kept
    /// beside the SQLite file when unset.
    pub jwt_secret: Option<Secret>,
    /// Base64 of 32 bytes; seals endpoint secrets at rest. Generated and kept beside the
    /// SQLite file when unset.
    pub main_key: Option<Secret>,
    /// Comma-separated main keys that still open (never seal) endpoint secrets: the old
    /// key while `herald keys rotate` moves secrets to the new one.
    pub main_key_fallbacks: Option<Secret>,
    /// Comma-separated JWT secrets whose tokens stay valid (none is signed with them)
    /// until `jwt_fallbacks_until`: the old secret after a signing-key rotation.
    pub jwt_secret_fallbacks: Option<Secret>,
    /// When tokens signed with a fallback JWT secret stop working: RFC 3339
    /// (`2027-01-31T12:00:00Z`) or a date (midnight UTC at its start). Required with
    /// `jwt_secret_fallbacks`.
    pub jwt_fallbacks_until: Option<String>,
    /// Log filter, `tracing` syntax (`info`, `herald=debug,sqlx=warn`).
    pub log: String,
    /// `human` (default) or `json`: one JSON object per log line.
    pub log_format: String,
    /// HTTP worker threads; default one per core.
    pub http_workers: Option<usize>,
    /// API requests per second per tenant (bursts of the same size); 0 turns it off.
    pub api_rate_limit: u32,
    /// Requests per second one inspector inbox records (bursts of the same size); past
    /// it a request is answered 429 and not recorded. `0` turns it off.
    pub inbox_rate_limit: u32,
    /// Requests per second the inboxes of one tenant record together; `0` turns it off.
    pub inbox_tenant_rate_limit: u32,
    /// Deliveries in flight at once per worker process.
    pub worker_concurrency: usize,
    /// Delays between delivery tries, e.g. `5s,5m,30m,2h,5h,10h,10h`.
    pub retry_schedule: String,
    /// CIDR blocks deliveries may reach although private, e.g. `127.0.0.0/8,::1/128`.
    pub allow_private_networks: String,
    /// Also send the `svix-*` spellings of the signature headers.
    pub svix_headers: bool,
    /// Whether `herald serve` runs the delivery worker in-process (the default); off, it
    /// accepts and queues messages for `herald worker` processes to deliver.
    pub serve_worker: bool,
    /// An endpoint that has failed every try for this long is disabled, e.g. `5d`.
    pub endpoint_disable_after: String,
    /// After SIGTERM, how long deliveries in flight may take to finish, e.g. `30s`.
    pub worker_shutdown_timeout: String,
    /// How often an idle worker looks for due work it was not told of, e.g. `1s`: the
    /// safety net for a lost wake-up, and on SQLite the only news a worker gets of
    /// messages another process accepted.
    pub worker_poll_interval: String,
    /// Payloads and response bodies older than this are erased, e.g. `30d` (an
    /// application's `retentionDays` overrides it).
    pub retention: String,
    /// Serve Prometheus metrics at `GET /metrics`.
    pub metrics: bool,
    /// If set, `/metrics` wants `Authorization: Bearer <this>`.
    pub metrics_token: Option<Secret>,
    /// Where `herald worker` serves `/metrics` (it has no other listener), e.g.
    /// `0.0.0.0:9100`; unset, a worker serves no metrics.
    pub metrics_listen: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: "sqlite://herald.db".into(),
            database_max_connections: None,
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            jwt_secret: None,
            main_key: None,
            main_key_fallbacks: None,
            jwt_secret_fallbacks: None,
            jwt_fallbacks_until: None,
            log: "info".into(),
            log_format: "human".into(),
            http_workers: None,
            api_rate_limit: 200,
            inbox_rate_limit: domain::service::inspector::DEFAULT_PER_INBOX,
            inbox_tenant_rate_limit: domain::service::inspector::DEFAULT_PER_TENANT,
            worker_concurrency: worker::DEFAULT_CONCURRENCY,
            retry_schedule: "5s,5m,30m,2h,5h,10h,10h".into(),
            allow_private_networks: String::new(),
            svix_headers: true,
            serve_worker: true,
            endpoint_disable_after: "5d".into(),
            worker_shutdown_timeout: "30s".into(),
            worker_poll_interval: "1s".into(),
            retention: "30d".into(),
            metrics: true,
            metrics_token: None,
            metrics_listen: None,
        }
    }
}

/// The names `herald.toml` may use; a test keeps this list equal to the struct's fields.
pub const KNOWN_KEYS: &[&str] = &[
    "database_url",
    "database_max_connections",
    "listen",
    "public_url",
    "jwt_secret",
    "main_key",
    "main_key_fallbacks",
    "jwt_secret_fallbacks",
    "jwt_fallbacks_until",
    "log",
    "log_format",
    "http_workers",
    "api_rate_limit",
    "inbox_rate_limit",
    "inbox_tenant_rate_limit",
    "worker_concurrency",
    "retry_schedule",
    "allow_private_networks",
    "svix_headers",
    "serve_worker",
    "endpoint_disable_after",
    "worker_shutdown_timeout",
    "worker_poll_interval",
    "retention",
    "metrics",
    "metrics_token",
    "metrics_listen",
];

/// Environment variables that start with `HERALD_` but are not settings.
const NOT_SETTINGS: &[&str] = &["HERALD_CONFIG"];

impl Settings {
    /// Loads from the process: `config_file` (or `herald.toml` if present) and the
    /// environment.
    pub fn load(config_file: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_from(config_file, std::env::vars())
    }

    /// Loads from an explicit environment, so tests need not touch the process's.
    pub fn load_from(
        config_file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        let file = match config_file {
            Some(path) if !path.exists() => bail!("the configuration file {} does not exist", path.display()),
            Some(path) => Some(path),
            None => Some(Path::new(DEFAULT_FILE)).filter(|p| p.exists()),
        };
        if let Some(path) = file {
            check_file_keys(path)?;
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(EnvVars::new(env));
        figment
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {}", one_line(&e)))
    }

    pub fn max_connections(&self) -> u32 {
        self.database_max_connections
            .unwrap_or(match domain::db::Backend::of(&self.database_url) {
                Ok(domain::db::Backend::Postgres) => 20,
                _ => 4,
            })
    }
}

fn one_line(error: &figment::Error) -> String {
    error
        .clone()
        .into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// A typo in `herald.toml` is an error, not a silently ignored line.
fn check_file_keys(path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not valid TOML: {}", path.display(), e.message()))?;
    let known: BTreeSet<&str> = KNOWN_KEYS.iter().copied().collect();
    if let Some(unknown) = table.keys().find(|k| !known.contains(k.as_str())) {
        bail!(
            "unknown setting `{unknown}` in {} (known: {})",
            path.display(),
            KNOWN_KEYS.join(", ")
        );
    }
    Ok(())
}

/// `HERALD_*` variables as a figment provider. Values parse like TOML scalars
/// (`8` is a number), except secrets and URLs, which stay strings.
struct EnvVars(Dict);

impl EnvVars {
    fn new(env: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut dict = Dict::new();
        for (name, value) in env {
            let Some(key) = name.strip_prefix("HERALD_") else {
                continue;
            };
            if NOT_SETTINGS.contains(&name.as_str()) {
                continue;
            }
            let key = key.to_ascii_lowercase();
            if !KNOWN_KEYS.contains(&key.as_str()) {
                continue;
            }
            let value = match key.as_str() {
                "database_url"
                | "listen"
                | "public_url"
                | "jwt_secret"
                | "main_key"
                | "main_key_fallbacks"
                | "jwt_secret_fallbacks"
                | "jwt_fallbacks_until"
                | "log"
                | "log_format"
                | "retry_schedule"
                | "endpoint_disable_after"
                | "worker_shutdown_timeout"
                | "worker_poll_interval"
                | "metrics_token"
                | "retention"
                | "metrics_listen"
                | "allow_private_networks" => Value::from(value),
                _ => value.parse().unwrap_or_else(|never| match never {}),
            };
            dict.insert(key, value);
        }
        Self(dict)
    }
}

impl Provider for EnvVars {
    fn metadata(&self) -> Metadata {
        Metadata::named("HERALD_* environment variable")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn known_keys_are_exactly_the_fields() {
        let full = Settings {
            database_max_connections: Some(1),
            public_url: Some("x".into()),
            jwt_secret: Some(Secret::new("x")),
            main_key: Some(Secret::new("x")),
            main_key_fallbacks: Some(Secret::new("x")),
            jwt_secret_fallbacks: Some(Secret::new("x")),
            jwt_fallbacks_until: Some("x".into()),
            http_workers: Some(1),
            metrics_token: Some(Secret::new("x")),
            metrics_listen: Some("x".into()),
            ..Settings::default()
        };
        let table: toml::Table = toml::from_str(&toml::to_string(&full).unwrap()).unwrap();
        let fields: BTreeSet<&str> = table.keys().map(String::as_str).collect();
        assert_eq!(fields, KNOWN_KEYS.iter().copied().collect());
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let s = Settings {
            jwt_secret: Some(Secret::new("hunter2-hunter2")),
            ..Settings::default()
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn numeric_looking_secrets_stay_strings() {
        let s = Settings::load_from(
            None,
            env(&[("HERALD_JWT_SECRET", "12345678901234567890123456789012")]),
        )
        .unwrap();
        assert_eq!(s.jwt_secret.unwrap().expose(), "12345678901234567890123456789012");
    }
}
