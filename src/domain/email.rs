//! `EmailAddress`: a trimmed, syntactically valid address and the case-insensitive key that identifies a
//! customer. Two addresses that differ only in case are the same customer.

use std::fmt;
use std::str::FromStr;

/// A valid email address as the customer gave it (trimmed), plus its lower-cased identity key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress {
    address: String,
    key: String,
}

/// Why a string is not an address we can send to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid email address: {1}")]
pub struct InvalidEmail(pub String, pub &'static str);

impl EmailAddress {
    /// Validates `raw`: one `@`, a plausible local part and a domain with a dot, no spaces or control
    /// characters (CR/LF can never reach a header from here), at most 254 characters.
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let address = raw.trim();
        let fail = |why| Err(InvalidEmail(address.to_string(), why));
        if address.is_empty() {
            return fail("it is empty");
        }
        if address.len() > 254 {
            return fail("it is longer than 254 characters");
        }
        if address.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return fail("it contains spaces or control characters");
        }
        if address.contains(['<', '>', '"', ',', ';']) {
            return fail("write the bare address, without a display name, quotes or separators");
        }
        let Some((local, domain)) = address.rsplit_once('@') else {
            return fail("it has no @");
        };
        if local.is_empty() || local.contains('@') {
            return fail("it needs exactly one @ with a name before it");
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return fail(
                "the part before @ cannot start or end with a dot or contain two dots in a row",
            );
        }
        if !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return fail("the domain after @ must look like example.com");
        }
        if domain
            .split('.')
            .any(|label| label.starts_with('-') || label.ends_with('-'))
        {
            return fail("a domain label cannot start or end with a hyphen");
        }
        if lettre::Address::from_str(address).is_err() {
            return fail("it is not a valid mailbox");
        }
        Ok(EmailAddress {
            key: address.to_lowercase(),
            address: address.to_string(),
        })
    }

    /// The address as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.address
    }

    /// The identity key: the address lower-cased. Stored as `customers.email_key`.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_keys_case_insensitively() {
        let a = EmailAddress::parse("  Alice@Example.COM ").unwrap();
        assert_eq!(a.as_str(), "Alice@Example.COM");
        assert_eq!(a.key(), "alice@example.com");
    }

    #[test]
    fn accepts_plus_tags_and_unicode_local_parts() {
        assert!(EmailAddress::parse("bob+shop@example.org").is_ok());
        assert!(EmailAddress::parse("zoë@example.org").is_ok());
    }

    #[test]
    fn rejects_what_cannot_be_mailed() {
        for bad in [
            "",
            "bob",
            "bob@",
            "@example.com",
            "bob@example",
            "bob@example.com.",
            "bob..x@example.com",
            "bob@exa mple.com",
            "bob@example.com\r\nBcc: x@evil.com",
            "Bob <bob@example.com>",
            "a@b@example.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
