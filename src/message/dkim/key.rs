//! Reading the `[dkim]` private key: PEM (PKCS#1 for RSA, PKCS#8 for either), or for Ed25519 also
//! the base64 of its 32-byte seed. Errors say what the file holds when it is not what was asked for.

use super::signature::{Key, Signer};
use crate::config::{DkimAlgorithm, DkimConfig as DkimSettings};
use anyhow::Context;
use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use std::path::Path;

/// Receivers ignore signatures by shorter RSA keys (RFC 8301 §3.2).
const RSA_MIN_BITS: usize = 1024;

/// The signer of `settings`, with its private key read from `settings.private_key` (relative to
/// `workspace`).
pub fn load(settings: &DkimSettings, workspace: &Path) -> anyhow::Result<Signer> {
    for (key, value) in [
        ("selector", &settings.selector),
        ("domain", &settings.domain),
    ] {
        anyhow::ensure!(
            is_dns_name(value),
            "[dkim] {key} = {value:?} is not a DNS name\n  = hint: letters, digits, '-', '_' and '.', \
             as in selector = \"rapport\" and domain = \"maplethread.example\""
        );
    }
    let path = workspace.join(&settings.private_key);
    let hint = "RSA keys are PEM, PKCS#1 or PKCS#8 (`openssl genrsa -out dkim.key 2048`); Ed25519 keys \
                PKCS#8 PEM (`openssl genpkey -algorithm ed25519 -out dkim.key`) or the base64 of the \
                32-byte seed";
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "[dkim] private_key: cannot read {}\n  = hint: {hint}",
            path.display()
        )
    })?;
    let key = parse(text.trim(), settings.algorithm).map_err(|e| {
        anyhow::anyhow!(
            "[dkim] private_key: {} is not a valid {} key ({e})\n  = hint: {hint}",
            path.display(),
            format!("{:?}", settings.algorithm).to_lowercase()
        )
    })?;
    Ok(Signer::new(
        settings.selector.clone(),
        settings.domain.clone(),
        key,
    ))
}

fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The key in `text`, read for `algorithm`.
pub(super) fn parse(text: &str, algorithm: DkimAlgorithm) -> Result<Key, String> {
    let label = text
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("-----BEGIN "))
        .and_then(|line| line.strip_suffix("-----"));
    match (algorithm, label) {
        (_, Some("ENCRYPTED PRIVATE KEY")) => Err(
            "it is encrypted: write it unencrypted, readable by rapport alone (`openssl pkey -in KEY -out dkim.key`)"
                .to_string(),
        ),
        (DkimAlgorithm::Rsa, Some("RSA PRIVATE KEY")) => {
            rsa_key(rsa::RsaPrivateKey::from_pkcs1_pem(text).map_err(|e| e.to_string())?)
        }
        (DkimAlgorithm::Rsa, Some("PRIVATE KEY")) => match rsa::RsaPrivateKey::from_pkcs8_pem(text) {
            Ok(key) => rsa_key(key),
            Err(_) if ed25519_pkcs8(text).is_ok() => {
                Err("it is an Ed25519 key: set algorithm = \"ed25519\"".to_string())
            }
            Err(e) => Err(e.to_string()),
        },
        (DkimAlgorithm::Ed25519, Some("PRIVATE KEY")) => match ed25519_pkcs8(text) {
            Ok(key) => Ok(Key::Ed25519(key)),
            Err(_) if rsa::RsaPrivateKey::from_pkcs8_pem(text).is_ok() => {
                Err("it is an RSA key: set algorithm = \"rsa\"".to_string())
            }
            Err(e) => Err(e),
        },
        (DkimAlgorithm::Ed25519, Some("RSA PRIVATE KEY")) => {
            Err("it is an RSA key: set algorithm = \"rsa\"".to_string())
        }
        (_, Some(other)) => Err(format!("a PEM \"{other}\", not a private key")),
        (DkimAlgorithm::Rsa, None) => Err("not PEM (\"-----BEGIN ...\")".to_string()),
        (DkimAlgorithm::Ed25519, None) => ed25519_seed(text),
    }
}

/// An RSA key through `ring` when it takes it (2048 to 4096 bits, exponent at least 65537), else
/// through the `rsa` crate, several times slower: RFC 8301 still allows 1024-bit keys, which `ring`
/// refuses.
fn rsa_key(key: rsa::RsaPrivateKey) -> Result<Key, String> {
    let bits = key.size() * 8;
    if bits < RSA_MIN_BITS {
        return Err(format!(
            "it has {bits} bits, and receivers ignore DKIM signatures by keys under {RSA_MIN_BITS} \
             (RFC 8301): make a 2048-bit key"
        ));
    }
    let der = key.to_pkcs1_der().map_err(|e| e.to_string())?;
    Ok(
        match ring::signature::RsaKeyPair::from_der(der.as_bytes()) {
            Ok(fast) => Key::Rsa(fast),
            Err(why) => {
                if bits >= 2048 {
                    tracing::warn!(
                        bits,
                        "the DKIM key is signed with the slower RSA code ({why}): a 2048-bit key with the usual exponent 65537 signs several times faster"
                    );
                }
                Key::SmallRsa(key)
            }
        },
    )
}

fn ed25519_pkcs8(pem: &str) -> Result<ring::signature::Ed25519KeyPair, String> {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map_err(|e| e.to_string())?;
    ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(|e| e.to_string())
}

fn ed25519_seed(text: &str) -> Result<Key, String> {
    let seed = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("neither PEM nor the base64 of a seed: {e}"))?;
    if seed.len() != 32 {
        return Err(format!("{} bytes where the seed has 32", seed.len()));
    }
    ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed)
        .map(Key::Ed25519)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str, algorithm: DkimAlgorithm) -> String {
        match parse(text, algorithm) {
            Ok(_) => panic!("{text:?} was taken as a {algorithm:?} key"),
            Err(e) => e,
        }
    }

    /// A key that is not what `algorithm` says, or that receivers would not accept, is refused with
    /// what to do.
    #[test]
    fn keys_that_cannot_sign_say_why() {
        let rsa512 = include_str!("../../../tests/fixtures/dkim/rsa512.pem");
        assert!(error(rsa512, DkimAlgorithm::Rsa).contains("512 bits"));
        let ed25519 = include_str!("../../../tests/fixtures/dkim/ed25519.pem");
        assert!(error(ed25519, DkimAlgorithm::Rsa).contains("set algorithm = \"ed25519\""));
        let rsa = include_str!("../../../tests/fixtures/dkim/rsa2048.pem");
        assert!(error(rsa, DkimAlgorithm::Ed25519).contains("set algorithm = \"rsa\""));
        let pkcs8 = include_str!("../../../tests/fixtures/dkim/rsa2048.pkcs8.pem");
        assert!(error(pkcs8, DkimAlgorithm::Ed25519).contains("set algorithm = \"rsa\""));
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----";
        assert!(error(encrypted, DkimAlgorithm::Rsa).contains("encrypted"));
        assert!(error("not a key", DkimAlgorithm::Rsa).contains("not PEM"));
        assert!(parse(ed25519, DkimAlgorithm::Ed25519).is_ok());
    }

    #[test]
    fn selectors_and_domains_are_dns_names() {
        assert!(
            is_dns_name("rapport")
                && is_dns_name("mail.maplethread.example")
                && is_dns_name("s_1-2")
        );
        for bad in ["", "a;b", "a b", "a..b", "café", "a\r\nX-Injected: 1"] {
            assert!(!is_dns_name(bad), "{bad:?}");
        }
    }
}
