//! The durable event log: SQLite in WAL mode with `synchronous=FULL`, one
//! writer thread that commits in groups, and read-only queries for the CLI.

mod dedupe;
mod double_scan;
mod error;
mod outbox;
mod query;
mod schema;
mod writer;

pub use dedupe::{content_hash, Identity};
pub use error::StoreError;
pub use outbox::{Outbox, StoredPlan};
pub use query::{
    DeadLetter, DeviceStatus, DoorStatus, LogReader, PlanInfo, Summary, Sync, FLAPS_PREFIX,
};
pub use schema::apply_migrations;
pub use writer::{AckSink, Outcome, Record, Writer, WriterStats};

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// Open (creating if needed) the log for writing, with its durability pragmas,
/// migrations applied and the site checked. Returns the connection and the epoch.
pub(crate) fn open_for_write(path: &Path, site: &str) -> Result<(Connection, String), StoreError> {
    let conn = open_durable(path)?;
    let epoch = schema::migrate(&conn, site).map_err(|e| match e {
        StoreError::Sqlite(e) => StoreError::open(path, e),
        other => other,
    })?;
    Ok((conn, epoch))
}

/// Open (creating if needed) a database for writing: WAL, `synchronous=FULL`,
/// a busy timeout for the brief waits beside another connection.
pub fn open_durable(path: &Path) -> Result<Connection, StoreError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_owned(),
            source,
        })?;
    }
    let conn = Connection::open(path).map_err(|e| StoreError::open(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| StoreError::open(path, e))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| StoreError::open(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NotWal {
            path: path.to_owned(),
            mode,
        });
    }
    // Without a size limit the WAL file keeps its high-water mark for good,
    // which would count against uplink.max_disk_mb after the log is pruned.
    conn.execute_batch(
        "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA journal_size_limit=4194304;",
    )
    .map_err(|e| StoreError::open(path, e))?;
    Ok(conn)
}

/// Open the log read-only (the CLI's view, safe beside a running daemon).
pub fn open_for_read(path: &Path) -> Result<Connection, StoreError> {
    if !path.exists() {
        return Err(StoreError::Missing {
            path: path.to_owned(),
        });
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::open(path, e))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| StoreError::open(path, e))?;
    Ok(conn)
}
