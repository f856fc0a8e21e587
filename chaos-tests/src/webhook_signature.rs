//! Standard Webhooks signatures (pure): `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `"{webhook-id}.{webhook-timestamp}.{body}"`, keyed by the decoded bytes of a `whsec_<base64>`
//! secret or by the UTF-8 bytes of any other secret (spec/alarms.md, notes/pollers.md).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// At most this many space-separated entries of a `webhook-signature` header are tried.
pub const SIGNATURES_MAX: usize = 16;

/// Why a secret could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("field `secret`: empty")]
    Empty,
    #[error("field `secret`: the part after whsec_ is not base64: {0}")]
    NotBase64(String),
}

/// The HMAC key of a webhook secret.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

impl WebhookSecret {
    /// `whsec_<base64>` uses the decoded bytes as key, any other secret its UTF-8 bytes.
    pub fn parse(secret: &str) -> Result<WebhookSecret, SecretError> {
        let key = match secret.strip_prefix("whsec_") {
            Some(encoded) => STANDARD
                .decode(encoded)
                .map_err(|e| SecretError::NotBase64(e.to_string()))?,
            None => secret.as_bytes().to_vec(),
        };
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(WebhookSecret { key })
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` value for one message: `v1,<base64>`.
    pub fn sign(&self, id: &str, timestamp: &str, body: &[u8]) -> String {
        let tag = self.mac(id, timestamp, body).finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }

    /// True when one of the first [`SIGNATURES_MAX`] space-separated `v1,` entries of `header`
    /// is the signature of this message (compared in constant time). Other versions are
    /// skipped. The timestamp is not checked against the clock: the suite skews node clocks.
    pub fn verify(&self, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
        header
            .split(' ')
            .filter(|entry| !entry.is_empty())
            .take(SIGNATURES_MAX)
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|b64| STANDARD.decode(b64).ok())
            .any(|tag| self.mac(id, timestamp, body).verify_slice(&tag).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification; the signature was recomputed with
    /// python3's `hmac` and `hashlib.sha256` over `b"{id}.{timestamp}.{payload}"`.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: &str = "1614265330";
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn spec_vector() {
        let secret = WebhookSecret::parse(SPEC_SECRET).unwrap();
        assert_eq!(secret.sign(SPEC_ID, SPEC_TS, SPEC_BODY), SPEC_SIG);
        assert!(secret.verify(SPEC_ID, SPEC_TS, SPEC_BODY, SPEC_SIG));
        assert!(!secret.verify(SPEC_ID, "1614265331", SPEC_BODY, SPEC_SIG));
        assert!(!secret.verify("msg_other", SPEC_TS, SPEC_BODY, SPEC_SIG));
        assert!(!secret.verify(SPEC_ID, SPEC_TS, br#"{"test": 2432232315}"#, SPEC_SIG));
        assert!(!secret.verify(SPEC_ID, SPEC_TS, SPEC_BODY, "v1,not-base64!"));
        assert!(!secret.verify(SPEC_ID, SPEC_TS, SPEC_BODY, ""));
    }

    /// A plain (non-`whsec_`) secret is used as its UTF-8 bytes; vector from python3's hmac.
    #[test]
    fn plain_secret_vector() {
        let secret = WebhookSecret::parse("plain-secret").unwrap();
        let sig = secret.sign(
            "ten1:en1:al1:ch1:2:CRITICAL",
            "1764561600",
            br#"{"state":"CRITICAL"}"#,
        );
        assert_eq!(sig, "v1,/IUqsIQcXnPVPdPbQ3aaa4frWhqi5YtIedX6FWz+3Vo=");
    }

    #[test]
    fn rotation_lists_and_their_bound() {
        let secret = WebhookSecret::parse(SPEC_SECRET).unwrap();
        let other = WebhookSecret::parse("whsec_b3RoZXI=").unwrap();
        let stale = other.sign(SPEC_ID, SPEC_TS, SPEC_BODY);
        let list = format!("v1a,AAAA {stale} {SPEC_SIG}");
        assert!(secret.verify(SPEC_ID, SPEC_TS, SPEC_BODY, &list));
        let mut long: Vec<String> = vec![stale.clone(); SIGNATURES_MAX - 1];
        long.push(SPEC_SIG.to_string());
        assert!(secret.verify(SPEC_ID, SPEC_TS, SPEC_BODY, &long.join(" ")));
        long.insert(0, stale);
        assert!(!secret.verify(SPEC_ID, SPEC_TS, SPEC_BODY, &long.join(" ")));
    }

    #[test]
    fn secrets_validated() {
        assert_eq!(WebhookSecret::parse(""), Err(SecretError::Empty));
        assert_eq!(WebhookSecret::parse("whsec_"), Err(SecretError::Empty));
        assert!(matches!(
            WebhookSecret::parse("whsec_%%%"),
            Err(SecretError::NotBase64(_))
        ));
    }
}
