//! Test harness: a real mosquitto on a free loopback port with its own config
//! and data dir, the real `dockside` binary, and a QoS 1 publisher.
#![allow(dead_code)] // each test binary uses a different part

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn mosquitto_binary() -> PathBuf {
    if let Ok(p) = std::env::var("MOSQUITTO") {
        return p.into();
    }
    for p in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!(
        "mosquitto not found: install Debian's `mosquitto` (scripts/test.sh does) or set MOSQUITTO"
    );
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// A mosquitto broker owned by the test; killed on drop.
pub struct Mosquitto {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Lines replacing the plain listener (e.g. a TLS listener); `{port}` is substituted.
    listener: Option<String>,
}

impl Mosquitto {
    pub fn start() -> Mosquitto {
        Self::start_with(None)
    }

    /// A broker whose listener is configured by `listener` (`{port}` is
    /// replaced by its port), e.g. for TLS.
    pub fn start_with(listener: Option<String>) -> Mosquitto {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut m = Mosquitto {
            port: free_port(),
            dir,
            child: None,
            listener,
        };
        m.spawn();
        m
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn spawn(&mut self) {
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).expect("broker data dir");
        let conf = self.dir.path().join("mosquitto.conf");
        // The settings the README's broker recipe asks for: keep sessions
        // across restarts, never drop queued messages, a wide in-flight window.
        std::fs::write(
            &conf,
            format!(
                "{user}{listener}\npersistence true\npersistence_location {data}/\nautosave_interval 1\nmax_queued_messages 0\nmax_inflight_messages 1000\nmax_packet_size 4194304\nlog_dest file {log}\n",
                // As root, mosquitto drops to its own user, which could not
                // read this test's files or write its persistence.
                user = if running_as_root() { "user root\n" } else { "" },
                listener = self
                    .listener
                    .as_deref()
                    .unwrap_or("listener {port} 127.0.0.1\nallow_anonymous true")
                    .replace("{port}", &self.port.to_string()),
                data = data.display(),
                log = self.dir.path().join("mosquitto.log").display(),
            ),
        )
        .expect("broker config");
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mosquitto");
        self.child = Some(child);
        wait_for(Duration::from_secs(10), "mosquitto to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        });
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// On a failed test, the end of a process's log says what it was doing.
fn print_tail(who: &str, log: &str) {
    let lines: Vec<&str> = log.lines().collect();
    let tail = &lines[lines.len().saturating_sub(40)..];
    eprintln!("--- last lines of the {who} log ---\n{}", tail.join("\n"));
}

/// Poll `cond` until it holds, panicking with `what` after `timeout`.
pub fn wait_for(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The subscriptions every test config uses.
pub const SUBSCRIPTIONS: &str = r#"
[[subscriptions]]
topic = "scanners/+/pick"
format = "text"
kind = "scan"
action = "pick"

[[subscriptions]]
topic = "wms/scans"
format = "json"
kind = "scan"
[subscriptions.mapping]
id = "/id"
scanner = "/device"
code = "/code"
action = "/action"
order = "/order"
qty = "/qty"
timestamp = "/ts"

[[subscriptions]]
topic = "wms/picks"
format = "json"
kind = "pick_complete"
[subscriptions.mapping]
id = "/id"
order = "/order"
line = "/line"
qty = "/qty"

[[subscriptions]]
topic = "wms/waves"
format = "json"
kind = "wave_released"
[subscriptions.mapping]
id = "/id"
wave = "/wave"

[[subscriptions]]
topic = "wms/orders"
format = "json"
kind = "order_status"
[subscriptions.mapping]
id = "/id"
order = "/order"
status = "/status"
"#;

/// Start `dockside ARGS --config CONFIG`, its log appended to `log`.
fn spawn_dockside(args: &[&str], config: &Path, log: &Path) -> Child {
    spawn_dockside_env(args, config, log, &[])
}

/// As `spawn_dockside`, with extra environment variables (as systemd sets them).
fn spawn_dockside_env(args: &[&str], config: &Path, log: &Path, env: &[(&str, &str)]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    Command::new(env!("CARGO_BIN_EXE_dockside"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("DOCKSIDE_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn dockside")
}

/// A dockside agent process with its own data dir and config.
pub struct Agent {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    child: Option<Child>,
}

impl Agent {
    pub fn new(broker_port: u16) -> Agent {
        Self::with_extra(broker_port, "")
    }

    /// An agent whose config ends with `extra` (e.g. `[uplink]`, `[modbus]`).
    pub fn with_extra(broker_port: u16, extra: &str) -> Agent {
        Self::for_site("dc-test", broker_port, extra)
    }

    /// An agent of site `site` whose config ends with `extra`.
    pub fn for_site(site: &str, broker_port: u16, extra: &str) -> Agent {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("dockside.toml");
        let text = format!(
            "site = \"{site}\"\ndata_dir = \"{data}\"\n[store]\nbatch_max_delay_ms = 5\n[site_broker]\nhost = \"127.0.0.1\"\nport = {broker_port}\nreconnect_min_ms = 50\nreconnect_max_ms = 500\n{SUBSCRIPTIONS}\n{extra}",
            data = dir.path().join("data").display(),
        );
        std::fs::write(&config, text).expect("agent config");
        Agent {
            dir,
            config,
            child: None,
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("data").join("dockside.db")
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none(), "agent already running");
        self.child = Some(spawn_dockside(
            &["run"],
            &self.config,
            &self.dir.path().join("agent.log"),
        ));
    }

    /// Start with extra environment variables (NOTIFY_SOCKET, CREDENTIALS_DIRECTORY ...).
    pub fn start_with_env(&mut self, env: &[(&str, &str)]) {
        assert!(self.child.is_none(), "agent already running");
        self.child = Some(spawn_dockside_env(
            &["run"],
            &self.config,
            &self.dir.path().join("agent.log"),
            env,
        ));
    }

    /// Wait for the agent to exit by itself; `None` if it still runs after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        loop {
            let c = self.child.as_mut().expect("agent running");
            if let Some(status) = c.try_wait().expect("try_wait") {
                self.child = None;
                return Some(status);
            }
            if start.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until the agent has (re)subscribed `times` times in all, i.e. its
    /// session exists and messages published now reach it.
    pub fn wait_subscribed(&self, times: usize) {
        wait_for(Duration::from_secs(20), "the agent to subscribe", || {
            self.log().matches("site broker: subscribed").count() >= times
        });
    }

    /// The kinds of the planner decisions in the log, in seq order.
    pub fn decision_kinds(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e.body {
                dockside::domain::EventBody::Decision(d) => Some(d.kind().to_string()),
                _ => None,
            })
            .collect()
    }

    /// `dockside plan waves --replay` over this agent's log: its JSON report
    /// and whether it exited 0.
    pub fn replay(&self) -> (serde_json::Value, bool) {
        let out = Command::new(env!("CARGO_BIN_EXE_dockside"))
            .args(["plan", "waves", "--replay"])
            .arg(self.db())
            .arg("--config")
            .arg(&self.config)
            .output()
            .expect("replay");
        let report = serde_json::from_slice(&out.stdout).expect("replay JSON");
        (report, out.status.success())
    }

    /// `kill -9`: no chance to commit or ack anything.
    pub fn kill9(&mut self) {
        let mut c = self.child.take().expect("agent running");
        c.kill().expect("SIGKILL");
        c.wait().expect("reap");
    }

    /// SIGTERM and wait; returns the exit status and how long it took.
    pub fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let mut c = self.child.take().expect("agent running");
        let start = Instant::now();
        Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status()
            .expect("kill -TERM");
        let status = c.wait().expect("reap");
        (status, start.elapsed())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    /// Run a CLI subcommand against this agent's config.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_dockside"))
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .expect("run dockside")
    }

    /// Every event in the log, in seq order.
    pub fn events(&self) -> Vec<dockside::domain::StoredEvent> {
        let Ok(reader) = dockside::store::LogReader::open(&self.db()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let _ = reader.events_since(0, None, |e| {
            out.push(e);
            Ok(())
        });
        out
    }

    /// The plan the agent applies (the newest central sent it).
    pub fn plan(&self) -> Option<dockside::store::StoredPlan> {
        dockside::store::LogReader::open(&self.db())
            .ok()?
            .current_plan()
            .ok()?
    }

    pub fn summary(&self) -> Option<dockside::store::Summary> {
        dockside::store::LogReader::open(&self.db())
            .ok()?
            .summary()
            .ok()
    }

    /// Wait until the log holds `n` events.
    pub fn wait_for_events(&self, n: i64, timeout: Duration) {
        let start = Instant::now();
        while !self.summary().is_some_and(|s| s.events >= n) {
            if start.elapsed() > timeout {
                panic!(
                    "timed out after {timeout:?} waiting for {n} events; log has {:?}\nagent log:\n{}",
                    self.summary().map(|s| s.events),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if std::thread::panicking() {
            print_tail("agent", &self.log());
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Publish every message at QoS 1 and return once the broker has acked all.
/// `pace` sleeps between publishes (to spread them over time).
pub async fn publish_all(port: u16, messages: Vec<(String, Vec<u8>)>, pace: Option<Duration>) {
    let mut opts = MqttOptions::new(format!("test-pub-{}", free_port()), "127.0.0.1", port);
    opts.set_inflight(200).set_max_packet_size(4 << 20, 4 << 20);
    let (client, mut eventloop) = AsyncClient::new(opts, 256);
    let total = messages.len();
    let sender = tokio::spawn(async move {
        for (topic, payload) in messages {
            client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .await
                .expect("queue publish");
            if let Some(p) = pace {
                tokio::time::sleep(p).await;
            }
        }
        client
    });
    let mut acked = 0;
    while acked < total {
        match tokio::time::timeout(Duration::from_secs(30), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => acked += 1,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("publisher connection failed: {e}"),
            Err(_) => panic!("publisher stalled with {acked}/{total} acked"),
        }
    }
    let client = sender.await.expect("sender task");
    let _ = client.disconnect().await;
    while let Ok(Ok(ev)) = tokio::time::timeout(Duration::from_secs(2), eventloop.poll()).await {
        if matches!(ev, Event::Outgoing(Outgoing::Disconnect)) {
            break;
        }
    }
}

/// A mixed workload of `n` messages with unique ids (`m{i}`) across the
/// four JSON kinds; every fourth is a scan.
pub fn mixed_messages(n: usize, tag: &str) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let id = format!("{tag}{i}");
            match i % 4 {
                0 => ("wms/scans".to_string(), format!(r#"{{"id":"{id}","device":"H{}","code":"C{i}","action":"pick","order":"O{}","qty":{},"ts":{}}}"#, i % 7, i / 3, i % 5 + 1, 1_795_000_000_000i64 + i as i64)),
                1 => ("wms/picks".to_string(), format!(r#"{{"id":"{id}","order":"O{}","line":"{}","qty":{}}}"#, i / 3, i % 9, i % 4)),
                2 => ("wms/waves".to_string(), format!(r#"{{"id":"{id}","wave":"W{i}"}}"#)),
                _ => ("wms/orders".to_string(), format!(r#"{{"id":"{id}","order":"O{i}","status":"picked"}}"#)),
            }
        })
        .map(|(t, p)| (t, p.into_bytes()))
        .collect()
}

/// An `[uplink]` section for an agent syncing to a central broker on `port`.
pub fn uplink_section(port: u16, extra: &str) -> String {
    format!(
        "[uplink]\nack_timeout_s = 2\n[uplink.broker]\nhost = \"127.0.0.1\"\nport = {port}\nreconnect_min_ms = 50\nreconnect_max_ms = 500\n{extra}"
    )
}

/// A `dockside central` process with its own data dir and config.
pub struct Central {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    child: Option<Child>,
}

impl Central {
    pub fn new(broker_port: u16, extra: &str) -> Central {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("central.toml");
        let text = format!(
            "data_dir = \"{data}\"\n[broker]\nhost = \"127.0.0.1\"\nport = {broker_port}\nreconnect_min_ms = 50\nreconnect_max_ms = 500\n{extra}",
            data = dir.path().join("data").display(),
        );
        std::fs::write(&config, text).expect("central config");
        Central {
            dir,
            config,
            child: None,
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("data").join("central.db")
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none(), "central already running");
        self.child = Some(spawn_dockside(
            &["central"],
            &self.config,
            &self.dir.path().join("central.log"),
        ));
    }

    /// Wait until central has subscribed `times` times in all.
    pub fn wait_subscribed(&self, times: usize) {
        wait_for(Duration::from_secs(20), "central to subscribe", || {
            self.log().matches("central broker: subscribed").count() >= times
        });
    }

    pub fn kill9(&mut self) {
        let mut c = self.child.take().expect("central running");
        c.kill().expect("SIGKILL");
        c.wait().expect("reap");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("central.log")).unwrap_or_default()
    }

    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_dockside"))
            .arg("central")
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .expect("run dockside central")
    }

    /// Every event central holds for the site's stream `epoch`, in seq order.
    pub fn events(&self, site: &str, epoch: &str) -> Vec<dockside::domain::StoredEvent> {
        dockside::central::store::CentralReader::open(&self.db())
            .and_then(|r| r.events(site, epoch))
            .unwrap_or_default()
    }

    /// The contiguous last seq central holds for `site`'s current stream.
    pub fn last_seq(&self, site: &str) -> i64 {
        dockside::central::store::CentralReader::open(&self.db())
            .and_then(|r| r.sites())
            .ok()
            .and_then(|s| s.into_iter().find(|v| v.site == site))
            .map(|v| v.last_seq)
            .unwrap_or(0)
    }
}

impl Drop for Central {
    fn drop(&mut self) {
        if std::thread::panicking() {
            print_tail("central", &self.log());
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A `[[modbus.devices.doors]]` table: door `name` with its signals on
/// discrete inputs `base..base+4` and its fault on bit `fault_bit` of
/// holding register 10.
pub fn modbus_door(name: &str, base: u16, fault_bit: u8) -> String {
    format!(
        r#"
[[modbus.devices.doors]]
door = "{name}"
[modbus.devices.doors.signals]
door_open = {{ table = "discrete_input", address = {} }}
vehicle_present = {{ table = "discrete_input", address = {} }}
restraint_engaged = {{ table = "discrete_input", address = {} }}
leveller_deployed = {{ table = "discrete_input", address = {} }}
fault = {{ table = "holding_register", address = 10, bit = {fault_bit} }}
"#,
        base,
        base + 1,
        base + 2,
        base + 3
    )
}

/// Subscribe to `filter` on the broker at `port` (on `rt`) and hand every
/// message received as (topic, payload). Returns once subscribed.
pub fn watch(
    rt: &tokio::runtime::Runtime,
    port: u16,
    filter: &str,
) -> std::sync::mpsc::Receiver<(String, Vec<u8>)> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let filter = filter.to_owned();
    rt.spawn(async move {
        let id = format!("watcher-{}", free_port());
        let (client, mut eventloop) = AsyncClient::new(MqttOptions::new(id, "127.0.0.1", port), 64);
        client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("subscribe");
        while let Ok(ev) = eventloop.poll().await {
            match ev {
                Event::Incoming(Packet::SubAck(_)) => {
                    let _ = ready_tx.send(());
                }
                Event::Incoming(Packet::Publish(p)) => {
                    let _ = tx.send((p.topic.clone(), p.payload.to_vec()));
                }
                _ => {}
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the watcher subscribed");
    rx
}
