//! Reading the `[dkim]` private key: RSA as PEM (PKCS#1 or PKCS#8), Ed25519 as the base64 of its
//! 32-byte seed.

use super::signature::{Key, Signer};
use crate::config::{DkimAlgorithm, DkimConfig as DkimSettings};
use anyhow::Context;
use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::DecodePrivateKey;
use std::path::Path;

/// The signer of `settings`, with its private key read from `settings.private_key` (relative to
/// `workspace`).
pub fn load(settings: &DkimSettings, workspace: &Path) -> anyhow::Result<Signer> {
    let path = workspace.join(&settings.private_key);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("[dkim] private_key: cannot read {}", path.display()))?;
    let key = parse(text.trim(), settings.algorithm).map_err(|e| {
        anyhow::anyhow!(
            "[dkim] private_key: {} is not a valid {} key ({e})\n  = hint: RSA keys are PEM, PKCS#1 or \
             PKCS#8 (`openssl genrsa -out dkim.key 2048`), Ed25519 keys the base64 of the 32-byte seed",
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

/// The key in `text`, read for `algorithm`.
pub(super) fn parse(text: &str, algorithm: DkimAlgorithm) -> Result<Key, String> {
    match algorithm {
        DkimAlgorithm::Rsa => rsa_key(text),
        DkimAlgorithm::Ed25519 => ed25519_key(text),
    }
}

/// An RSA key through `ring` when it takes it (2048 bits and more), else through the `rsa` crate:
/// RFC 8301 still allows 1024-bit keys, which `ring` refuses.
fn rsa_key(pem: &str) -> Result<Key, String> {
    let key = rsa::RsaPrivateKey::from_pkcs1_pem(pem)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs8_pem(pem))
        .map_err(|e| e.to_string())?;
    let der = key.to_pkcs1_der().map_err(|e| e.to_string())?;
    Ok(
        match ring::signature::RsaKeyPair::from_der(der.as_bytes()) {
            Ok(fast) => Key::Rsa(fast),
            Err(_) => Key::SmallRsa(key),
        },
    )
}

fn ed25519_key(text: &str) -> Result<Key, String> {
    let seed = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| e.to_string())?;
    if seed.len() != 32 {
        return Err(format!("{} bytes where the seed has 32", seed.len()));
    }
    ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed)
        .map(Key::Ed25519)
        .map_err(|e| e.to_string())
}
