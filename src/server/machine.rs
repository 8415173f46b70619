//! Telling machine fetches from people: mail privacy proxies and security scanners fetch the open
//! pixel (and sometimes links) without anyone reading the message. Such events are still recorded,
//! with `"machine": true` in their properties, so that reports and segments can tell them apart.
//!
//! The heuristic, by the request's `User-Agent`:
//! - missing or empty: a machine (every mail client sends one);
//! - exactly `Mozilla/5.0`: Apple Mail Privacy Protection's prefetch, which sends nothing more;
//! - containing (case-insensitive) `GoogleImageProxy` (Gmail), `YahooMailProxy`, `bot`, `crawler`,
//!   `spider`, `scanner`, `preview`, `python-requests`, `curl/`, `wget`, `go-http-client`,
//!   `barracuda`, `proofpoint` or `mimecast`: a machine.
//!
//! Gmail's image proxy also fetches when a person opens the message, so for Gmail the flag means
//! "through a proxy", not "nobody read it": that is the documented limit of this heuristic.

/// Substrings (lower-case) of user agents that belong to proxies and scanners.
const MACHINE_MARKERS: &[&str] = &[
    "googleimageproxy",
    "yahoomailproxy",
    "bot",
    "crawler",
    "spider",
    "scanner",
    "preview",
    "python-requests",
    "curl/",
    "wget",
    "go-http-client",
    "barracuda",
    "proofpoint",
    "mimecast",
];

/// Whether a request with this `User-Agent` was most likely made by a machine.
pub fn is_machine(user_agent: Option<&str>) -> bool {
    let Some(agent) = user_agent.map(str::trim).filter(|a| !a.is_empty()) else {
        return true;
    };
    if agent == "Mozilla/5.0" {
        return true;
    }
    let lower = agent.to_ascii_lowercase();
    MACHINE_MARKERS.iter().any(|m| lower.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_and_scanners_are_machines_and_mail_clients_are_not() {
        assert!(is_machine(None));
        assert!(is_machine(Some("  ")));
        assert!(is_machine(Some("Mozilla/5.0")));
        assert!(is_machine(Some(
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
        )));
        assert!(is_machine(Some("curl/8.5.0")));
        assert!(!is_machine(Some(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
        )));
        assert!(!is_machine(Some(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.0"
        )));
    }
}
