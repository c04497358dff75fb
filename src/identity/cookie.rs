//! Sealing and opening the session cookie with the `cookie` crate's signed jar: the value is
//! `base64url(json)`, and the jar prepends its HMAC-SHA256 digest (and checks it in constant
//! time). The crate also writes the `Set-Cookie` line, attributes and all.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use cookie::{time::Duration, Cookie, CookieJar, Key, SameSite};
use serde::{Deserialize, Serialize};

use super::Identity;
use crate::domain::{DisplayName, UserId};

/// How long a browser keeps its identity: a year, renewed whenever the cookie is reissued.
const MAX_AGE: Duration = Duration::days(365);

/// The key that signs session cookies.
#[derive(Clone)]
pub struct SessionKey(Key);

#[derive(Serialize, Deserialize)]
struct Payload {
    id: UserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

impl SessionKey {
    /// The signing key derived (HKDF) from `secret`, which must be at least 32 bytes: the
    /// configuration refuses shorter ones.
    pub fn new(secret: &[u8]) -> Self {
        Self(Key::derive_from(secret))
    }

    pub fn random() -> Self {
        Self::new(&Self::random_secret())
    }

    /// 32 bytes from the operating system's generator: a fresh secret.
    pub fn random_secret() -> [u8; 32] {
        use rand::RngCore;
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        secret
    }

    /// The cookie's value for `identity`.
    pub fn seal(&self, identity: &Identity) -> String {
        let payload = Payload { id: identity.id, name: identity.name.clone() };
        let payload = B64.encode(serde_json::to_vec(&payload).expect("payload serialises"));
        let mut jar = CookieJar::new();
        jar.signed_mut(&self.0).add(Cookie::new("session", payload));
        jar.get("session").expect("the jar holds what was just added").value().to_owned()
    }

    /// The whole `Set-Cookie` value that gives a browser `identity` under `name`.
    pub fn set_cookie(&self, name: &'static str, identity: &Identity, secure: bool) -> String {
        Cookie::build((name, self.seal(identity)))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .max_age(MAX_AGE)
            .secure(secure)
            .build()
            .to_string()
    }

    /// `None` for anything not sealed by this key.
    pub fn open(&self, value: &str) -> Option<Identity> {
        let verified = CookieJar::new().signed(&self.0).verify(Cookie::new("session", value.to_owned()))?;
        let payload: Payload = serde_json::from_slice(&B64.decode(verified.value()).ok()?).ok()?;
        // A name that no longer validates (rules tightened since) falls back to the colour.
        let name = payload.name.and_then(|n| DisplayName::parse(&n).ok()).map(|n| n.as_str().to_owned());
        Some(Identity { id: payload.id, name })
    }

    /// The value of the cookie `name` in a request's `Cookie` headers, if any.
    pub fn presented<'a>(headers: impl Iterator<Item = &'a str>, name: &str) -> Option<Cookie<'a>> {
        headers.flat_map(Cookie::split_parse).filter_map(Result::ok).find(|cookie| cookie.name() == name)
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
        // The signed jar's value: a 44-character base64 digest, then the payload.
        let (tag, payload) = sealed.split_at(44);
        let other = B64.encode(format!(r#"{{"id":"{}"}}"#, UserId::random()));
        assert_eq!(key.open(&format!("{tag}{other}")), None);
        assert_eq!(key.open(payload), None);
        assert_eq!(key.open("garbage"), None);
        assert_eq!(key.open(""), None);
    }
}
