//! Standard Webhooks signatures: `v1,` + base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")).

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
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
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
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
}
