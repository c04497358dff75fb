//! Sealing and opening the session cookie: `base64url(json) "." base64url(hmac)`.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::Identity;
use crate::domain::{DisplayName, UserId};

type HmacSha256 = Hmac<Sha256>;

/// The key that signs session cookies.
#[derive(Clone)]
pub struct SessionKey(Vec<u8>);

#[derive(Serialize, Deserialize)]
struct Payload {
    id: UserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

impl SessionKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(secret.to_vec())
    }

    pub fn random() -> Self {
        Self(Self::random_secret().to_vec())
    }

    /// 32 bytes from the operating system's generator: a fresh secret.
    pub fn random_secret() -> [u8; 32] {
        use rand::RngCore;
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        secret
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }

    pub fn seal(&self, identity: &Identity) -> String {
        let payload = Payload { id: identity.id, name: identity.name.clone() };
        let payload = B64.encode(serde_json::to_vec(&payload).expect("payload serialises"));
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        format!("{payload}.{}", B64.encode(mac.finalize().into_bytes()))
    }

    /// `None` for anything not sealed by this key. The comparison is constant-time.
    pub fn open(&self, cookie: &str) -> Option<Identity> {
        let (payload, tag) = cookie.split_once('.')?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&B64.decode(tag).ok()?).ok()?;
        let payload: Payload = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
        // A name that no longer validates (rules tightened since) falls back to the colour.
        let name = payload.name.and_then(|n| DisplayName::parse(&n).ok()).map(|n| n.as_str().to_owned());
        Some(Identity { id: payload.id, name })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_identity_opens_with_the_same_key_only() {
        let key = SessionKey::random();
        let identity = Identity { id: UserId::random(), name: Some("Ann".into()) };
        let sealed = key.seal(&identity);
        assert_eq!(key.open(&sealed), Some(identity));
        assert_eq!(SessionKey::random().open(&sealed), None);
    }

    #[test]
    fn a_tampered_cookie_does_not_open() {
        let key = SessionKey::random();
        let sealed = key.seal(&Identity { id: UserId::random(), name: None });
        let (payload, tag) = sealed.split_once('.').unwrap();
        let other = B64.encode(format!(r#"{{"id":"{}"}}"#, UserId::random()));
        assert_eq!(key.open(&format!("{other}.{tag}")), None);
        assert_eq!(key.open(payload), None);
        assert_eq!(key.open("garbage"), None);
    }
}
