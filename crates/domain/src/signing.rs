//! Standard Webhooks signatures: `v1,` + base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")),
//! made for deliveries and checked, as a receiver would, for `herald verify`.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::{Error, crypto};

/// An endpoint's signing key (the bytes behind `whsec_…`). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

impl SigningSecret {
    pub const PREFIX: &'static str = "whsec_";
    /// Svix' recommended size: 24 random bytes.
    const GENERATED_LEN: usize = 24;

    pub fn generate() -> Result<Self, crypto::CryptoError> {
        let mut bytes = vec![0u8; Self::GENERATED_LEN];
        crypto::random_bytes(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// Parses a caller-provided key: base64 of 24 to 75 bytes, optionally prefixed with
    /// `whsec_` (the Svix API's rule, `^(whsec_)?[a-zA-Z0-9+/=]{32,100}$`).
    pub fn parse(value: &str) -> Result<Self, Error> {
        let encoded = value.strip_prefix(Self::PREFIX).unwrap_or(value);
        if !(32..=100).contains(&encoded.len()) {
            return Err(Error::invalid(
                "key",
                "must be 32 to 100 base64 characters, optionally prefixed with `whsec_`",
            ));
        }
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| Error::invalid("key", "must be base64, optionally prefixed with `whsec_`"))?;
        Ok(Self(bytes))
    }

    /// Rebuilds a key from its stored bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The `whsec_…` form shown to tenants and their customers.
    pub fn to_whsec(&self) -> String {
        format!("{}{}", Self::PREFIX, STANDARD.encode(&self.0))
    }

    /// `v1,<base64 signature>` of one delivery.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mac = self.mac(msg_id, timestamp, body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// The MAC of one delivery's signed content, before it is finalised.
    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret([redacted])")
    }
}

/// The `webhook-signature` header value: one `v1,` signature per live key,
/// space-separated (two during a rotation's grace period).
pub fn signature_header(keys: &[SigningSecret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|key| key.sign(msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// How far a delivery's timestamp may be from the receiver's clock, either way, unless
/// the receiver says otherwise: the Standard Webhooks libraries' five minutes.
pub const DEFAULT_TOLERANCE: Duration = Duration::minutes(5);

/// Why a received request is not a valid delivery signed with a given key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("no {} header", .0.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(" or "))]
    MissingHeaders(Vec<&'static str>),
    #[error("`webhook-timestamp` is `{0}`, not a Unix time in seconds")]
    MalformedTimestamp(String),
    #[error("`webhook-signature` holds no `v1,` signature")]
    NoV1Signature,
    #[error(
        "no signature matches: the body, `webhook-id` or `webhook-timestamp` is not what was \
         signed, or it was signed with another key"
    )]
    NoMatch,
    #[error(
        "the signature matches, but the timestamp is {age} s old, more than the {tolerance} s \
         allowed: a stale or replayed request"
    )]
    TooOld { age: i64, tolerance: i64 },
    #[error(
        "the signature matches, but the timestamp is {ahead} s in the future, more than the \
         {tolerance} s allowed: is a clock wrong?"
    )]
    InFuture { ahead: i64, tolerance: i64 },
}

/// What a verified request says of itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified<'a> {
    pub msg_id: &'a str,
    /// When it was signed, in Unix seconds.
    pub timestamp: i64,
}

/// The signature headers, each with the `svix-` spelling a receiver may get instead
/// (Herald sends both unless told not to).
const HEADERS: [(&str, &str); 3] = [
    ("webhook-id", "svix-id"),
    ("webhook-timestamp", "svix-timestamp"),
    ("webhook-signature", "svix-signature"),
];

