//! Reading the log: for `dockside status`, `dockside events` and tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::outbox::{current_plan, disk_bytes, synced_upto, StoredPlan};
use super::schema::meta;
use super::{open_for_read, StoreError};
use crate::domain::{DeviceError, DoorState, EventBody, Millis, Signals, StoredEvent};

/// Counter name prefix for door signal bounces (`door_flaps:D01`).
pub const FLAPS_PREFIX: &str = "door_flaps:";

/// A read-only view of a log, safe to use beside the running daemon.
pub struct LogReader {
    conn: Connection,
    path: PathBuf,
}

/// The log at a glance.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub site: String,
    pub epoch: String,
    pub last_seq: i64,
    pub events: i64,
    pub events_by_kind: BTreeMap<String, i64>,
    pub dead_letters: i64,
    pub duplicates_dropped: i64,
    pub double_scans: i64,
    pub database_bytes: u64,
    pub sync: Sync,
    pub recent_dead_letters: Vec<DeadLetter>,
    /// Each door's last logged state, by door id.
    pub doors: Vec<DoorStatus>,
    /// Each Modbus device's last logged health.
    pub devices: Vec<DeviceStatus>,
}

/// A door as its last `door_changed` left it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoorStatus {
    pub door: String,
    pub device: String,
    pub state: DoorState,
    /// When the door took this state.
    pub since: Millis,
    pub signals: Signals,
    /// Signal bounces shorter than the debounce time, counted since the log began.
    pub flaps: i64,
}

/// A device as its last `device_online` / `device_offline` left it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceStatus {
    pub device: String,
    pub online: bool,
    pub since: Millis,
    /// The error of its latest `device_offline`, even if online again since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<DeviceError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<Millis>,
    /// For an offline device: its last successful read, if the agent saw one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_good_read: Option<Millis>,
}

/// Where the uplink to central stands.
#[derive(Debug, Clone, Serialize)]
pub struct Sync {
    /// Every event up to here is durably at central.
    pub synced_upto: i64,
    /// Events not yet acknowledged by central.
    pub backlog: i64,
    pub oldest_unsynced_at: Option<Millis>,
    pub last_ack_at: Option<Millis>,
    /// `connected`, `down: <error>`, `stopped`; none while never started.
    pub link_state: Option<String>,
    pub link_since: Option<Millis>,
    pub plan: Option<PlanInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanInfo {
    pub version: u64,
    pub issued_at: Millis,
    pub received_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    pub id: i64,
    pub received_at: Millis,
    pub topic: String,
    pub reason: String,
    #[serde(skip)]
    pub payload: Vec<u8>,
    pub payload_len: i64,
}

impl LogReader {
    pub fn open(path: &Path) -> Result<LogReader, StoreError> {
        Ok(LogReader {
            conn: open_for_read(path)?,
            path: path.to_owned(),
        })
    }

    /// The plan the agent applies (the newest it stored).
    pub fn current_plan(&self) -> Result<Option<super::StoredPlan>, StoreError> {
        current_plan(&self.conn)
    }

    pub fn summary(&self) -> Result<Summary, StoreError> {
        let site = meta(&self.conn, "site")?.unwrap_or_default();
        let epoch = meta(&self.conn, "epoch")?
            .ok_or_else(|| StoreError::Corrupt("no epoch recorded".into()))?;
        let mut counters = BTreeMap::new();
        let mut stmt = self.conn.prepare("SELECT name, value FROM counters")?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
            let (name, value) = row?;
            counters.insert(name, value);
        }
        let mut take = |name: &str| counters.remove(name).unwrap_or(0);
        let last_seq = take("last_seq");
        let dead_letters = take("dead_letters");
        let duplicates_dropped = take("duplicates");
        let double_scans = take("double_scans");
        let database_bytes = disk_bytes(&self.path);
        let synced_upto = synced_upto(&self.conn)?;
        let oldest_unsynced_at: Option<Millis> = self
            .conn
            .query_row(
                "SELECT received_at FROM events WHERE seq > ?1 ORDER BY seq LIMIT 1",
                [synced_upto],
                |r| r.get(0),
            )
            .optional()?;
        let meta_ms = |key: &str| -> Result<Option<Millis>, StoreError> {
            Ok(meta(&self.conn, key)?.and_then(|v| v.parse().ok()))
        };
        let sync = Sync {
            synced_upto,
            backlog: last_seq - synced_upto,
            oldest_unsynced_at,
            last_ack_at: meta_ms("last_ack_at")?,
            link_state: meta(&self.conn, "link_state")?,
            link_since: meta_ms("link_since")?,
            plan: current_plan(&self.conn)?.map(|p| PlanInfo {
                version: p.version,
                issued_at: p.issued_at,
                received_at: p.received_at,
            }),
        };
        let (flaps, events_by_kind): (BTreeMap<String, i64>, BTreeMap<String, i64>) = counters
            .into_iter()
            .partition(|(name, _)| name.starts_with(FLAPS_PREFIX));
        let mut doors = self.door_states()?;
        for d in &mut doors {
            d.flaps = flaps
                .get(&format!("{FLAPS_PREFIX}{}", d.door))
                .copied()
                .unwrap_or(0);
        }
        Ok(Summary {
            site,
            epoch,
            last_seq,
            events: events_by_kind.values().sum(),
            events_by_kind,
            dead_letters,
            duplicates_dropped,
            double_scans,
            database_bytes,
            sync,
            recent_dead_letters: self.dead_letters(5)?,
            doors,
            devices: self.device_health()?,
        })
    }

