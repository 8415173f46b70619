//! A real SMTP server for tests: Postfix's `smtp-sink` on a free loopback port, dumping every accepted
//! message into a folder of its own. Options inject faults: `-r CMD` replies 4xx, `-f CMD` 5xx, `-q CMD`
//! drops the connection (CMD is `connect`, `helo`, `mail`, `rcpt`, `data` or `.`). `-W CMD:SECONDS`
//! delays a reply, but then answers pipelined commands out of order: add `-p` (no PIPELINING) with it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub struct SmtpSink {
    child: Child,
    pub addr: SocketAddr,
    dump: TempDir,
}

/// One message as the sink received it: its envelope recipients and the raw message.
#[derive(Debug)]
pub struct Dumped {
    pub recipients: Vec<String>,
    pub text: String,
}

impl SmtpSink {
    /// Starts `smtp-sink` with extra `options` (e.g. `["-r", "rcpt"]`) on a free port. The port is
    /// free when chosen, but a test running beside this one may take it before the sink binds it
    /// (as the local port of a connection, say): the sink then exits, and another port is tried.
    pub fn start(options: &[&str]) -> SmtpSink {
        for _ in 0..10 {
            if let Some(sink) = SmtpSink::try_start_on(free_port(), options) {
                return sink;
            }
        }
        panic!("smtp-sink did not start on any of 10 free ports");
    }

    /// Starts `smtp-sink` on `addr`, e.g. to replace a sink that was failing on purpose.
    pub fn start_on(addr: SocketAddr, options: &[&str]) -> SmtpSink {
        SmtpSink::try_start_on(addr, options)
            .unwrap_or_else(|| panic!("smtp-sink did not start on {addr}"))
    }

    /// Starts `smtp-sink` on `addr`; `None` if it exits before it answers there.
    fn try_start_on(addr: SocketAddr, options: &[&str]) -> Option<SmtpSink> {
        let binary = ["/usr/sbin/smtp-sink", "/usr/lib/postfix/sbin/smtp-sink"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("smtp-sink is installed (Debian package postfix; .ci/test installs it)");
        let dump = tempfile::tempdir().expect("dump dir");
        let mut command = Command::new(binary);
        // As root, smtp-sink must drop privileges; the dump folder must then be writable by that user.
        if unsafe { libc::geteuid() } == 0 {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dump.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
            command.args(["-u", "nobody"]);
        }
        let template = format!("{}/msg.", dump.path().display());
        let child = command
            .args(["-d", &template])
            .args(options)
            .arg(addr.to_string())
            .arg("64")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start smtp-sink");
        let mut sink = SmtpSink { child, addr, dump };
        let deadline = Instant::now() + Duration::from_secs(10);
        let exited =
            |sink: &mut SmtpSink| sink.child.try_wait().expect("smtp-sink's status").is_some();
        while TcpStream::connect(addr).is_err() {
            if exited(&mut sink) {
                return None;
            }
            assert!(
                Instant::now() < deadline,
                "smtp-sink did not start on {addr}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Something answered; if the sink has exited all the same, it was another server, which
        // had the port first.
        std::thread::sleep(Duration::from_millis(20));
        (!exited(&mut sink)).then_some(sink)
    }

    /// `smtp://127.0.0.1:PORT` for this sink.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Waits (at most a minute) until the sink has received `count` messages.
    pub fn wait_for(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.messages().len() < count {
            assert!(
                Instant::now() < deadline,
                "the sink received fewer than {count} messages in a minute"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Messages received so far, per envelope recipient.
    pub fn per_recipient(&self) -> std::collections::HashMap<String, usize> {
        let mut counts = std::collections::HashMap::new();
        for message in self.messages() {
            for recipient in message.recipients {
                *counts.entry(recipient).or_default() += 1;
            }
        }
        counts
    }

    /// Asserts that the runs of a schedule fired at `fires`, `period` apart (each fire once, none
    /// skipped), and that each of `customers` recipients got exactly one message per fire.
    pub fn assert_each_fire_reached_everyone_once(
        &self,
        fires: &[rapport::timestamp::Timestamp],
        period: Duration,
        customers: usize,
    ) {
        for pair in fires.windows(2) {
            assert_eq!(
                pair[1].micros() - pair[0].micros(),
                period.as_micros() as i64,
                "consecutive fires, each once, none skipped: {fires:?}"
            );
        }
        let received = self.per_recipient();
        assert_eq!(received.len(), customers, "{received:?}");
        assert!(
            received.values().all(|&n| n == fires.len()),
            "one message per customer per fire ({} fires): {received:?}",
            fires.len()
        );
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<Dumped> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dump.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        files
            .into_iter()
            // A file the sink is still creating can vanish between listing and reading: skip it.
            .filter_map(|path| std::fs::read(path).ok())
            .map(|bytes| {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let recipients = text
                    .lines()
                    .take_while(|l| !l.is_empty())
                    .filter_map(|l| l.strip_prefix("X-Rcpt-Args: <"))
                    .map(|l| l.split('>').next().unwrap_or_default().to_string())
                    .collect();
                Dumped { recipients, text }
            })
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap()
}

/// A loopback address that refuses connections for as long as the returned socket lives: its port
/// is bound, so no other test can take it, but nothing listens on it.
pub fn refusing_port() -> (socket2::Socket, SocketAddr) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket");
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind a free port");
    let addr = socket
        .local_addr()
        .unwrap()
        .as_socket()
        .expect("an IP address");
    (socket, addr)
}
