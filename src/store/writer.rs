//! The single writer thread: numbers events, commits them in groups, and only
//! then hands back each message's ack ticket, in arrival order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, ErrorCode};

use super::double_scan::{self, RecentScans};
use super::outbox::used_bytes;
use super::{open_for_write, Identity, StoreError};
use crate::config::StoreConfig;
use crate::domain::{time::now_ms, EventBody, Millis};
use crate::heartbeat::Heartbeat;

/// What a message became.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Event {
        body: EventBody,
        source_id: Option<String>,
    },
    /// Rejected input: kept with the reason and its raw bytes.
    DeadLetter {
        reason: String,
        payload: Vec<u8>,
        payload_len: usize,
    },
    /// No event: add `n` to a named counter (e.g. door signal bounces,
    /// which are counted rather than logged one by one).
    Tally { counter: String, n: i64 },
}

/// One message on its way into the log, with the ticket to ack once durable.
#[derive(Debug)]
pub struct Record<A> {
    pub topic: String,
    pub received_at: Millis,
    pub identity: Identity,
    pub outcome: Outcome,
    /// Handed back once committed; None when the source has nothing to
    /// acknowledge (Modbus polls).
    pub ack: Option<A>,
}

/// Progress figures the daemon reads (health, watchdog, status lines).
#[derive(Debug, Default)]
pub struct WriterStats {
    pub last_seq: AtomicI64,
    pub commits: AtomicU64,
    pub last_commit_ms: AtomicI64,
    /// Set while commits fail for lack of space: acks stop, the broker holds the messages.
    pub disk_full: AtomicBool,
    /// Set at shutdown: a commit that cannot be made is given up (unacked) rather than retried.
    pub stopping: AtomicBool,
    /// Signalled after every commit (the uplink waits on it for new events).
    pub committed: tokio::sync::Notify,
    /// Set while the log is at its disk cap (`uplink.max_disk_mb`): by the
    /// writer before a commit that would go past it, by the uplink's check
    /// after pruning. Intake holds, as on a full disk, until the uplink's
    /// check finds the log below the cap again.
    pub at_cap: AtomicBool,
    /// The cap in bytes (0: none); set by the uplink.
    pub disk_cap_bytes: AtomicU64,
    /// Set while the writer works (a commit attempt, acks, pruning); clear
    /// while it waits for records, i.e. nothing is queued.
    pub busy: AtomicBool,
    /// Beaten when each piece of work starts: busy with an old beat means
    /// the writer is stuck (the watchdog stops).
    pub beat: Heartbeat,
}

/// Where the writer hands back each commit's tickets, in the order the
/// records were sent.
pub trait AckSink<A>: Send + 'static {
    fn committed(&self, tickets: impl Iterator<Item = A>);
}

impl<A: Send + 'static> AckSink<A> for flume::Sender<A> {
    fn committed(&self, tickets: impl Iterator<Item = A>) {
        for t in tickets {
            // The receiver is gone only when the daemon is exiting; the
            // broker then redelivers and dedupe recognises the message.
            let _ = self.send(t);
        }
    }
}

/// Handle to the writer thread. Dropping every sender ends it after it has
/// committed (and acked) everything it was given.
pub struct Writer<A> {
    tx: flume::Sender<Record<A>>,
    thread: JoinHandle<Result<(), StoreError>>,
    epoch: String,
    stats: Arc<WriterStats>,
}

impl<A: Send + 'static> Writer<A> {
    /// Open the log at `path` and start the writer. Tickets of committed
    /// records are handed to `acks` in the order the records were sent.
    pub fn start(
        path: &Path,
        site: &str,
        config: &StoreConfig,
        acks: impl AckSink<A>,
    ) -> Result<Writer<A>, StoreError> {
        let (conn, epoch) = open_for_write(path, site)?;
        let stats = Arc::new(WriterStats::default());
        let mut state = State::load(conn, path, config.clone(), Arc::clone(&stats))?;
        // Small on purpose: when the writer falls behind, the MQTT loop waits
        // here, stops reading its socket, and the broker holds the messages.
        // (mosquitto's max_inflight_messages does not bound this by itself.)
        let (tx, rx) = flume::bounded(2 * config.batch_max_events);
        let thread = std::thread::Builder::new()
            .name("dockside-writer".into())
            .spawn(move || state.run(rx, acks))
            .map_err(|e| StoreError::Corrupt(format!("cannot start writer thread: {e}")))?;
        Ok(Writer {
            tx,
            thread,
            epoch,
            stats,
        })
    }

    pub fn sender(&self) -> flume::Sender<Record<A>> {
        self.tx.clone()
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    pub fn stats(&self) -> Arc<WriterStats> {
        Arc::clone(&self.stats)
    }

    /// Wait for the thread to commit what it holds and end. It ends once this
    /// handle's sender and every clone from `sender()` are dropped.
    pub fn finish(self) -> Result<(), StoreError> {
        drop(self.tx);
        self.thread.join().map_err(|_| StoreError::WriterGone)?
    }
}

