//! Encryption at rest for endpoint signing secrets: XChaCha20-Poly1305 under a 32-byte
//! main key.
//!
//! A sealed value is `[1][key id: 4][nonce: 24][ciphertext + tag]`. The key id names the
//! main key that sealed it, so a keyring holding the new and the old key during a
//! rotation opens both, and a wrong key fails with a message that says so. The caller
//! binds each value to its row with associated data (the endpoint id), so a ciphertext
//! copied onto another endpoint does not open.

use std::fmt;

use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the main key must be the base64 encoding of exactly 32 bytes ({0})")]
    BadKey(String),
    #[error(
        "a stored secret was sealed under main key {found}, but the configured main key is {configured}; \
         configure the main key that sealed it (HERALD_MAIN_KEY, or HERALD_MAIN_KEY_FALLBACKS while a rotation runs)"
    )]
    UnknownKey { found: String, configured: String },
    #[error("a stored secret does not open under main key {0}: it is corrupt or belongs to another row")]
    Tampered(String),
    #[error("a stored secret is not in a format this version of Herald reads")]
    Malformed,
    #[error("the operating system's random number generator failed")]
    Random,
}

/// Lower-case hex of `bytes`: key ids, digests, tokens.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `a` and `b` are equal, in time that does not depend on where they differ
/// (for comparing secrets; a length difference shows, which is fine for fixed-size ones).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// Fills `buf` from the operating system's generator.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::fill(buf).map_err(|_| CryptoError::Random)
}

/// A 32-byte main key. Its `Debug` shows only its id.
#[derive(Clone)]
pub struct MainKey {
    key: [u8; 32],
    id: [u8; KEY_ID_LEN],
}

impl MainKey {
    pub fn generate() -> Result<Self, CryptoError> {
        let mut key = [0u8; 32];
        random_bytes(&mut key)?;
        Ok(Self::from_bytes(key))
    }

    /// Parses the base64 form used in configuration.
    pub fn parse(encoded: &str) -> Result<Self, CryptoError> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|e| CryptoError::BadKey(format!("not base64: {e}")))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| CryptoError::BadKey(format!("it decodes to {} bytes", b.len())))?;
        Ok(Self::from_bytes(key))
    }

    fn from_bytes(key: [u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"herald main key id\0")
            .chain_update(key)
            .finalize();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        Self { key, id }
    }

    /// The base64 form used in configuration.
    pub fn encode(&self) -> String {
        STANDARD.encode(self.key)
    }

    /// A short public name for the key (8 hex digits), safe to log.
    pub fn id(&self) -> String {
        hex(&self.id)
    }
}

impl fmt::Debug for MainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MainKey({})", self.id())
    }
}

/// The main keys Herald can open secrets with; the first one seals.
#[derive(Clone, Debug)]
pub struct Keyring {
    current: MainKey,
    fallbacks: Vec<MainKey>,
}

impl Keyring {
    pub fn new(current: MainKey) -> Self {
        Self {
            current,
            fallbacks: Vec::new(),
        }
    }

    /// A keyring that seals with `current` and also opens what `fallbacks` sealed: the
    /// old key while a main key rotation runs.
    pub fn with_fallbacks(current: MainKey, fallbacks: Vec<MainKey>) -> Self {
        Self { current, fallbacks }
    }

    pub fn current(&self) -> &MainKey {
        &self.current
    }

    /// The id of the key that sealed `sealed`, if it is in a format Herald reads.
    pub fn sealed_by(sealed: &[u8]) -> Option<String> {
        (sealed.len() >= HEADER_LEN && sealed[0] == VERSION).then(|| hex(&sealed[1..1 + KEY_ID_LEN]))
    }

