//! Credentials: argon2id password hashes, and the HS256 JWTs Herald issues: API tokens
//! (`aud = api`, `sub` = tenant, `jti` = token row) and portal tokens (`aud = portal`,
//! `sub` = application, short-lived).

use std::fmt;

use argon2::{
    Argon2,
    password_hash::{
        CustomizedPasswordHasher, PasswordHasher,
        phc::{self, PasswordHash},
    },
};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    Error,
    id::{ApiTokenId, AppId, TenantId},
};

const ISSUER: &str = "herald";
const API_AUDIENCE: &str = "api";
const PORTAL_AUDIENCE: &str = "portal";

/// Passwords shorter than this are refused.
pub const MIN_PASSWORD_LEN: usize = 8;

/// A new PHC string for `password`. `sibling` is the stored hash of another account with
/// the same email (in another tenant, or this account before a password change): the new
/// hash takes its salt, so every account of one email shares one salt and a sign-in checks
/// all of them with one hash (see [`matching_passwords`]). Without a sibling the salt is
/// random.
pub fn hash_password(password: &str, sibling: Option<&str>) -> Result<String, Error> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::invalid(
            "password",
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if password.len() > 1024 {
        return Err(Error::invalid("password", "must be at most 1024 bytes"));
    }
    let salt = sibling
        .and_then(|stored| PasswordHash::new(stored).ok())
        .and_then(|hash| hash.salt);
    let hashed = match salt {
        Some(salt) => Argon2::default().hash_password_with_salt(password.as_bytes(), salt.as_ref()),
        None => Argon2::default().hash_password(password.as_bytes()),
    };
    hashed
        .map(|hash| hash.to_string())
        .map_err(|e| Error::internal("hashing a password", e))
}

/// Checks `password` against a stored PHC string; any malformed hash is a mismatch.
pub fn verify_password(stored_hash: &str, password: &str) -> bool {
    matching_passwords(&[stored_hash], password) == [true]
}

/// Which of `stored` (PHC strings) `password` matches, in order. Hashes with the same salt
/// and parameters are checked with one computation, and an empty list (an unknown email)
/// still costs one, so the time a sign-in takes does not tell how many accounts its email
/// has. A malformed hash matches nothing.
pub fn matching_passwords(stored: &[&str], password: &str) -> Vec<bool> {
    // (salt, algorithm, version, parameters) → the output `password` gives under them.
    let mut computed: Vec<(String, Option<phc::Output>)> = Vec::new();
    let matches = stored
        .iter()
        .map(|stored| {
            let Ok(hash) = PasswordHash::new(stored) else {
                return false;
            };
            let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
                return false;
            };
            let key = format!("{salt}${}${:?}${}", hash.algorithm, hash.version, hash.params);
            let output = match computed.iter().find(|(k, _)| *k == key) {
                Some((_, output)) => *output,
                None => {
                    let output = argon2::Params::try_from(&hash).ok().and_then(|params| {
                        Argon2::default()
                            .hash_password_customized(
                                password.as_bytes(),
                                salt.as_ref(),
                                Some(hash.algorithm.as_str()),
                                hash.version,
                                params,
                            )
                            .ok()
                            .and_then(|computed| computed.hash)
                    });
                    computed.push((key, output));
                    output
                }
            };
            // `Output` compares in constant time.
            output == Some(expected)
        })
        .collect();
    if computed.is_empty() {
        burn_password_check(password);
    }
    matches
}

/// Runs a hash of the same cost as a real check, so that a sign-in for an unknown email
/// takes as long as one with a wrong password.
fn burn_password_check(password: &str) {
    static DUMMY: std::sync::OnceLock<Option<(phc::Salt, argon2::Params)>> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        let hash = Argon2::default().hash_password(b"herald-timing-equaliser").ok()?;
        Some((hash.salt?, argon2::Params::try_from(&hash).ok()?))
    });
    if let Some((salt, params)) = dummy {
        let _ = Argon2::default().hash_password_customized(
            password.as_bytes(),
            salt.as_ref(),
            None,
            None,
            params.clone(),
        );
    }
}

/// Claims of an API token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiClaims {
    pub iss: String,
    pub aud: String,
    pub sub: TenantId,
    pub jti: ApiTokenId,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
}

/// Claims of a customer-portal token: one application of one tenant, for a short while.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalClaims {
    pub iss: String,
    pub aud: String,
    pub sub: AppId,
    pub org: TenantId,
    pub iat: i64,
    pub exp: i64,
    /// `iat` in milliseconds, so that a withdrawal of an application's links
    /// (`portal::expire_all`) tells apart the tokens issued just before it and just after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat_ms: Option<i64>,
    /// Read-only portals cannot change endpoints.
    #[serde(default)]
    pub read_only: bool,
}

