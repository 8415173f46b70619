//! Signing a message as it goes on the wire: its DKIM-Signature field is computed over the relaxed
//! forms of the signed fields and of the body, and put before the other fields.

use super::canonical;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The fields a signature covers. Gmail and Yahoo require the one-click unsubscribe fields among
/// them; those absent from a message are listed all the same, so that none can be added later.
/// From is listed once more than it appears (RFC 6376 §8.15): a second From, which some mail
/// programs would show instead, cannot be added without breaking the signature.
const SIGNED: &[&str] = &[
    "From",
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
];

/// [`SIGNED`] without the second From: lettre's signer takes the first instance of a field each
/// time it is listed, so only this list can be compared with it.
#[cfg(test)]
const SIGNED_ONCE: &[&str] = SIGNED.split_at(1).1;

/// Lines of the DKIM-Signature field are folded before this many characters where they can be.
const LINE: usize = 78;

/// A private key, ready to sign.
pub(super) enum Key {
    /// RSA through `ring`: 2048 to 4096 bits, exponent at least 65537.
    Rsa(ring::signature::RsaKeyPair),
    /// The other RSA keys, which `ring` refuses: above all 1024-bit ones, which RFC 8301 still
    /// allows.
    SmallRsa(rsa::RsaPrivateKey),
    Ed25519(ring::signature::Ed25519KeyPair),
}

impl Key {
    fn algorithm(&self) -> &'static str {
        match self {
            Key::Rsa(_) | Key::SmallRsa(_) => "rsa-sha256",
            Key::Ed25519(_) => "ed25519-sha256",
        }
    }

    /// The signature of `data`: RSASSA-PKCS1-v1_5 over its SHA-256 hash, or, for Ed25519 (RFC
    /// 8463), Ed25519 over that hash.
    fn sign(&self, data: &[u8]) -> Vec<u8> {
        match self {
            Key::Rsa(key) => {
                let mut signature = vec![0; key.public().modulus_len()];
                key.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &ring::rand::SystemRandom::new(),
                    data,
                    &mut signature,
                )
                .expect("a buffer of the modulus' length and the system's randomness");
                signature
            }
            Key::SmallRsa(key) => key
                .sign(rsa::Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(data))
                .expect("a valid key signs any hash"),
            Key::Ed25519(key) => key.sign(&Sha256::digest(data)).as_ref().to_vec(),
        }
    }
}

/// Signs messages for one domain with one key.
pub struct Signer {
    selector: String,
    domain: String,
    key: Key,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Signer")
            .field("selector", &self.selector)
            .field("domain", &self.domain)
            .field("algorithm", &self.key.algorithm())
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub(super) fn new(selector: String, domain: String, key: Key) -> Signer {
        Signer {
            selector,
            domain,
            key,
        }
    }

    /// `message` (as formatted: fields, a blank line, the body) with a DKIM-Signature field first,
    /// dated `at` (seconds since the epoch).
    pub fn sign(&self, message: &[u8], at: u64) -> Vec<u8> {
        self.sign_listing(SIGNED, message, at)
    }