    pub fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce)?;
        let cipher = XChaCha20Poly1305::new(&self.current.key.into());
        let sealed = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: associated_data,
                },
            )
            .map_err(|_| CryptoError::Malformed)?;
        let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8], associated_data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < HEADER_LEN || sealed[0] != VERSION {
            return Err(CryptoError::Malformed);
        }
        let key_id = &sealed[1..1 + KEY_ID_LEN];
        let key = std::iter::once(&self.current)
            .chain(&self.fallbacks)
            .find(|k| k.id == key_id)
            .ok_or_else(|| CryptoError::UnknownKey {
                found: hex(key_id),
                configured: self.current.id(),
            })?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[1 + KEY_ID_LEN..HEADER_LEN]);
        XChaCha20Poly1305::new(&key.key.into())
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed[HEADER_LEN..],
                    aad: associated_data,
                },
            )
            .map_err(|_| CryptoError::Tampered(key.id()))
    }

    /// True when `sealed` was sealed by the current key (a rotation has nothing to redo).
    pub fn sealed_by_current(&self, sealed: &[u8]) -> bool {
        sealed.len() >= HEADER_LEN && sealed[1..1 + KEY_ID_LEN] == self.current.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens() {
        let ring = Keyring::new(MainKey::generate().unwrap());
        let sealed = ring.seal(b"whsec-bytes", b"ep_1").unwrap();
        assert!(
            !sealed.windows(11).any(|w| w == b"whsec-bytes"),
            "plaintext must not show"
        );
        assert_eq!(ring.open(&sealed, b"ep_1").unwrap(), b"whsec-bytes");
        // Two seals of the same secret differ (fresh nonce).
        assert_ne!(sealed, ring.seal(b"whsec-bytes", b"ep_1").unwrap());
    }

    #[test]
    fn a_wrong_key_fails_cleanly_and_names_both_keys() {
        let right = Keyring::new(MainKey::generate().unwrap());
        let wrong = Keyring::new(MainKey::generate().unwrap());
        let sealed = right.seal(b"secret", b"ep_1").unwrap();
        let err = wrong.open(&sealed, b"ep_1").unwrap_err();
        assert!(matches!(err, CryptoError::UnknownKey { .. }));
        let text = err.to_string();
        assert!(
            text.contains(&right.current().id()) && text.contains(&wrong.current().id()),
            "{text}"
        );
    }

    #[test]
    fn a_secret_moved_to_another_row_or_tampered_with_does_not_open() {
        let ring = Keyring::new(MainKey::generate().unwrap());
        let mut sealed = ring.seal(b"secret", b"ep_1").unwrap();
        assert!(matches!(
            ring.open(&sealed, b"ep_2"),
            Err(CryptoError::Tampered(_))
        ));
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(matches!(
            ring.open(&sealed, b"ep_1"),
            Err(CryptoError::Tampered(_))
        ));
        assert_eq!(ring.open(b"short", b""), Err(CryptoError::Malformed));
    }

    #[test]
    fn a_rotation_keyring_opens_old_and_seals_new() {
        let old = MainKey::generate().unwrap();
        let new = MainKey::generate().unwrap();
        let sealed_old = Keyring::new(old.clone()).seal(b"s", b"a").unwrap();
        let ring = Keyring::with_fallbacks(new, vec![old]);
        assert_eq!(ring.open(&sealed_old, b"a").unwrap(), b"s");
        assert!(!ring.sealed_by_current(&sealed_old));
        assert!(ring.sealed_by_current(&ring.seal(b"s", b"a").unwrap()));
        assert_eq!(Keyring::sealed_by(&sealed_old), Some(ring.fallbacks[0].id()));
        assert_eq!(Keyring::sealed_by(b"short"), None);
    }

    #[test]
    fn main_keys_parse_from_base64_of_32_bytes() {
        let key = MainKey::generate().unwrap();
        assert_eq!(MainKey::parse(&key.encode()).unwrap().id(), key.id());
        assert!(MainKey::parse("not base64!").is_err());
        assert!(
            MainKey::parse(&STANDARD.encode([0u8; 16]))
                .unwrap_err()
                .to_string()
                .contains("16 bytes")
        );
        assert!(!format!("{key:?}").contains(&key.encode()));
    }
}
