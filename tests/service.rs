//! The agent as systemd runs it: READY=1 and STATUS= on the notify socket,
//! WATCHDOG=1 only while it makes progress, secrets from credentials, and
//! the metrics endpoint. The notify socket is the test's own.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{free_port, mixed_messages, publish_all, Agent, Mosquitto};

/// The service manager's end of NOTIFY_SOCKET.
struct NotifySocket {
    sock: UnixDatagram,
    path: PathBuf,
    /// Every line received, in order (for failure messages).
    seen: Vec<String>,
}

impl NotifySocket {
    fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind the notify socket");
        NotifySocket {
            sock,
            path,
            seen: Vec::new(),
        }
    }

    fn path(&self) -> &str {
        self.path.to_str().expect("utf-8 temp path")
    }

    /// The lines of the next message, or none within `timeout`.
    fn next(&mut self, timeout: Duration) -> Option<Vec<String>> {
        self.sock
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .expect("timeout");
        let mut buf = [0u8; 4096];
        let n = self.sock.recv(&mut buf).ok()?;
        let lines: Vec<String> = String::from_utf8_lossy(&buf[..n])
            .lines()
            .map(str::to_owned)
            .collect();
        self.seen.extend(lines.iter().cloned());
        Some(lines)
    }

    /// Read messages until a line satisfies `want`; return that line.
    fn wait_for(&mut self, what: &str, timeout: Duration, want: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        while let Some(left) = timeout.checked_sub(start.elapsed()) {
            if let Some(lines) = self.next(left) {
                if let Some(hit) = lines.into_iter().find(|l| want(l)) {
                    return hit;
                }
            }
        }
        panic!("no {what} within {timeout:?}; received: {:?}", self.seen);
    }

    /// Every line received during `span`.
    fn collect(&mut self, span: Duration) -> Vec<String> {
        let start = Instant::now();
        let mut out = Vec::new();
        while let Some(left) = span.checked_sub(start.elapsed()) {
            if let Some(lines) = self.next(left) {
                out.extend(lines);
            }
        }
        out
    }
}

const WATCHDOG: &str = "WATCHDOG=1";

#[test]
fn ready_comes_once_running_and_the_watchdog_stops_while_the_writer_is_wedged() {
    if !cfg!(debug_assertions) {
        // The fault hook exists only in debug builds (never in a package).
        eprintln!("SKIPPED: the writer's fault hook is compiled into debug builds only");
        return;
    }
    let broker = Mosquitto::start();
    let mut agent = Agent::new(broker.port);
    let mut notify = NotifySocket::bind(agent.dir.path());
    let wedge = agent.dir.path().join("wedge-writer");
    let wedge_env = wedge.to_str().expect("utf-8").to_owned();
    // WatchdogSec=2s: a ping every second while healthy.
    agent.start_with_env(&[
        ("NOTIFY_SOCKET", notify.path()),
        ("WATCHDOG_USEC", "2000000"),
        ("DOCKSIDE_FAULT_WEDGE_WRITER", &wedge_env),
    ]);

    notify.wait_for("READY=1", Duration::from_secs(20), |l| l == "READY=1");
    // READY=1 comes with the first status line, in the same message.
    assert!(
        notify
            .seen
            .iter()
            .any(|l| l.starts_with("STATUS=last seq 0, site broker")),
        "a status line with READY: {:?}",
        notify.seen
    );
    notify.wait_for("a watchdog ping", Duration::from_secs(10), |l| {
        l == WATCHDOG
    });
    agent.wait_subscribed(1);

    // Working normally: events are committed and the pings go on.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(publish_all(broker.port, mixed_messages(20, "a"), None));
    agent.wait_for_events(20, Duration::from_secs(20));
    notify.wait_for("a ping after work", Duration::from_secs(10), |l| {
        l == WATCHDOG
    });

    // Wedge the writer on its next batch.
    std::fs::write(&wedge, b"").expect("wedge file");
    rt.block_on(publish_all(
        broker.port,
        vec![("scanners/H1/pick".into(), b"WEDGED-1".to_vec())],
        None,
    ));
    let stalled = notify.wait_for("a STALLED status", Duration::from_secs(20), |l| {
        l.starts_with("STATUS=STALLED: writer: busy for")
    });
    assert!(stalled.ends_with("watchdog withheld"), "{stalled}");
    let after = notify.collect(Duration::from_secs(5));
    assert!(
        !after.iter().any(|l| l == WATCHDOG),
        "the watchdog must stay quiet while the writer is wedged: {after:?}"
    );
    assert!(
        agent.log().contains("ALARM health: no progress"),
        "{}",
        agent.log()
    );
    assert_eq!(
        agent.summary().map(|s| s.events),
        Some(20),
        "nothing committed while wedged"
    );

    // Unwedged (in real life systemd would have restarted it by now): the
    // message is committed and the pings resume.
    std::fs::remove_file(&wedge).expect("unwedge");
    agent.wait_for_events(21, Duration::from_secs(20));
    notify.wait_for("pings again", Duration::from_secs(10), |l| l == WATCHDOG);

    let (status, _) = agent.terminate();
    assert!(status.success(), "clean exit: {status:?}\n{}", agent.log());
    notify.collect(Duration::from_millis(200)); // what it sent before exiting
    assert!(
        notify.seen.iter().any(|l| l == "STOPPING=1"),
        "STOPPING=1 on shutdown: {:?}",
        notify.seen
    );
}

