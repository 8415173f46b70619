//! Signed tokens for the links in a message: the open pixel, each tracked click, unsubscribe and
//! preferences.
//!
//! A token is `base64url(payload || tag)` where the payload is a version byte, the purpose, the
//! delivery id and (for clicks) the index of the link in the message, and the tag is the first 16
//! bytes of HMAC-SHA256 over the payload with `[tracking] secret`. Nothing in it is guessable from
//! another token, tokens never expire (CAN-SPAM wants opt-outs to keep working), and verification
//! compares tags in constant time.

use crate::config::{Secret, TrackingConfig};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use toml::Spanned;

const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
const PAYLOAD_LEN: usize = 1 + 1 + 8 + 2;

/// What a token lets its bearer do, and for which delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The open pixel, served at `/o/TOKEN`.
    Open,
    /// The link with this index in the message, served at `/c/TOKEN`.
    Click(u16),
    /// One-click unsubscribe from the campaign's topic, served at `/u/TOKEN`.
    Unsubscribe,
    /// The page where a customer picks their topics, served at `/p/TOKEN`.
    Preferences,
}

impl Purpose {
    /// The path prefix of the endpoint that accepts this token.
    pub fn path(self) -> &'static str {
        match self {
            Purpose::Open => "o",
            Purpose::Click(_) => "c",
            Purpose::Unsubscribe => "u",
            Purpose::Preferences => "p",
        }
    }

    fn code(self) -> (u8, u16) {
        match self {
            Purpose::Open => (b'o', 0),
            Purpose::Click(index) => (b'c', index),
            Purpose::Unsubscribe => (b'u', 0),
            Purpose::Preferences => (b'p', 0),
        }
    }

    fn from_code(code: u8, index: u16) -> Option<Purpose> {
        match code {
            b'o' => Some(Purpose::Open),
            b'c' => Some(Purpose::Click(index)),
            b'u' => Some(Purpose::Unsubscribe),
            b'p' => Some(Purpose::Preferences),
            _ => None,
        }
    }
}

/// What a verified token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub delivery_id: i64,
    pub purpose: Purpose,
}

/// Signs tokens with one secret, and verifies them with it or with the secrets it replaced.
#[derive(Clone)]
pub struct Signer {
    mac: Hmac<Sha256>,
    /// Secrets that signed earlier tokens: still accepted, never used to sign.
    previous: Vec<Hmac<Sha256>>,
}

impl Signer {
    pub fn new(secret: &[u8]) -> Signer {
        Signer {
            mac: Hmac::new_from_slice(secret).expect("HMAC accepts keys of any length"),
            previous: Vec::new(),
        }
    }

    /// The workspace's signer: `[tracking] secret`, accepting `previous_secrets` too.
    pub fn for_tracking(tracking: &TrackingConfig) -> Signer {
        let key = |secret: &Spanned<Secret>| {
            Hmac::new_from_slice(secret.get_ref().expose().as_bytes())
                .expect("HMAC accepts keys of any length")
        };
        Signer {
            mac: key(&tracking.secret),
            previous: tracking.previous_secrets.iter().map(key).collect(),
        }
    }

    /// The token for `purpose` on `delivery_id`.
    pub fn sign(&self, delivery_id: i64, purpose: Purpose) -> String {
        let (code, index) = purpose.code();
        let mut bytes = Vec::with_capacity(PAYLOAD_LEN + TAG_LEN);
        bytes.push(VERSION);
        bytes.push(code);
        bytes.extend_from_slice(&delivery_id.to_be_bytes());
        bytes.extend_from_slice(&index.to_be_bytes());
        let tag = self.tag(&bytes);
        bytes.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The claim of a token this secret (or a previous one) signed; `None` for anything forged,
    /// altered or malformed.
    pub fn verify(&self, token: &str) -> Option<Claim> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() != PAYLOAD_LEN + TAG_LEN || bytes[0] != VERSION {
            return None;
        }
        let (payload, tag) = bytes.split_at(PAYLOAD_LEN);
        let signed = std::iter::once(&self.mac)
            .chain(&self.previous)
            .any(|mac| bool::from(tag_of(mac, payload).ct_eq(tag)));
        if !signed {
            return None;
        }
        let delivery_id = i64::from_be_bytes(payload[2..10].try_into().ok()?);
        let index = u16::from_be_bytes(payload[10..12].try_into().ok()?);
        let purpose = Purpose::from_code(payload[1], index)?;
        Some(Claim {
            delivery_id,
            purpose,
        })
    }

    fn tag(&self, payload: &[u8]) -> [u8; TAG_LEN] {
        tag_of(&self.mac, payload)
    }
}

/// The truncated HMAC of `payload` under `mac`'s key.
fn tag_of(mac: &Hmac<Sha256>, payload: &[u8]) -> [u8; TAG_LEN] {
    let mut mac = mac.clone();
    mac.update(payload);
    let full = mac.finalize().into_bytes();
    let mut tag = [0; TAG_LEN];
    tag.copy_from_slice(&full[..TAG_LEN]);
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::new(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn a_signed_token_verifies_to_its_claim() {
        for purpose in [
            Purpose::Open,
            Purpose::Click(7),
            Purpose::Unsubscribe,
            Purpose::Preferences,
        ] {
            let token = signer().sign(42, purpose);
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            assert_eq!(
                signer().verify(&token),
                Some(Claim {
                    delivery_id: 42,
                    purpose
                })
            );
        }
    }

    #[test]
    fn previous_secrets_verify_but_never_sign() {
        let before = Signer::new(b"the secret before the rotation, of 40 B");
        let after = Signer {
            previous: vec![before.mac.clone()],
            ..Signer::new(b"the secret after the rotation, of 39 B!")
        };
        let old_token = before.sign(7, Purpose::Unsubscribe);
        let new_token = after.sign(7, Purpose::Unsubscribe);

        let claim = Some(Claim {
            delivery_id: 7,
            purpose: Purpose::Unsubscribe,
        });
        assert_eq!(after.verify(&old_token), claim);
        assert_eq!(after.verify(&new_token), claim);
        assert_ne!(new_token, old_token, "signed with the new secret");
        assert_eq!(before.verify(&new_token), None);
        let stranger = Signer::new(b"a secret that neither of them ever had");
        assert_eq!(after.verify(&stranger.sign(7, Purpose::Unsubscribe)), None);
    }

    #[test]
    fn every_altered_byte_is_refused() {
        let token = signer().sign(42, Purpose::Click(3));
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for i in 0..bytes.len() {
            let mut forged = bytes.clone();
            forged[i] ^= 0x01;
            assert_eq!(
                signer().verify(&URL_SAFE_NO_PAD.encode(&forged)),
                None,
                "byte {i}"
            );
        }
        assert_eq!(signer().verify(&token[..token.len() - 1]), None);
        assert_eq!(signer().verify("not a token"), None);
    }

    #[test]
    fn another_secret_cannot_verify() {
        let token = signer().sign(42, Purpose::Unsubscribe);
        let other = Signer::new(b"another secret of thirty-two bytes!!");
        assert_eq!(other.verify(&token), None);
        assert_ne!(token, signer().sign(43, Purpose::Unsubscribe));
    }
}
