//! The uplink's side of the log: what is not yet synced to central, marking
//! ranges synced on central's ack, pruning, and the plans central sends down.
//!
//! It has its own connection beside the writer's; every write here is a short
//! IMMEDIATE transaction, so the two only ever wait on each other briefly.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use super::query::read_events;
use super::schema::{meta, set_meta};
use super::{open_for_write, StoreError};
use crate::domain::{Millis, StoredEvent};

pub struct Outbox {
    conn: Connection,
    path: PathBuf,
    epoch: String,
}

/// A plan as the site holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredPlan {
    pub version: u64,
    pub issued_at: Millis,
    pub received_at: Millis,
    pub body: String,
}

impl Outbox {
    pub fn open(path: &Path, site: &str) -> Result<Outbox, StoreError> {
        let (conn, epoch) = open_for_write(path, site)?;
        Ok(Outbox {
            conn,
            path: path.to_owned(),
            epoch,
        })
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Every event up to this seq is durably at central.
    pub fn synced_upto(&self) -> Result<i64, StoreError> {
        synced_upto(&self.conn)
    }

    /// Up to `max` events after `after`, in seq order.
    pub fn read_after(&self, after: i64, max: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let mut out = Vec::with_capacity(max.min(4096));
        read_events(&self.conn, &self.epoch, after, Some(max as u64), &mut |e| {
            out.push(e);
            Ok(())
        })?;
        Ok(out)
    }

    /// Record central's ack. Only ever moves forward; returns whether it did.
    pub fn mark_synced(&mut self, upto: i64, now: Millis) -> Result<bool, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = synced_upto(&tx)?;
        let advanced = upto > current;
        if advanced {
            set_meta(&tx, "synced_upto", &upto.to_string())?;
        }
        set_meta(&tx, "last_ack_at", &now.to_string())?;
        tx.commit()?;
        Ok(advanced)
    }

    /// Delete at most `max_rows` synced events received before `before`,
    /// oldest first, stopping at the first event still inside retention:
    /// `received_at` follows `seq` (give or take a commit), and stopping
    /// there keeps this a short walk from the start of the log rather than a
    /// scan of every synced row each time it runs (with a million rows held,
    /// that scan stalled the uplink for tens of milliseconds). Unsynced
    /// events are never deleted, nor the latest door and device events (a
    /// restart compares the doors with them).
    pub fn prune_synced(&mut self, before: Millis, max_rows: usize) -> Result<usize, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Up to the last synced event, and only before the first one inside
        // retention. Found first: as a subquery of the DELETE, SQLite did not
        // use it to bound the scan (75 ms with a million rows, holding the
        // write lock while ingest waited).
        let first_kept: Option<i64> = tx
            .query_row(
                "SELECT seq FROM events WHERE received_at >= ?1 ORDER BY seq LIMIT 1",
                [before],
                |r| r.get(0),
            )
            .optional()?;
        let upto = synced_upto(&tx)?.min(first_kept.map_or(i64::MAX, |s| s - 1));
        let n = tx.execute(
            "DELETE FROM events WHERE seq IN
               (SELECT seq FROM events
                  WHERE seq <= ?1
                  AND seq NOT IN (SELECT max(seq) FROM events
                                  WHERE kind IN ('door_changed', 'device_online', 'device_offline')
                                  GROUP BY kind, json_extract(body, '$.door'), json_extract(body, '$.device'))
                ORDER BY seq LIMIT ?2)",
            params![upto, max_rows as i64],
        )?;
        tx.commit()?;
        Ok(n)
    }

    /// Bytes the log uses (see [`used_bytes`]).
    pub fn used_bytes(&self) -> Result<u64, StoreError> {
        used_bytes(&self.conn, &self.path)
    }

    /// Checkpoint the WAL into the database and truncate it, so its space
    /// comes back at once; false when a reader kept it from completing.
    pub fn truncate_wal(&self) -> Result<bool, StoreError> {
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        Ok(busy == 0)
    }

    /// Store a plan unless one of the same or a newer version is held.
    /// Returns whether it became the current plan.
    pub fn store_plan(
        &mut self,
        version: u64,
        issued_at: Millis,
        body: &str,
        now: Millis,
    ) -> Result<bool, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: Option<i64> =
            tx.query_row("SELECT max(version) FROM plans", [], |r| r.get(0))?;
        if current.is_some_and(|c| c as u64 >= version) {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO plans (version, issued_at, received_at, body) VALUES (?1, ?2, ?3, ?4)",
            params![version as i64, issued_at, now, body],
        )?;
        tx.commit()?;
        Ok(true)
    }

    pub fn current_plan(&self) -> Result<Option<StoredPlan>, StoreError> {
        current_plan(&self.conn)
    }

    /// Record the link's state for `dockside status` (another process).
    pub fn set_link_state(&mut self, state: &str, now: Millis) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        set_meta(&tx, "link_state", state)?;
        set_meta(&tx, "link_since", &now.to_string())?;
        tx.commit()?;
        Ok(())
    }
}