/// A broker that requires a password, with one user `dockside`.
fn broker_with_password(dir: &Path, password: &str) -> Mosquitto {
    let passwd = dir.join("mosquitto.passwd");
    let made = std::process::Command::new("mosquitto_passwd")
        .args(["-b", "-c"])
        .arg(&passwd)
        .args(["dockside", password])
        .status()
        .expect("mosquitto_passwd (Debian's mosquitto package)");
    assert!(made.success());
    Mosquitto::start_with(Some(format!(
        "listener {{port}} 127.0.0.1\nallow_anonymous false\npassword_file {}",
        passwd.display()
    )))
}

fn credential_config(port: u16) -> String {
    format!(
        "site = \"dc-test\"\ndata_dir = \"{{data}}\"\n[site_broker]\nhost = \"127.0.0.1\"\nport = {port}\nusername = \"dockside\"\npassword_credential = \"site-broker.password\"\nreconnect_min_ms = 50\nreconnect_max_ms = 500\n{}",
        common::SUBSCRIPTIONS
    )
}

#[test]
fn the_broker_password_comes_from_a_systemd_credential_and_exposed_ones_are_refused() {
    let secrets = tempfile::tempdir().expect("tmp");
    let broker = broker_with_password(secrets.path(), "s3cret-pw");
    let mut agent = Agent::new(broker.port);
    let config = credential_config(broker.port).replace(
        "{data}",
        &agent.dir.path().join("data").display().to_string(),
    );
    std::fs::write(&agent.config, config).expect("config");

    // Not started by systemd with LoadCredential=: refused, with the fix, and
    // with EX_CONFIG so the unit does not restart into the same mistake.
    agent.start();
    let status = agent.wait_exit(Duration::from_secs(20)).expect("exits");
    assert_eq!(status.code(), Some(78), "{}", agent.log());
    assert!(
        agent.log().contains("LoadCredential=site-broker.password:"),
        "{}",
        agent.log()
    );

    // systemd's credentials directory, but the file is readable by others.
    let creds = secrets.path().join("credentials");
    std::fs::create_dir(&creds).expect("dir");
    let secret = creds.join("site-broker.password");
    std::fs::write(&secret, "s3cret-pw\n").expect("secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let creds_env = creds.to_str().expect("utf-8").to_owned();
    agent.start_with_env(&[("CREDENTIALS_DIRECTORY", &creds_env)]);
    let status = agent.wait_exit(Duration::from_secs(20)).expect("exits");
    assert_eq!(status.code(), Some(78), "{}", agent.log());
    assert!(agent.log().contains("chmod 600"), "{}", agent.log());

    // As systemd leaves it (0400, the service's user): the agent logs in.
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o400)).expect("chmod");
    agent.start_with_env(&[("CREDENTIALS_DIRECTORY", &creds_env)]);
    agent.wait_subscribed(1);
    assert!(
        !agent.log().contains("refused the connection"),
        "{}",
        agent.log()
    );
}

fn get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to metrics");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").expect("request");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response");
    out
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn the_metrics_endpoint_shows_ingest_commits_and_events_by_kind() {
    let broker = Mosquitto::start();
    let port = free_port();
    let mut agent = Agent::with_extra(
        broker.port,
        &format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
    );
    agent.start();
    agent.wait_subscribed(1);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(publish_all(broker.port, mixed_messages(40, "m"), None));
    agent.wait_for_events(40, Duration::from_secs(20));

    let page = get(port, "/metrics");
    assert!(page.starts_with("HTTP/1.0 200 OK"), "{page}");
    assert!(
        page.contains("Content-Type: text/plain; version=0.0.4"),
        "{page}"
    );
    for kind in ["scan", "pick_complete", "wave_released", "order_status"] {
        assert_eq!(
            sample(&page, &format!("dockside_events_total{{kind=\"{kind}\"}}")),
            Some(10.0),
            "{kind}:\n{page}"
        );
    }
    assert_eq!(
        sample(&page, "dockside_ingest_messages_total"),
        Some(40.0),
        "{page}"
    );
    assert_eq!(sample(&page, "dockside_last_seq"), Some(40.0), "{page}");
    assert_eq!(
        sample(&page, "dockside_site_broker_connected"),
        Some(1.0),
        "{page}"
    );
    assert!(
        sample(&page, "dockside_commits_total").is_some_and(|c| c >= 1.0),
        "{page}"
    );
    assert!(get(port, "/").starts_with("HTTP/1.0 404"));
}