    /// [`Self::sign`], covering the fields `listed`.
    fn sign_listing(&self, listed: &[&str], message: &[u8], at: u64) -> Vec<u8> {
        let (head, body) = match message.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(end) => (&message[..end + 2], &message[end + 4..]),
            None => (message, &message[message.len()..]),
        };
        let body_hash = b64(&Sha256::digest(canonical::body(body)));
        let fields = canonical::fields(head);
        let mut data = Vec::new();
        // Instances are taken from the bottom up, one per listing of their name; a name listed
        // more often than it appears adds nothing (RFC 6376 §5.4.2).
        let mut taken = vec![false; fields.len()];
        for name in listed {
            let next = (0..fields.len()).rev().find(|&i| {
                !taken[i]
                    && fields[i]
                        .0
                        .trim_ascii_end()
                        .eq_ignore_ascii_case(name.as_bytes())
            });
            if let Some(i) = next {
                taken[i] = true;
                data.extend(canonical::header(fields[i].0, fields[i].1));
            }
        }
        let signed = listed.join(":").to_ascii_lowercase();
        let unsigned = fold(&[
            "v=1".to_string(),
            format!("a={}", self.key.algorithm()),
            format!("d={}", self.domain),
            format!("s={}", self.selector),
            "c=relaxed/relaxed".to_string(),
            "q=dns/txt".to_string(),
            format!("t={at}"),
            format!("h={signed}"),
            format!("bh={body_hash}"),
            "b=".to_string(),
        ]);
        // The field itself is signed with an empty b=, and without its final CRLF.
        let own = canonical::header(b"DKIM-Signature", unsigned.as_bytes());
        data.extend_from_slice(own.strip_suffix(b"\r\n").unwrap_or(&own));
        let signature = b64(&self.key.sign(&data));
        let mut out = Vec::with_capacity(message.len() + unsigned.len() + signature.len() + 64);
        out.extend_from_slice(b"DKIM-Signature:");
        out.extend_from_slice(unsigned.as_bytes());
        out.extend_from_slice(fold_value(&unsigned, &signature).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(message);
        out
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The tags as a field value (after "DKIM-Signature:"), a space before each, or a fold where the
/// line would grow past [`LINE`].
fn fold(tags: &[String]) -> String {
    let mut out = String::new();
    let mut line = "DKIM-Signature:".len();
    for (i, tag) in tags.iter().enumerate() {
        let tag = if i + 1 < tags.len() {
            format!("{tag};")
        } else {
            tag.clone()
        };
        if line + 1 + tag.len() > LINE {
            out.push_str("\r\n\t");
            line = 1;
        } else {
            out.push(' ');
            line += 1;
        }
        out.push_str(&tag);
        line += tag.len();
    }
    out
}

/// `value` (base64) to follow `before`, folded into lines of at most [`LINE`] characters: whitespace
/// within b= is ignored by verifiers.
fn fold_value(before: &str, value: &str) -> String {
    let mut line = before.rsplit('\n').next().map_or(0, str::len);
    if !before.contains('\n') {
        line += "DKIM-Signature:".len();
    }
    let mut out = String::with_capacity(value.len() + value.len() / 32);
    for c in value.chars() {
        if line >= LINE - 1 {
            out.push_str("\r\n\t");
            line = 1;
        }
        out.push(c);
        line += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::key::parse;
    use super::*;
    use crate::config::DkimAlgorithm;
    use lettre::message::Message;
    use lettre::message::dkim::{
        DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
        DkimSigningKey,
    };
    use lettre::message::header::{ContentType, HeaderName, HeaderValue};
    use std::collections::BTreeMap;
    use std::time::{SystemTime, UNIX_EPOCH};

    const RSA_2048: &str = include_str!("../../../tests/fixtures/dkim/rsa2048.pem");
    const RSA_2048_PKCS8: &str = include_str!("../../../tests/fixtures/dkim/rsa2048.pkcs8.pem");
    const RSA_1024: &str = include_str!("../../../tests/fixtures/dkim/rsa1024.pem");

    fn ed25519_seed() -> String {
        let seed: [u8; 32] = std::array::from_fn(|i| i as u8 * 7 + 1);
        b64(&seed)
    }

    /// A message with what makes canonicalization matter: a folded encoded subject, runs of spaces
    /// and tabs, lines ending in spaces and trailing empty lines. Single-part: lettre leaves a
    /// multipart message's Content-Type out of what it hashes (see the module's documentation).
    fn message() -> Message {
        let text = "Hello  Ada,\t\tyour   order \r\nis ready.   \r\n\r\n\r\n";
        Message::builder()
            .from("Maple & Thread <hello@maplethread.example>".parse().unwrap())
            .to("Ada Lovelace <ada@example.com>".parse().unwrap())
            .subject("Ada, your   order ships — and autumn fabrics are in, with a very long subject line")
            .message_id(Some("<1.2@maplethread.example>".to_string()))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                "<https://mail.maplethread.example/u/abc>,\t <mailto:unsubscribe@maplethread.example?subject=x>".to_string(),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_string(),
            ))
            .header(ContentType::TEXT_PLAIN)
            .body(text.to_string())
            .unwrap()
    }

    /// The tags of the DKIM-Signature field of `eml`, whitespace removed.
    fn tags(eml: &[u8]) -> BTreeMap<String, String> {
        let text = String::from_utf8(eml.to_vec()).unwrap();
        let head = text.split("\r\n\r\n").next().unwrap();
        let (_, value) = canonical::fields(head.as_bytes())
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(b"DKIM-Signature"))
            .expect("a DKIM-Signature field");
        std::str::from_utf8(value)
            .unwrap()
            .split(';')
            .map(|tag| {
                let tag: String = tag.chars().filter(|c| !c.is_whitespace()).collect();
                let (name, value) = tag.split_once('=').unwrap();
                (name.to_string(), value.to_string())
            })
            .collect()
    }

