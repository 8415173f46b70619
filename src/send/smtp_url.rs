//! The SMTP relay, from lettre's URL form: `smtp://host:25`, `smtp://user:pass@host:587?tls=required`
//! (STARTTLS, never falling back to plain text), `smtp://…?tls=opportunistic`, `smtps://user:pass@host:465`
//! (TLS from the first byte). `ehlo=name` sets the name we greet with; `pipelining=off` never pipelines
//! commands, for a relay that offers PIPELINING but does not answer pipelined commands in order.

use crate::config::Secret;
use std::fmt;

/// How the connection is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text; for a relay on this machine.
    None,
    /// STARTTLS if the server offers it.
    Opportunistic,
    /// STARTTLS, and refuse to send if the server does not offer it.
    Required,
    /// TLS from the start (`smtps://`).
    Wrapper,
}

/// Where and how to reach the relay. Debug and Display never show the password.
#[derive(Clone)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub credentials: Option<(String, Secret)>,
    pub hello_name: Option<String>,
    /// Pipeline commands when the server offers it (`?pipelining=off` never does, for a relay that
    /// offers PIPELINING but answers pipelined commands out of order).
    pub pipelining: bool,
}

impl SmtpServer {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url =
            url::Url::parse(raw.trim()).map_err(|e| format!("the SMTP URL is not valid: {e}"))?;
        let wrapper = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => {
                return Err(format!(
                    "the SMTP URL has scheme {other:?}: use smtp:// or smtps://"
                ));
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("the SMTP URL names no host")?
            .to_string();
        let mut tls = if wrapper {
            TlsMode::Wrapper
        } else {
            TlsMode::None
        };
        let mut hello_name = None;
        let mut pipelining = true;
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "required") if !wrapper => tls = TlsMode::Required,
                ("tls", "opportunistic") if !wrapper => tls = TlsMode::Opportunistic,
                ("tls", "none" | "false") if !wrapper => tls = TlsMode::None,
                ("tls", other) => {
                    return Err(format!(
                        "tls={other} is not understood: use tls=required or tls=opportunistic"
                    ));
                }
                ("ehlo", name) => hello_name = Some(name.to_string()),
                ("pipelining", "on" | "true") => pipelining = true,
                ("pipelining", "off" | "false") => pipelining = false,
                ("pipelining", other) => {
                    return Err(format!(
                        "pipelining={other} is not understood: use pipelining=off (or on, the default)"
                    ));
                }
                (other, _) => {
                    return Err(format!("the SMTP URL option {other:?} is not understood"));
                }
            }
        }
        let port = url.port().unwrap_or(match tls {
            TlsMode::Wrapper => 465,
            TlsMode::Required | TlsMode::Opportunistic => 587,
            TlsMode::None => 25,
        });
        let credentials = (!url.username().is_empty()).then(|| {
            let decode = |s: &str| percent_decode(s);
            (
                decode(url.username()),
                Secret::new(decode(url.password().unwrap_or_default())),
            )
        });
        Ok(SmtpServer {
            host,
            port,
            tls,
            credentials,
            hello_name,
            pipelining,
        })
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl fmt::Display for SmtpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls == TlsMode::Wrapper {
            "smtps"
        } else {
            "smtp"
        };
        let user = self
            .credentials
            .as_ref()
            .map(|(u, _)| format!("{u}:***@"))
            .unwrap_or_default();
        write!(f, "{scheme}://{user}{}:{}", self.host, self.port)
    }
}

impl fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SmtpServer({self}, {:?})", self.tls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lettre_url_forms() {
        let s = SmtpServer::parse("smtp://shop%40x.example:p%40ss@mail.example:587?tls=required")
            .unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("mail.example", 587, TlsMode::Required)
        );
        let (user, pass) = s.credentials.clone().unwrap();
        assert_eq!((user.as_str(), pass.expose()), ("shop@x.example", "p@ss"));
        assert_eq!(s.to_string(), "smtp://shop@x.example:***@mail.example:587");
        assert!(!format!("{s:?}").contains("p@ss"));
        assert_eq!(SmtpServer::parse("smtps://mail.example").unwrap().port, 465);
        assert_eq!(
            SmtpServer::parse("smtp://127.0.0.1:2525").unwrap().tls,
            TlsMode::None
        );
        assert!(SmtpServer::parse("http://mail.example").is_err());
        assert!(SmtpServer::parse("smtp://mail.example?tls=maybe").is_err());
        assert!(SmtpServer::parse("smtp://mail.example").unwrap().pipelining);
        assert!(
            !SmtpServer::parse("smtp://mail.example:587?tls=required&pipelining=off")
                .unwrap()
                .pipelining
        );
        assert!(SmtpServer::parse("smtp://mail.example?pipelining=maybe").is_err());
    }
}