/// The HS256 keys Herald signs and checks its tokens with. The signing key signs and
/// verifies; fallback keys (the old key after a signing-key rotation) verify until a
/// configured time, after which their tokens are refused.
#[derive(Clone)]
pub struct JwtKeys {
    signing: (String, EncodingKey),
    /// The signing key's first, then the fallbacks'.
    verifying: Vec<(String, DecodingKey)>,
    fallbacks_until: DateTime<Utc>,
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys")
            .field("kid", &self.signing.0)
            .finish_non_exhaustive()
    }
}

/// A short public name for a signing secret, carried in the JWT header's `kid`.
fn key_id(secret: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"herald jwt key id\0")
        .chain_update(secret)
        .finalize();
    crate::crypto::hex(&digest[..6])
}

impl JwtKeys {
    pub fn new(secret: &str) -> Self {
        Self::with_fallbacks(secret, &[], DateTime::<Utc>::MIN_UTC)
    }

    /// Signs with `secret`; also accepts tokens signed with any of `fallbacks` until
    /// `until`.
    pub fn with_fallbacks(secret: &str, fallbacks: &[&str], until: DateTime<Utc>) -> Self {
        let verifying = std::iter::once(secret)
            .chain(fallbacks.iter().copied())
            .map(|s| (key_id(s), DecodingKey::from_secret(s.as_bytes())))
            .collect();
        Self {
            signing: (key_id(secret), EncodingKey::from_secret(secret.as_bytes())),
            verifying,
            fallbacks_until: until,
        }
    }