/// Checks a received request as a Standard Webhooks receiver would: `header` gives a
/// header's value by its lowercase name. The signature is checked before the timestamp,
/// so a genuine but stale request is told apart from a forged one.
pub fn verify<'a>(
    key: &SigningSecret,
    header: impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<Verified<'a>, Rejection> {
    let values = HEADERS.map(|(name, alias)| header(name).or_else(|| header(alias)));
    let [Some(msg_id), Some(timestamp), Some(signatures)] = values else {
        let missing = HEADERS
            .iter()
            .zip(values)
            .filter(|(_, value)| value.is_none())
            .map(|((name, _), _)| *name)
            .collect();
        return Err(Rejection::MissingHeaders(missing));
    };
    let timestamp = timestamp
        .trim()
        .parse::<i64>()
        .map_err(|_| Rejection::MalformedTimestamp(timestamp.to_owned()))?;
    let candidates: Vec<&str> = signatures
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .collect();
    if candidates.is_empty() {
        return Err(Rejection::NoV1Signature);
    }
    let mac = key.mac(msg_id, timestamp, body);
    // `verify_slice` compares in constant time.
    let matches = |candidate: &&str| {
        STANDARD
            .decode(candidate)
            .is_ok_and(|bytes| mac.clone().verify_slice(&bytes).is_ok())
    };
    if !candidates.iter().any(matches) {
        return Err(Rejection::NoMatch);
    }
    let tolerance = tolerance.num_seconds();
    let age = now.timestamp().saturating_sub(timestamp);
    if age > tolerance {
        return Err(Rejection::TooOld { age, tolerance });
    }
    if age < -tolerance {
        return Err(Rejection::InFuture {
            ahead: -age,
            tolerance,
        });
    }
    Ok(Verified { msg_id, timestamp })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference libraries' own known answer (DESIGN.md).
    #[test]
    fn known_answer() {
        let key = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = key.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn generated_keys_round_trip_through_whsec() {
        let key = SigningSecret::generate().unwrap();
        assert_eq!(key.as_bytes().len(), 24);
        let text = key.to_whsec();
        assert!(text.starts_with("whsec_"));
        assert_eq!(SigningSecret::parse(&text).unwrap(), key);
        assert!(!format!("{key:?}").contains(&text[6..]));
    }

    #[test]
    fn parse_follows_the_svix_rule() {
        assert!(SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        assert!(SigningSecret::parse("whsec_short").is_err());
        assert!(SigningSecret::parse(&format!("whsec_{}", "A".repeat(101))).is_err());
        assert!(SigningSecret::parse("whsec_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!").is_err());
    }

    #[test]
    fn one_signature_per_live_key() {
        let a = SigningSecret::generate().unwrap();
        let b = SigningSecret::generate().unwrap();
        let header = signature_header(&[a.clone(), b.clone()], "msg_1", 1, b"{}");
        let parts: Vec<_> = header.split(' ').collect();
        assert_eq!(parts, [a.sign("msg_1", 1, b"{}"), b.sign("msg_1", 1, b"{}")]);
    }

    /// A request as a receiver gets it: header names lowercase.
    struct Received(Vec<(String, String)>);

    impl Received {
        fn signed(key: &SigningSecret, msg_id: &'static str, timestamp: i64, body: &[u8]) -> Self {
            Self::of(&[
                ("webhook-id", msg_id),
                ("webhook-timestamp", &timestamp.to_string()),
                ("webhook-signature", &key.sign(msg_id, timestamp, body)),
            ])
        }

        fn of(headers: &[(&str, &str)]) -> Self {
            Self(
                headers
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                    .collect(),
            )
        }

        fn verify(
            &self,
            key: &SigningSecret,
            body: &[u8],
            now: DateTime<Utc>,
        ) -> Result<Verified<'_>, Rejection> {
            let header = |name: &str| self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
            verify(key, header, body, now, DEFAULT_TOLERANCE)
        }
    }

    fn known_key() -> SigningSecret {
        SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
    }

    fn at(timestamp: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(timestamp, 0).unwrap()
    }

    #[test]
    fn the_known_answer_verifies_within_the_tolerance_either_way() {
        let body = br#"{"test": 2432232314}"#;
        let got = Received::of(&[
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            (
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        ]);
        for now in [1614265330, 1614265330 + 300, 1614265330 - 300] {
            let verified = Verified {
                msg_id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
                timestamp: 1614265330,
            };
            assert_eq!(got.verify(&known_key(), body, at(now)), Ok(verified), "at {now}");
        }
        assert_eq!(
            got.verify(&known_key(), body, at(1614265330 + 301)),
            Err(Rejection::TooOld {
                age: 301,
                tolerance: 300
            })
        );
        assert_eq!(
            got.verify(&known_key(), body, at(1614265330 - 301)),
            Err(Rejection::InFuture {
                ahead: 301,
                tolerance: 300
            })
        );
    }

    #[test]
    fn a_changed_body_id_or_timestamp_or_another_key_matches_no_signature() {
        let key = known_key();
        let got = Received::signed(&key, "msg_1", 1000, b"{}");
        assert_eq!(got.verify(&key, b"{ }", at(1000)), Err(Rejection::NoMatch));
        let other = SigningSecret::generate().unwrap();
        assert_eq!(got.verify(&other, b"{}", at(1000)), Err(Rejection::NoMatch));
        let mut moved = Received::signed(&key, "msg_1", 1000, b"{}");
        moved.0[1].1 = "1001".into();
        assert_eq!(moved.verify(&key, b"{}", at(1000)), Err(Rejection::NoMatch));
        let mut renamed = Received::signed(&key, "msg_1", 1000, b"{}");
        renamed.0[0].1 = "msg_2".into();
        assert_eq!(renamed.verify(&key, b"{}", at(1000)), Err(Rejection::NoMatch));
        // A forged request is called forged, even when it is also stale.
        assert_eq!(got.verify(&other, b"{}", at(99_999)), Err(Rejection::NoMatch));
    }

    #[test]
    fn any_one_of_several_signatures_may_match() {
        let (old, new) = (SigningSecret::generate().unwrap(), known_key());
        let header = signature_header(&[old.clone(), new.clone()], "msg_1", 1000, b"{}");
        let got = Received::of(&[
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", "1000"),
            (
                "webhook-signature",
                &format!("v2,ignored {header} v1,!!notbase64"),
            ),
        ]);
        assert!(got.verify(&old, b"{}", at(1000)).is_ok());
        assert!(got.verify(&new, b"{}", at(1000)).is_ok());
    }

    #[test]
    fn svix_headers_stand_in_and_missing_or_malformed_ones_are_named() {
        let key = known_key();
        let mut got = Received::signed(&key, "msg_1", 1000, b"{}");
        for (name, _) in &mut got.0 {
            *name = name.replacen("webhook-", "svix-", 1);
        }
        let verified = got.verify(&key, b"{}", at(1000)).unwrap();
        assert_eq!((verified.msg_id, verified.timestamp), ("msg_1", 1000));

        let only_id = Received::of(&[("webhook-id", "msg_1")]);
        assert_eq!(
            only_id.verify(&key, b"{}", at(1000)),
            Err(Rejection::MissingHeaders(vec![
                "webhook-timestamp",
                "webhook-signature"
            ]))
        );
        let mut bad_time = Received::signed(&key, "msg_1", 1000, b"{}");
        bad_time.0[1].1 = "2024-01-01T00:00:00Z".into();
        assert_eq!(
            bad_time.verify(&key, b"{}", at(1000)),
            Err(Rejection::MalformedTimestamp("2024-01-01T00:00:00Z".into()))
        );
        let mut unversioned = Received::signed(&key, "msg_1", 1000, b"{}");
        unversioned.0[2].1 = unversioned.0[2].1.replacen("v1,", "", 1);
        assert_eq!(
            unversioned.verify(&key, b"{}", at(1000)),
            Err(Rejection::NoV1Signature)
        );
    }
}