    /// The latest event of `kinds` per value of the body's `field`, in field order.
    fn latest_by(&self, kinds: &str, field: &str) -> Result<Vec<(i64, EventBody)>, StoreError> {
        // Door and device events are few; the scan filters on the kind
        // column before any JSON is parsed.
        let sql = format!(
            "SELECT e.seq, e.body FROM events e
             JOIN (SELECT max(seq) AS seq FROM events WHERE kind IN ({kinds})
                   GROUP BY json_extract(body, '$.{field}')) l ON e.seq = l.seq
             ORDER BY json_extract(e.body, '$.{field}')"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let body: String = row.get(1)?;
            let body: EventBody = serde_json::from_str(&body).map_err(|e| {
                StoreError::Corrupt(format!("event {seq} has an unreadable body: {e}"))
            })?;
            out.push((seq, body));
        }
        Ok(out)
    }

    /// Each door's last logged state (flap counts are filled in by `summary`).
    pub fn door_states(&self) -> Result<Vec<DoorStatus>, StoreError> {
        Ok(self
            .latest_by("'door_changed'", "door")?
            .into_iter()
            .filter_map(|(_, body)| match body {
                EventBody::DoorChanged {
                    door,
                    device,
                    to,
                    signals,
                    at,
                    ..
                } => Some(DoorStatus {
                    door,
                    device,
                    state: to,
                    since: at,
                    signals,
                    flaps: 0,
                }),
                _ => None,
            })
            .collect())
    }

    /// Each device's last logged health, with its latest error.
    pub fn device_health(&self) -> Result<Vec<DeviceStatus>, StoreError> {
        let errors: BTreeMap<String, (DeviceError, Millis)> = self
            .latest_by("'device_offline'", "device")?
            .into_iter()
            .filter_map(|(_, body)| match body {
                EventBody::DeviceOffline {
                    device, error, at, ..
                } => Some((device, (error, at))),
                _ => None,
            })
            .collect();
        Ok(self
            .latest_by("'device_online', 'device_offline'", "device")?
            .into_iter()
            .filter_map(|(_, body)| {
                let (device, online, since, last_good_read) = match body {
                    EventBody::DeviceOnline { device, at } => (device, true, at, None),
                    EventBody::DeviceOffline {
                        device,
                        at,
                        last_good_read,
                        ..
                    } => (device, false, at, last_good_read),
                    _ => return None,
                };
                let error = errors.get(&device).cloned();
                Some(DeviceStatus {
                    online,
                    since,
                    last_error_at: error.as_ref().map(|(_, at)| *at),
                    last_error: error.map(|(e, _)| e),
                    last_good_read,
                    device,
                })
            })
            .collect())
    }

    /// The newest `limit` dead letters, newest first.
    pub fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, received_at, topic, reason, payload, payload_len FROM dead_letters ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(DeadLetter {
                id: r.get(0)?,
                received_at: r.get(1)?,
                topic: r.get(2)?,
                reason: r.get(3)?,
                payload: r.get(4)?,
                payload_len: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Events with `seq > since`, in order, at most `limit`.
    pub fn events_since(
        &self,
        since: i64,
        limit: Option<u64>,
        mut each: impl FnMut(StoredEvent) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let epoch = meta(&self.conn, "epoch")?.unwrap_or_default();
        read_events(&self.conn, &epoch, since, limit, &mut each)
    }

    /// Plans with a version above `version`, oldest first.
    pub fn plans_after(&self, version: u64) -> Result<Vec<StoredPlan>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT version, issued_at, received_at, body FROM plans WHERE version > ?1 ORDER BY version",
        )?;
        let rows = stmt.query_map([version as i64], |r| {
            Ok(StoredPlan {
                version: r.get::<_, i64>(0)? as u64,
                issued_at: r.get(1)?,
                received_at: r.get(2)?,
                body: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The first seq received at or after `t` (events are numbered in
    /// arrival order), or the next seq to come when there is none yet.
    pub fn first_seq_since(&self, t: Millis) -> Result<i64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT coalesce((SELECT min(seq) FROM events WHERE received_at >= ?1),
                             (SELECT coalesce(max(seq), 0) + 1 FROM events))",
            [t],
            |r| r.get(0),
        )?)
    }

    /// `PRAGMA integrity_check`: "ok" or the problems found.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let lines: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(lines.join("; "))
    }
}

/// Events with `seq > since` in order, at most `limit`, each handed to `each`.
pub(crate) fn read_events(
    conn: &Connection,
    epoch: &str,
    since: i64,
    limit: Option<u64>,
    each: &mut dyn FnMut(StoredEvent) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, source_topic, source_id, received_at, body FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let limit = limit.map(|l| l.min(i64::MAX as u64) as i64).unwrap_or(-1);
    let mut rows = stmt.query(params![since, limit])?;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let body: String = row.get(4)?;
        let body: EventBody = serde_json::from_str(&body)
            .map_err(|e| StoreError::Corrupt(format!("event {seq} has an unreadable body: {e}")))?;
        each(StoredEvent {
            seq,
            epoch: epoch.to_owned(),
            source_topic: row.get(1)?,
            source_id: row.get(2)?,
            received_at: row.get(3)?,
            body,
        })?;
    }
    Ok(())
}