    fn encode<T: Serialize>(&self, claims: &T) -> Result<String, Error> {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.signing.0.clone());
        jsonwebtoken::encode(&header, claims, &self.signing.1)
            .map_err(|e| Error::internal("signing a token", e))
    }

    fn decode<T: for<'de> Deserialize<'de>>(
        &self,
        token: &str,
        audience: &str,
        required: &[&str],
    ) -> Result<T, Error> {
        let bad = || Error::unauthenticated("the token is malformed or its signature does not verify");
        let header = jsonwebtoken::decode_header(token).map_err(|_| bad())?;
        if header.alg != Algorithm::HS256 {
            return Err(bad());
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(required);
        validation.leeway = 30;
        // Try the key the header names; tokens without a `kid` try every key.
        let keys = self
            .verifying
            .iter()
            .enumerate()
            .filter(|(_, (kid, _))| header.kid.as_deref().is_none_or(|k| k == kid));
        let mut last = bad();
        for (index, (_, key)) in keys {
            match jsonwebtoken::decode::<T>(token, key, &validation) {
                Ok(_) if index > 0 && Utc::now() > self.fallbacks_until => {
                    return Err(Error::unauthenticated(format!(
                        "the token was signed with a retired signing key, accepted until {}; ask for a new token",
                        self.fallbacks_until
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    )));
                }
                Ok(data) => return Ok(data.claims),
                Err(e) => {
                    last = match e.kind() {
                        jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                            Error::unauthenticated("the token has expired")
                        }
                        jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                            Error::unauthenticated("the token is not meant for this API")
                        }
                        _ => bad(),
                    }
                }
            }
        }
        Err(last)
    }

    pub fn issue_api_token(
        &self,
        tenant: &TenantId,
        token: &ApiTokenId,
        issued_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<String, Error> {
        self.encode(&ApiClaims {
            iss: ISSUER.into(),
            aud: API_AUDIENCE.into(),
            sub: tenant.clone(),
            jti: token.clone(),
            iat: issued_at.timestamp(),
            exp: expires_at.map(|t| t.timestamp()),
        })
    }

    /// Checks signature, issuer, audience and expiry. Revocation is the caller's to check
    /// against the `api_token` row.
    pub fn verify_api_token(&self, token: &str) -> Result<ApiClaims, Error> {
        self.decode(token, API_AUDIENCE, &["sub", "jti", "aud", "iss"])
    }

    pub fn issue_portal_token(
        &self,
        tenant: &TenantId,
        app: &AppId,
        issued_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        read_only: bool,
    ) -> Result<String, Error> {
        self.encode(&PortalClaims {
            iss: ISSUER.into(),
            aud: PORTAL_AUDIENCE.into(),
            sub: app.clone(),
            org: tenant.clone(),
            iat: issued_at.timestamp(),
            exp: expires_at.timestamp(),
            iat_ms: Some(issued_at.timestamp_millis()),
            read_only,
        })
    }

    pub fn verify_portal_token(&self, token: &str) -> Result<PortalClaims, Error> {
        self.decode(token, PORTAL_AUDIENCE, &["sub", "exp", "aud", "iss"])
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse", None).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&hash, "correct horse"));
        assert!(!verify_password(&hash, "wrong horse"));
        assert!(!verify_password("not a hash", "correct horse"));
        assert!(hash_password("short", None).is_err());
    }

    #[test]
    fn accounts_of_one_email_share_a_salt_and_are_checked_together() {
        let salt = |phc: &str| phc.split('$').nth(4).map(str::to_owned);
        let first = hash_password("first password", None).unwrap();
        let other = hash_password("first password", None).unwrap();
        assert_ne!(salt(&first), salt(&other), "a new email gets a random salt");
        let second = hash_password("second password", Some(&first)).unwrap();
        assert_eq!(salt(&first), salt(&second));
        let same = hash_password("first password", Some("not a hash")).unwrap();
        assert_ne!(salt(&first), salt(&same), "a malformed sibling is no salt");

        let stored = [first.as_str(), "not a hash", second.as_str(), other.as_str()];
        assert_eq!(
            matching_passwords(&stored, "first password"),
            [true, false, false, true]
        );
        assert_eq!(
            matching_passwords(&stored, "second password"),
            [false, false, true, false]
        );
        assert_eq!(matching_passwords(&stored, "neither"), [false; 4]);
        assert!(matching_passwords(&[], "anything").is_empty());
    }

    #[test]
    fn api_tokens_round_trip_and_refuse_forgeries() {
        let keys = JwtKeys::new("secret-one-that-is-long-enough-000");
        let (tenant, jti) = (TenantId::new(), ApiTokenId::new());
        let token = keys.issue_api_token(&tenant, &jti, Utc::now(), None).unwrap();
        let claims = keys.verify_api_token(&token).unwrap();
        assert_eq!((claims.sub, claims.jti), (tenant.clone(), jti.clone()));

        let other = JwtKeys::new("another-secret-that-is-long-enough");
        assert!(other.verify_api_token(&token).is_err());
        assert!(keys.verify_api_token("garbage").is_err());
        assert!(keys.verify_api_token(&format!("{token}x")).is_err());

        let expired = keys
            .issue_api_token(&tenant, &jti, Utc::now(), Some(Utc::now() - Duration::hours(1)))
            .unwrap();
        assert!(
            keys.verify_api_token(&expired)
                .unwrap_err()
                .to_string()
                .contains("expired")
        );
    }

    #[test]
    fn portal_and_api_tokens_are_not_interchangeable() {
        let keys = JwtKeys::new("secret-one-that-is-long-enough-000");
        let now = Utc::now();
        let portal = keys
            .issue_portal_token(
                &TenantId::new(),
                &AppId::new(),
                now,
                now + Duration::hours(1),
                false,
            )
            .unwrap();
        assert!(keys.verify_portal_token(&portal).is_ok());
        assert!(keys.verify_api_token(&portal).is_err());
        let api = keys
            .issue_api_token(&TenantId::new(), &ApiTokenId::new(), now, None)
            .unwrap();
        assert!(keys.verify_portal_token(&api).is_err());
    }

    #[test]
    fn old_signing_keys_keep_verifying_during_a_rotation() {
        let old = JwtKeys::new("old-secret-that-is-long-enough-0000");
        let token = old
            .issue_api_token(&TenantId::new(), &ApiTokenId::new(), Utc::now(), None)
            .unwrap();
        let rotated = |until| {
            JwtKeys::with_fallbacks(
                "new-secret-that-is-long-enough-0000",
                &["old-secret-that-is-long-enough-0000"],
                until,
            )
        };
        assert!(
            rotated(Utc::now() + Duration::days(1))
                .verify_api_token(&token)
                .is_ok()
        );
        let refused = rotated(Utc::now() - Duration::seconds(1))
            .verify_api_token(&token)
            .unwrap_err()
            .to_string();
        assert!(refused.contains("retired signing key"), "{refused}");
        // New tokens are signed with the new key, whatever the date.
        let new = rotated(Utc::now() - Duration::seconds(1));
        let fresh = new
            .issue_api_token(&TenantId::new(), &ApiTokenId::new(), Utc::now(), None)
            .unwrap();
        assert!(new.verify_api_token(&fresh).is_ok());
        assert!(
            JwtKeys::new("new-secret-that-is-long-enough-0000")
                .verify_api_token(&token)
                .is_err()
        );
    }
}
