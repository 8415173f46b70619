//! A receiver's DKIM check: dkimpy (Debian's `python3-dkim`, installed by `.ci/test`), given the
//! public key in place of a DNS lookup. An implementation of its own, so that a signature is checked
//! the way receiving servers check it rather than by the code that made it.

use std::io::Write;
use std::process::{Command, Stdio};

/// Reads the message on stdin; the DNS record comes in `DKIM_RECORD`.
const VERIFY: &str = r#"
import logging, os, sys
import dkim
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(message)s")
record = os.environ["DKIM_RECORD"].encode()
message = sys.stdin.buffer.read()
ok = dkim.verify(message, logger=logging.getLogger(), dnsfunc=lambda name, timeout=5: record)
sys.exit(0 if ok else 1)
"#;

/// Whether the first DKIM-Signature of `message` verifies against `record` (the TXT record a
/// receiver would find, e.g. `v=DKIM1; k=rsa; p=…`). The error says what dkimpy logged.
pub fn dkim_verifies(message: &[u8], record: &str) -> Result<(), String> {
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", VERIFY])
        .env("DKIM_RECORD", record)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 with dkimpy (Debian packages python3-dkim and python3-nacl; `.ci/test` installs them)");
    child.stdin.take().unwrap().write_all(message).unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        !log.contains("ModuleNotFoundError"),
        "dkimpy is missing: install the Debian packages python3-dkim and python3-nacl (`.ci/test` does)\n{log}"
    );
    if out.status.success() {
        Ok(())
    } else {
        Err(log.into_owned())
    }
}

/// The message as a receiver has it: smtp-sink's dump, without the lines smtp-sink puts before
/// the message's own fields, and with CRLF line ends again.
pub fn as_received(dumped: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(dumped.len() + dumped.len() / 40);
    let sink_lines = ["X-Client-", "X-Helo-", "X-Mail-", "X-Rcpt-"];
    for line in dumped
        .lines()
        .skip_while(|line| sink_lines.iter().any(|p| line.starts_with(p)))
    {
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}
