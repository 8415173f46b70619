//! DKIM signing from the `[dkim]` section: the key is read once per send, and every message is signed
//! after all its headers are set. lettre's default signs only From, Subject, To and Date; Gmail and
//! Yahoo require the signature to cover the one-click unsubscribe headers too, so the list is explicit.

use crate::config::{DkimAlgorithm, DkimConfig as DkimSettings};
use anyhow::Context;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;
use std::path::Path;

/// The headers a signature covers (those absent from a message are skipped by the signer).
const SIGNED: &[&str] = &[
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

/// The signing configuration, with the private key read from `settings.private_key` (relative to
/// `workspace`).
pub fn load(settings: &DkimSettings, workspace: &Path) -> anyhow::Result<DkimConfig> {
    let path = workspace.join(&settings.private_key);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("[dkim] private_key: cannot read {}", path.display()))?;
    let algorithm = match settings.algorithm {
        DkimAlgorithm::Ed25519 => DkimSigningAlgorithm::Ed25519,
        DkimAlgorithm::Rsa => DkimSigningAlgorithm::Rsa,
    };
    let key = DkimSigningKey::new(text.trim(), algorithm).map_err(|e| {
        anyhow::anyhow!(
            "[dkim] private_key: {} is not a valid {} key ({e:?})\n  = hint: RSA keys are PKCS#1 PEM \
             (`openssl genrsa -traditional 2048`), Ed25519 keys the base64 of the 32-byte seed",
            path.display(),
            format!("{:?}", settings.algorithm).to_lowercase()
        )
    })?;
    let headers = SIGNED
        .iter()
        .map(|h| HeaderName::new_from_ascii_str(h))
        .collect();
    let relaxed = DkimCanonicalization {
        header: DkimCanonicalizationType::Relaxed,
        body: DkimCanonicalizationType::Relaxed,
    };
    Ok(DkimConfig::new(
        settings.selector.clone(),
        settings.domain.clone(),
        key,
        headers,
        relaxed,
    ))
}