    /// This signer's field and lettre's for the same message and key, dated the same second.
    fn both(
        key: &str,
        algorithm: DkimAlgorithm,
    ) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
        let ours = Signer::new(
            "rapport".into(),
            "maplethread.example".into(),
            parse(key, algorithm).unwrap(),
        );
        let lettre_algorithm = match algorithm {
            DkimAlgorithm::Rsa => DkimSigningAlgorithm::Rsa,
            DkimAlgorithm::Ed25519 => DkimSigningAlgorithm::Ed25519,
        };
        let lettre_key = as_pkcs1(key);
        let theirs = DkimConfig::new(
            "rapport".into(),
            "maplethread.example".into(),
            DkimSigningKey::new(lettre_key, lettre_algorithm).unwrap(),
            SIGNED_ONCE
                .iter()
                .map(|h| HeaderName::new_from_ascii_str(h))
                .collect(),
            DkimCanonicalization {
                header: DkimCanonicalizationType::Relaxed,
                body: DkimCanonicalizationType::Relaxed,
            },
        );
        let now = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
        };
        let message = message();
        loop {
            let before = now();
            let mut signed = message.clone();
            signed.sign(&theirs);
            if now() != before {
                continue;
            }
            let ours = ours.sign_listing(SIGNED_ONCE, &message.formatted(), before);
            return (tags(&ours), tags(&signed.formatted()));
        }
    }

    /// lettre reads RSA keys as PKCS#1 only: the PKCS#8 fixture is the same key as the PKCS#1 one.
    fn as_pkcs1(key: &str) -> &str {
        if key == RSA_2048_PKCS8 { RSA_2048 } else { key }
    }

    /// Signatures are deterministic (RSASSA-PKCS1-v1_5 and Ed25519): the same message, key and
    /// second give lettre's signature exactly, whichever way the key is read and signs.
    #[test]
    fn signatures_match_lettres_byte_for_byte() {
        for (name, key, algorithm) in [
            (
                "RSA 2048, PKCS#1, through ring",
                RSA_2048,
                DkimAlgorithm::Rsa,
            ),
            (
                "RSA 2048, PKCS#8, through ring",
                RSA_2048_PKCS8,
                DkimAlgorithm::Rsa,
            ),
            (
                "RSA 1024, through the rsa crate",
                RSA_1024,
                DkimAlgorithm::Rsa,
            ),
            ("Ed25519", &ed25519_seed(), DkimAlgorithm::Ed25519),
        ] {
            let (ours, theirs) = both(key, algorithm);
            assert_eq!(ours, theirs, "{name}");
            assert!(ours["b"].len() > 80, "{name}: {ours:?}");
        }
    }

    #[test]
    fn keys_are_read_by_the_fastest_signer_that_takes_them() {
        assert!(matches!(
            parse(RSA_2048, DkimAlgorithm::Rsa),
            Ok(Key::Rsa(_))
        ));
        assert!(matches!(
            parse(RSA_2048_PKCS8, DkimAlgorithm::Rsa),
            Ok(Key::Rsa(_))
        ));
        assert!(matches!(
            parse(RSA_1024, DkimAlgorithm::Rsa),
            Ok(Key::SmallRsa(_))
        ));
        assert!(parse(&ed25519_seed(), DkimAlgorithm::Rsa).is_err());
        assert!(parse("c2hvcnQ=", DkimAlgorithm::Ed25519).is_err());
    }

    /// The field goes first, every line of it within 78 characters, and the message follows as it
    /// was.
    #[test]
    fn the_field_is_folded_and_put_first() {
        let signer = Signer::new(
            "rapport".into(),
            "maplethread.example".into(),
            parse(RSA_2048, DkimAlgorithm::Rsa).unwrap(),
        );
        let message = message().formatted();
        let signed = signer.sign(&message, 1_700_000_000);
        let text = String::from_utf8(signed.clone()).unwrap();
        assert!(
            text.starts_with("DKIM-Signature: v=1; a=rsa-sha256;"),
            "{text}"
        );
        assert!(signed.ends_with(&message));
        let field = &text[..text.len() - message.len()];
        for line in field.split("\r\n").filter(|l| !l.is_empty()) {
            // The list of signed fields is the one tag that cannot be folded short.
            assert!(
                line.len() <= LINE || line.trim_start().starts_with("h="),
                "{line:?}"
            );
        }
    }
}
