//! The two keys Herald cannot run without: the JWT signing secret and the main key.
//!
//! Configured ones win. When one is missing and the database is an SQLite file, the first
//! run generates it and keeps it in `<database file>.secrets` beside the database,
//! readable by the owner only, so a restart keeps tokens valid and secrets readable.
//! Other databases serve many processes, which must share their keys: there they must be
//! configured.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use domain::{
    auth::JwtKeys,
    crypto::{Keyring, MainKey, random_bytes},
};
use serde::{Deserialize, Serialize};

use crate::config::{Secret, Settings};

pub const MIN_JWT_SECRET_LEN: usize = 32;

/// The resolved keys.
#[derive(Clone, Debug)]
pub struct Keys {
    pub jwt_secret: Secret,
    pub main_key: MainKey,
    /// Old main keys that still open secrets (a rotation in progress).
    pub main_key_fallbacks: Vec<MainKey>,
    /// Old JWT secrets whose tokens stay valid until `jwt_fallbacks_until`.
    pub jwt_secret_fallbacks: Vec<Secret>,
    pub jwt_fallbacks_until: DateTime<Utc>,
}

impl Keys {
    pub fn keyring(&self) -> Keyring {
        Keyring::with_fallbacks(self.main_key.clone(), self.main_key_fallbacks.clone())
    }

    pub fn jwt(&self) -> JwtKeys {
        let fallbacks: Vec<&str> = self.jwt_secret_fallbacks.iter().map(Secret::expose).collect();
        JwtKeys::with_fallbacks(self.jwt_secret.expose(), &fallbacks, self.jwt_fallbacks_until)
    }
}

/// The comma-separated values of a list setting.
fn list(value: Option<&Secret>) -> impl Iterator<Item = &str> {
    value
        .map(|v| v.expose().split(','))
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// `2027-01-31T12:00:00Z`, or `2027-01-31` for midnight UTC at its start.
fn parse_until(value: &str) -> anyhow::Result<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map(|day| day.and_time(NaiveTime::MIN).and_utc())
        .map_err(|_| {
            anyhow::anyhow!(
                "HERALD_JWT_FALLBACKS_UNTIL must be an RFC 3339 time (2027-01-31T12:00:00Z) or a date \
                 (2027-01-31), not `{value}`"
            )
        })
}

/// The fallback keys of `settings`, checked.
fn fallbacks(settings: &Settings) -> anyhow::Result<(Vec<MainKey>, Vec<Secret>, DateTime<Utc>)> {
    let main = list(settings.main_key_fallbacks.as_ref())
        .enumerate()
        .map(|(n, key)| {
            MainKey::parse(key).with_context(|| {
                format!(
                    "fallback main key {} of HERALD_MAIN_KEY_FALLBACKS is unusable",
                    n + 1
                )
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let jwt: Vec<Secret> = list(settings.jwt_secret_fallbacks.as_ref())
        .map(Secret::new)
        .collect();
    if jwt.iter().any(|s| s.expose().len() < MIN_JWT_SECRET_LEN) {
        bail!("every HERALD_JWT_SECRET_FALLBACKS secret must be at least {MIN_JWT_SECRET_LEN} characters");
    }
    let until = settings
        .jwt_fallbacks_until
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let until = match (until, jwt.is_empty()) {
        (Some(until), _) => parse_until(until)?,
        (None, true) => DateTime::<Utc>::MIN_UTC,
        (None, false) => bail!(
            "HERALD_JWT_SECRET_FALLBACKS needs HERALD_JWT_FALLBACKS_UNTIL: the time after which tokens \
             signed with those secrets stop working"
        ),
    };
    Ok((main, jwt, until))
}

#[derive(Default, Serialize, Deserialize)]
struct SecretsFile {
    jwt_secret: Option<String>,
    main_key: Option<String>,
}

/// Where generated keys live for an SQLite database at `db_file`.
pub fn secrets_path(db_file: &Path) -> PathBuf {
    let mut name = db_file
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "herald.db".into());
    name.push(".secrets");
    db_file.with_file_name(name)
}

/// Resolves both keys, generating and storing missing ones where that is allowed.
pub fn resolve(settings: &Settings) -> anyhow::Result<Keys> {
    let (jwt, main) = match (settings.jwt_secret.clone(), settings.main_key.clone()) {
        (Some(jwt), Some(main)) => (jwt, main),
        (jwt, main) => {
            let Some(db_file) = domain::db::sqlite_file(&settings.database_url) else {
                bail!(
                    "HERALD_JWT_SECRET and HERALD_MAIN_KEY must be set when the database is not an SQLite \
                     file (every Herald process must share them); `openssl rand -base64 32` makes either"
                );
            };
            let path = secrets_path(&db_file);
            let mut stored = read_file(&path)?;
            let mut changed = false;
            if jwt.is_none() && stored.jwt_secret.is_none() {
                stored.jwt_secret = Some(generate_jwt_secret()?);
                changed = true;
            }
            if main.is_none() && stored.main_key.is_none() {
                stored.main_key = Some(MainKey::generate().context("generating a main key")?.encode());
                changed = true;
            }
            if changed {
                write_file(&path, &stored)?;
            }
            let from_file =
                |value: Option<String>| value.map(Secret::new).context("the secrets file lost a key");
            (
                jwt.map_or_else(|| from_file(stored.jwt_secret), Ok)?,
                main.map_or_else(|| from_file(stored.main_key), Ok)?,
            )
        }
    };
    if jwt.expose().len() < MIN_JWT_SECRET_LEN {
        bail!("the JWT secret (HERALD_JWT_SECRET) must be at least {MIN_JWT_SECRET_LEN} characters");
    }
    let main_key = MainKey::parse(main.expose()).context("the main key (HERALD_MAIN_KEY) is unusable")?;
    let (main_key_fallbacks, jwt_secret_fallbacks, jwt_fallbacks_until) = fallbacks(settings)?;
    Ok(Keys {
        jwt_secret: jwt,
        main_key,
        main_key_fallbacks,
        jwt_secret_fallbacks,
        jwt_fallbacks_until,
    })
}

pub fn generate_jwt_secret() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    random_bytes(&mut bytes)?;
    Ok(STANDARD.encode(bytes))
}

fn read_file(path: &Path) -> anyhow::Result<SecretsFile> {
    match fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not valid: {}", path.display(), e.message())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SecretsFile::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes the file owner-only, via a temporary file and a rename, so a crash never leaves
/// half a key behind.
fn write_file(path: &Path, secrets: &SecretsFile) -> anyhow::Result<()> {
    let text = format!(
        "# Generated by Herald on first run. Keep this file private and back it up with the\n\
         # database: without it, API tokens stop working and endpoint secrets cannot be read.\n{}",
        toml::to_string(secrets).context("encoding the secrets file")?
    );
    let tmp = path.with_extension("secrets.tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path)
        .with_context(|| format!("moving the secrets file into place at {}", path.display()))?;
    Ok(())
}