pub(crate) fn synced_upto(conn: &Connection) -> Result<i64, StoreError> {
    Ok(meta(conn, "synced_upto")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

pub(crate) fn current_plan(conn: &Connection) -> Result<Option<StoredPlan>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT version, issued_at, received_at, body FROM plans ORDER BY version DESC LIMIT 1",
            [],
            |r| {
                Ok(StoredPlan {
                    version: r.get::<_, i64>(0)? as u64,
                    issued_at: r.get(1)?,
                    received_at: r.get(2)?,
                    body: r.get(3)?,
                })
            },
        )
        .optional()?)
}

/// Bytes the log at `path` uses: pages in use (freed pages are reused, so
/// the file does not shrink after pruning) plus the WAL.
pub(crate) fn used_bytes(conn: &Connection, path: &Path) -> Result<u64, StoreError> {
    let (pages, free, size): (i64, i64, i64) = conn.query_row(
        "SELECT p.page_count, f.freelist_count, s.page_size
         FROM pragma_page_count() p, pragma_freelist_count() f, pragma_page_size() s",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let mut wal = path.to_path_buf().into_os_string();
    wal.push("-wal");
    let wal = std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0);
    Ok(((pages - free).max(0) * size) as u64 + wal)
}

pub(crate) fn disk_bytes(path: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            let mut p = path.to_path_buf().into_os_string();
            p.push(suffix);
            std::fs::metadata(p).ok().map(|m| m.len())
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreConfig;
    use crate::domain::EventBody;
    use crate::store::{Identity, Outcome, Record, Writer};

    /// A log holding `bodies` as seq 1.., received at 1000, 1001, ...
    fn log_of(db: &Path, bodies: Vec<EventBody>) {
        let (acks, _rx) = flume::unbounded();
        let writer = Writer::start(db, "s1", &StoreConfig::default(), acks).expect("writer");
        for (i, body) in bodies.into_iter().enumerate() {
            writer
                .sender()
                .send(Record {
                    topic: "t".into(),
                    received_at: 1000 + i as i64,
                    identity: Identity::Local,
                    outcome: Outcome::Event {
                        body,
                        source_id: None,
                    },
                    ack: None::<()>,
                })
                .expect("send");
        }
        writer.finish().expect("writer finishes");
    }

    fn wave(i: i64) -> EventBody {
        EventBody::WaveReleased {
            wave: format!("W{i}"),
            at: 1000 + i,
        }
    }

    #[test]
    fn pruning_keeps_the_latest_door_events() {
        use crate::domain::DoorState;
        let door = |door: &str, to: DoorState| EventBody::DoorChanged {
            door: door.into(),
            device: "plc".into(),
            from: None,
            to,
            signals: Default::default(),
            at: 1,
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("d.db");
        log_of(
            &db,
            vec![
                door("D1", DoorState::Free),
                door("D2", DoorState::Fault),
                door("D1", DoorState::Loading),
                wave(1),
            ],
        );
        let mut o = Outbox::open(&db, "s1").expect("open");
        o.mark_synced(4, 2000).expect("ack");
        assert_eq!(o.prune_synced(i64::MAX, 100).expect("prune"), 2);
        let left: Vec<i64> = o
            .read_after(0, 100)
            .expect("read")
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(left, vec![2, 3]);
    }

    #[test]
    fn pruning_removes_only_synced_events_past_retention() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("d.db");
        log_of(&db, (0..10).map(wave).collect());
        let mut o = Outbox::open(&db, "s1").expect("open");
        o.mark_synced(6, 2000).expect("ack");
        // Synced 1..=6, but only those received before 1004 are past retention.
        assert_eq!(o.prune_synced(1004, 100).expect("prune"), 4);
        // Everything synced, whatever its age: 5 and 6 go, 7..=10 stay.
        assert_eq!(o.prune_synced(i64::MAX, 100).expect("prune"), 2);
        let left: Vec<i64> = o
            .read_after(0, 100)
            .expect("read")
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(left, vec![7, 8, 9, 10]);
    }

    #[test]
    fn plans_apply_only_newer_versions_and_acks_only_advance() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut o = Outbox::open(&dir.path().join("d.db"), "s1").expect("open");
        assert!(o.store_plan(2, 10, "{\"v\":2}", 11).expect("store"));
        assert!(!o.store_plan(1, 12, "{\"v\":1}", 13).expect("store"));
        assert!(!o.store_plan(2, 12, "{\"v\":2}", 13).expect("store"));
        assert_eq!(o.current_plan().expect("read").expect("some").version, 2);
        assert!(o.mark_synced(5, 1).expect("ack"));
        assert!(!o.mark_synced(3, 2).expect("ack"));
        assert_eq!(o.synced_upto().expect("read"), 5);
    }
}
