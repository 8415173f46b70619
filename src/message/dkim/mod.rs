//! DKIM signing from the `[dkim]` section (RFC 6376, and RFC 8463 for Ed25519): the key is read once
//! per send, and each message is signed as it goes on the wire, after all its headers are set.
//!
//! lettre's own signer (0.11.23) is not used, for two reasons:
//! - its signatures of multipart messages do not verify: a multipart message's Content-Type is kept
//!   with its parts, where the signer does not look, so the field is listed in `h=` but left out of
//!   what is hashed, while every verifier hashes it. Every message rapport sends is multipart (HTML
//!   and text). `tests/send.rs` verifies the signatures with dkimpy, as a receiver would;
//! - it signs RSA through the `rsa` crate: about 1.8 ms of CPU per message here, against about
//!   0.6 ms through `ring` (already built in for rustls; `perf record` of `rapport send` with
//!   `[dkim]`), and a newsletter is signed once per recipient.
//!
//! Signatures are deterministic, so the unit tests check these against lettre's, byte for byte, on a
//! single-part message, where lettre's are right.

mod canonical;
mod key;
mod signature;

pub use key::load;
pub use signature::Signer;