struct State {
    conn: Connection,
    config: StoreConfig,
    next_seq: i64,
    recent_scans: RecentScans,
    stats: Arc<WriterStats>,
    last_prune: Instant,
    path: PathBuf,
    /// `seen` (the dedupe table before schema 5) still holds keys.
    legacy_seen: bool,
}

enum Failure {
    /// Out of space (or briefly locked): nothing was written; try again.
    Retry(rusqlite::Error),
    /// Anything else, including I/O and fsync errors: stop the process.
    Fatal(rusqlite::Error),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull | ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                Failure::Retry(e)
            }
            _ => Failure::Fatal(e),
        }
    }
}

const PRUNE_EVERY: Duration = Duration::from_secs(60);

impl State {
    fn load(
        conn: Connection,
        path: &Path,
        config: StoreConfig,
        stats: Arc<WriterStats>,
    ) -> Result<State, StoreError> {
        // seq resumes after the highest ever handed out, even if pruned since.
        let last: i64 = conn.query_row(
            "SELECT max(coalesce((SELECT value FROM counters WHERE name = 'last_seq'), 0),
                        coalesce((SELECT max(seq) FROM events), 0))",
            [],
            |r| r.get(0),
        )?;
        stats.last_seq.store(last, Ordering::SeqCst);
        let mut state = State {
            conn,
            config,
            next_seq: last + 1,
            recent_scans: RecentScans::default(),
            stats,
            last_prune: Instant::now(),
            path: path.to_path_buf(),
            legacy_seen: false,
        };
        state.legacy_seen = state.legacy_seen_left()?;
        state.reload_recent_scans()?;
        Ok(state)
    }

    /// Double-scan detection survives a restart: reload the scans still inside the window.
    fn reload_recent_scans(&mut self) -> Result<(), StoreError> {
        let since = now_ms() - self.config.double_scan_window_ms as i64;
        let mut stmt = self.conn.prepare(
            "SELECT received_at, body FROM events WHERE kind = 'scan' ORDER BY seq DESC",
        )?;
        let mut rows = stmt.query([])?;
        let mut recent = Vec::new();
        while let Some(row) = rows.next()? {
            let received_at: i64 = row.get(0)?;
            if received_at < since || recent.len() >= double_scan::CAPACITY {
                break;
            }
            let body: String = row.get(1)?;
            if let Ok(EventBody::Scan {
                scanner, code, at, ..
            }) = serde_json::from_str(&body)
            {
                recent.push((double_scan::key(&scanner, &code), at, received_at));
            }
        }
        for (key, at, received_at) in recent.into_iter().rev() {
            self.recent_scans.insert(key, at, received_at);
        }
        Ok(())
    }

    fn run<A>(
        &mut self,
        rx: flume::Receiver<Record<A>>,
        acks: impl AckSink<A>,
    ) -> Result<(), StoreError> {
        let max = self.config.batch_max_events;
        let delay = Duration::from_millis(self.config.batch_max_delay_ms);
        let mut batch: Vec<Record<A>> = Vec::with_capacity(max);
        loop {
            self.stats.busy.store(false, Ordering::SeqCst);
            let Ok(first) = rx.recv() else { break };
            self.stats.beat.beat();
            self.stats.busy.store(true, Ordering::SeqCst);
            // Commit as soon as nothing more is waiting: while one commit's
            // fsync runs, the next batch gathers by itself. N and T bound a
            // batch under a stream that never pauses.
            batch.push(first);
            let deadline = Instant::now() + delay;
            while batch.len() < max && Instant::now() < deadline {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            self.commit_until_done(&batch)?;
            acks.committed(batch.drain(..).filter_map(|r| r.ack));
            if self.last_prune.elapsed() >= PRUNE_EVERY {
                self.stats.beat.beat();
                self.prune();
            }
        }
        Ok(())
    }

    fn commit_until_done<A>(&mut self, batch: &[Record<A>]) -> Result<(), StoreError> {
        let mut wait = Duration::from_millis(100);
        loop {
            self.stats.beat.beat();
            #[cfg(debug_assertions)]
            fault::wedge_while_asked();
            if self.at_cap()? {
                // Held until the uplink's check prunes below the cap; the
                // broker keeps the messages meanwhile.
                if self.stats.stopping.load(Ordering::SeqCst) {
                    return Err(StoreError::AtCap);
                }
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            let attempt = self.commit(batch);
            match attempt {
                Ok(()) => {
                    if self.stats.disk_full.swap(false, Ordering::SeqCst) {
                        tracing::warn!("store: commits succeed again; acknowledging resumes");
                    }
                    return Ok(());
                }
                Err(Failure::Retry(e)) => {
                    if !self.stats.disk_full.swap(true, Ordering::SeqCst) {
                        tracing::error!(
                            error = %e,
                            "ALARM store: cannot commit (disk full?); acks are held, the broker keeps the messages; free space in data_dir"
                        );
                    }
                    if self.stats.stopping.load(Ordering::SeqCst) {
                        // Unacked: the broker redelivers after restart.
                        return Err(StoreError::Sqlite(e));
                    }
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(Failure::Fatal(e)) => {
                    // Retrying fsync on Linux can lie about durability: stop
                    // and let systemd restart us on a clean state.
                    tracing::error!(error = %e, "store: fatal database error; exiting");
                    return Err(StoreError::Sqlite(e));
                }
            }
        }
    }

    /// Whether the log is at its disk cap. Checked before every commit, so
    /// intake overshoots the cap by one batch at most, however fast it comes.
    fn at_cap(&self) -> Result<bool, StoreError> {
        if self.stats.at_cap.load(Ordering::SeqCst) {
            return Ok(true);
        }
        let cap = self.stats.disk_cap_bytes.load(Ordering::SeqCst);
        if cap == 0 || used_bytes(&self.conn, &self.path)? < cap {
            return Ok(false);
        }
        self.stats.at_cap.store(true, Ordering::SeqCst);
        tracing::error!(
            last_seq = self.next_seq - 1,
            "ALARM store: the log is at uplink.max_disk_mb; intake holds (the site broker keeps the messages) until central acknowledges the backlog"
        );
        Ok(true)
    }

    fn commit<A>(&mut self, batch: &[Record<A>]) -> Result<(), Failure> {
        let now = now_ms();
        let window = self.config.double_scan_window_ms as i64;
        let mut next = self.next_seq;
        let mut counts: HashMap<&'static str, i64> = HashMap::new();
        let mut new_scans: Vec<(u128, Millis, Millis)> = Vec::new();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            // A key that must not repeat is claimed in one statement: no row
            // inserted means it is held already (one index probe, not two).
            let mut seen_claim = tx.prepare_cached(
                "INSERT INTO dedupe_keys (key, seen_at, by_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT(key) DO NOTHING",
            )?;
            let mut seen_i = tx.prepare_cached(
                "INSERT INTO dedupe_keys (key, seen_at, by_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT(key) DO UPDATE SET seen_at = excluded.seen_at",
            )?;
            let mut legacy_q = tx.prepare_cached("SELECT 1 FROM seen WHERE key = ?1")?;
            let mut event_i = tx.prepare_cached(
                "INSERT INTO events (seq, kind, source_topic, source_id, received_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut dead_i = tx.prepare_cached(
                "INSERT INTO dead_letters (received_at, topic, reason, payload, payload_len) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut tallies: Vec<(&str, i64)> = Vec::new();
            for r in batch {
                if let Some((key, by_id)) = r.identity.key() {
                    if r.identity.checks_seen() {
                        let held = seen_claim.execute(params![&key[..], now, by_id])? == 0
                            || (self.legacy_seen
                                && legacy_q
                                    .exists([&r.identity.legacy_key().expect("keyed")[..]])?);
                        if held {
                            *counts.entry("duplicates").or_default() += 1;
                            continue;
                        }
                    } else {
                        seen_i.execute(params![&key[..], now, by_id])?;
                    }
                }
                match &r.outcome {
                    Outcome::Event { body, source_id } => {
                        if let EventBody::Scan {
                            scanner, code, at, ..
                        } = body
                        {
                            let k = double_scan::key(scanner, code);
                            let prev = new_scans
                                .iter()
                                .rev()
                                .find(|(pk, _, _)| *pk == k)
                                .map(|(_, p, _)| *p)
                                .or_else(|| self.recent_scans.last_at(k));
                            if prev.is_some_and(|p| (at - p).abs() <= window) {
                                *counts.entry("double_scans").or_default() += 1;
                                continue;
                            }
                            new_scans.push((k, *at, r.received_at));
                        }
                        let json =
                            serde_json::to_string(body).expect("event bodies always serialize");
                        event_i.execute(params![
                            next,
                            body.kind(),
                            r.topic,
                            source_id,
                            r.received_at,
                            json
                        ])?;
                        next += 1;
                        *counts.entry(body.kind()).or_default() += 1;
                    }
                    Outcome::DeadLetter {
                        reason,
                        payload,
                        payload_len,
                    } => {
                        dead_i.execute(params![
                            r.received_at,
                            r.topic,
                            reason,
                            payload,
                            *payload_len as i64
                        ])?;
                        *counts.entry("dead_letters").or_default() += 1;
                    }
                    Outcome::Tally { counter, n } => tallies.push((counter, *n)),
                }
            }
            let mut count_u = tx.prepare_cached(
                "INSERT INTO counters (name, value) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            )?;
            for (name, n) in counts.iter().map(|(k, v)| (*k, *v)).chain(tallies) {
                count_u.execute(params![name, n])?;
            }
            tx.execute(
                "INSERT INTO counters (name, value) VALUES ('last_seq', ?1)
                 ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                [next - 1],
            )?;
        }
        tx.commit()?;
        self.next_seq = next;
        for (k, at, received) in new_scans {
            self.recent_scans.insert(k, at, received);
        }
        // Received times, not source times, decide expiry: a source clock
        // far off must not keep entries forever.
        self.recent_scans.expire(now - window);
        self.stats.last_seq.store(next - 1, Ordering::SeqCst);
        self.stats.commits.fetch_add(1, Ordering::SeqCst);
        self.stats.last_commit_ms.store(now, Ordering::SeqCst);
        self.stats.committed.notify_one();
        Ok(())
    }

    /// Forget dedupe keys and scans past their windows. Best effort: a failure
    /// here only delays forgetting.
    fn prune(&mut self) {
        self.last_prune = Instant::now();
        let now = now_ms();
        let content_before = now - self.config.dedupe_window_s as i64 * 1000;
        let id_before = now - self.config.id_retention_h as i64 * 3_600_000;
        let delete = |table: &str| {
            self.conn.execute(
                &format!("DELETE FROM {table} WHERE (by_id = 0 AND seen_at < ?1) OR (by_id = 1 AND seen_at < ?2)"),
                params![content_before, id_before],
            )
        };
        let result = delete("dedupe_keys")
            .and_then(|_| {
                if self.legacy_seen {
                    delete("seen")
                } else {
                    Ok(0)
                }
            })
            .and_then(|_| self.legacy_seen_left());
        match result {
            Ok(left) => self.legacy_seen = left,
            Err(e) => tracing::warn!(error = %e, "store: pruning dedupe keys failed; will retry"),
        }
    }

    fn legacy_seen_left(&self) -> rusqlite::Result<bool> {
        self.conn
            .query_row("SELECT EXISTS (SELECT 1 FROM seen)", [], |r| r.get(0))
    }
}

/// Test-only fault hook, compiled into debug builds only: release builds
/// (every package, `scripts/package-deb.sh` checks) do not contain it, so no
/// setting can turn it on at a site.
#[cfg(debug_assertions)]
mod fault {
    use std::path::Path;
    use std::time::Duration;

    /// Names a file; while it exists, the writer hangs before committing, as
    /// one stuck in I/O would (the watchdog test wedges the writer with it).
    pub const WEDGE_WRITER: &str = "DOCKSIDE_FAULT_WEDGE_WRITER";

    pub fn wedge_while_asked() {
        let Some(path) = std::env::var_os(WEDGE_WRITER) else {
            return;
        };
        let path = Path::new(&path);
        if path.exists() {
            tracing::warn!(file = %path.display(), "fault hook: the writer is wedged while this file exists");
            while path.exists() {
                std::thread::sleep(Duration::from_millis(50));
            }
            tracing::warn!("fault hook: the writer goes on");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ScanAction;
    use crate::store::{content_hash, LogReader};

    fn scan(scanner: &str, code: &str, at: Millis) -> Outcome {
        Outcome::Event {
            body: EventBody::Scan {
                scanner: scanner.into(),
                code: code.into(),
                action: ScanAction::Pick,
                order: None,
                wave: None,
                line: None,
                qty: None,
                at,
            },
            source_id: None,
        }
    }

    fn record(n: u32, identity: Identity, outcome: Outcome) -> Record<u32> {
        Record {
            topic: "t".into(),
            received_at: now_ms(),
            identity,
            outcome,
            ack: Some(n),
        }
    }

    fn by_id(id: &str) -> Identity {
        Identity::SourceId {
            scope: "wms/#".into(),
            id: id.into(),
        }
    }

    fn by_content(payload: &str, pkid: u16, redelivery: bool) -> Identity {
        Identity::Content {
            hash: content_hash("t", payload.as_bytes(), pkid),
            packet_id: pkid,
            redelivery,
        }
    }

    /// Write `records` through a fresh writer; return the acks in order.
    fn write(path: &Path, records: Vec<Record<u32>>) -> Vec<u32> {
        let (ack_tx, ack_rx) = flume::unbounded();
        let writer = Writer::start(path, "dc-1", &StoreConfig::default(), ack_tx).expect("start");
        let tx = writer.sender();
        for r in records {
            tx.send(r).expect("send");
        }
        drop(tx);
        writer.finish().expect("finish");
        ack_rx.drain().collect()
    }

    #[test]
    fn keys_kept_before_schema_5_still_recognise_a_repeat_until_they_expire() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("d.db");
        write(&db, vec![]);
        // As a database written before schema 5 holds them: in `seen`.
        let conn = Connection::open(&db).expect("open");
        for (identity, age_h) in [
            (by_id("old"), 1),
            (by_content("C", 4, false), 1),
            (by_id("stale"), 1000),
        ] {
            conn.execute(
                "INSERT INTO seen (key, seen_at, by_id) VALUES (?1, ?2, ?3)",
                params![
                    &identity.legacy_key().expect("keyed")[..],
                    now_ms() - age_h * 3_600_000,
                    matches!(identity, Identity::SourceId { .. })
                ],
            )
            .expect("legacy key");
        }
        drop(conn);
        write(
            &db,
            vec![
                record(1, by_id("old"), scan("S1", "X", 0)), // repeat
                record(2, by_content("C", 4, true), scan("S1", "C", 0)), // redelivery
                record(3, by_id("new"), scan("S1", "Y", 0)),
            ],
        );
        let s = LogReader::open(&db)
            .expect("open")
            .summary()
            .expect("summary");
        assert_eq!((s.events, s.duplicates_dropped), (1, 2));

        // Pruning forgets the expired legacy key and, once `seen` is empty,
        // stops looking there.
        let mut w = State::load(
            open_for_write(&db, "dc-1").expect("open").0,
            &db,
            StoreConfig {
                dedupe_window_s: 1,
                ..StoreConfig::default()
            },
            Arc::default(),
        )
        .expect("load");
        assert!(w.legacy_seen);
        w.prune();
        let left: Vec<Vec<u8>> = w
            .conn
            .prepare("SELECT key FROM seen")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(left, vec![by_id("old").legacy_key().unwrap().to_vec()]);
        assert!(w.legacy_seen);
        w.conn.execute("DELETE FROM seen", []).unwrap();
        w.prune();
        assert!(!w.legacy_seen);
    }

    #[test]
    fn every_record_is_acked_in_order_and_repeats_are_dropped() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("d.db");
        let dead = Outcome::DeadLetter {
            reason: "bad".into(),
            payload: vec![1, 2],
            payload_len: 2,
        };
        let acks = write(
            &db,
            vec![
                record(1, by_id("a"), scan("S1", "X", 0)),
                record(2, by_id("a"), scan("S1", "Y", 10_000)), // same id: a repeat
                record(3, by_content("B", 7, false), scan("S2", "B", 0)),
                record(4, by_content("B", 7, true), scan("S2", "B", 0)), // broker redelivery
                record(5, by_content("B", 9, false), scan("S2", "B", 60_000)), // scanned again: kept
                record(6, by_content("zz", 3, false), dead),
            ],
        );
        assert_eq!(acks, vec![1, 2, 3, 4, 5, 6]);
        let s = LogReader::open(&db)
            .expect("open")
            .summary()
            .expect("summary");
        assert_eq!(
            (s.events, s.last_seq, s.duplicates_dropped, s.dead_letters),
            (3, 3, 2, 1)
        );
    }

    #[test]
    fn local_records_need_no_ack_and_are_never_deduplicated_and_tallies_only_count() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("d.db");
        let online = || Outcome::Event {
            body: EventBody::DeviceOnline {
                device: "plc".into(),
                at: 5,
            },
            source_id: None,
        };
        let local = |outcome| Record {
            topic: "modbus/plc".into(),
            received_at: now_ms(),
            identity: Identity::Local,
            outcome,
            ack: None,
        };
        let acks = write(
            &db,
            vec![
                local(online()),
                record(1, by_id("a"), scan("S1", "X", 0)),
                local(online()), // the same body again is a new event
                local(Outcome::Tally {
                    counter: "door_flaps:D1".into(),
                    n: 3,
                }),
                record(2, by_id("b"), scan("S1", "Y", 0)),
                local(Outcome::Tally {
                    counter: "door_flaps:D1".into(),
                    n: 2,
                }),
            ],
        );
        assert_eq!(acks, vec![1, 2]);
        let s = LogReader::open(&db)
            .expect("open")
            .summary()
            .expect("summary");
        assert_eq!((s.events, s.last_seq), (4, 4));
        assert_eq!(
            s.events_by_kind.keys().collect::<Vec<_>>(),
            ["device_online", "scan"]
        );
        assert_eq!(s.devices.len(), 1);
        assert!(s.devices[0].online);
    }

    #[test]
    fn double_scans_within_the_window_are_merged_even_across_restarts() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("d.db");
        let t = now_ms();
        write(
            &db,
            vec![record(1, by_content("1", 1, false), scan("S1", "X", t))],
        );
        write(
            &db,
            vec![
                record(2, by_content("2", 2, false), scan("S1", "X", t + 1000)), // double
                record(3, by_content("3", 3, false), scan("S2", "X", t + 1000)), // other scanner
                record(4, by_content("4", 4, false), scan("S1", "X", t + 5000)), // outside window
            ],
        );
        let s = LogReader::open(&db)
            .expect("open")
            .summary()
            .expect("summary");
        assert_eq!((s.events, s.double_scans), (3, 1));
    }

    #[test]
    fn seq_resumes_after_restart_and_the_epoch_stays() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("d.db");
        write(
            &db,
            (0..5)
                .map(|i| record(i, by_id(&format!("a{i}")), scan("S", &format!("c{i}"), 0)))
                .collect(),
        );
        let epoch = LogReader::open(&db)
            .expect("open")
            .summary()
            .expect("summary")
            .epoch;
        write(
            &db,
            (5..8)
                .map(|i| record(i, by_id(&format!("a{i}")), scan("S", &format!("c{i}"), 0)))
                .collect(),
        );
        let reader = LogReader::open(&db).expect("open");
        let s = reader.summary().expect("summary");
        assert_eq!((s.last_seq, s.epoch), (8, epoch));
        let mut seqs = Vec::new();
        reader
            .events_since(0, None, |e| {
                seqs.push(e.seq);
                Ok(())
            })
            .expect("events");
        assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
    }

    #[test]
    fn a_database_refuses_another_site_and_a_new_database_gets_a_new_epoch() {
        let dir = tempfile::tempdir().expect("tmp");
        let (ack_tx, _ack_rx) = flume::unbounded::<u32>();
        let a = Writer::start(
            &dir.path().join("a.db"),
            "dc-1",
            &StoreConfig::default(),
            ack_tx.clone(),
        )
        .expect("a");
        let b = Writer::start(
            &dir.path().join("b.db"),
            "dc-1",
            &StoreConfig::default(),
            ack_tx.clone(),
        )
        .expect("b");
        assert_ne!(a.epoch(), b.epoch());
        a.finish().expect("finish");
        let err = Writer::start(
            &dir.path().join("a.db"),
            "dc-2",
            &StoreConfig::default(),
            ack_tx,
        )
        .err()
        .expect("refused");
        assert!(matches!(err, StoreError::WrongSite { .. }), "{err}");
        b.finish().expect("finish");
    }
}
