//! Schema and migrations, versioned by `PRAGMA user_version`.

use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};

use super::StoreError;

/// Each entry migrates from version `i` to `i + 1`. Append only.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- The log. seq is gap-free: assigned by the writer, never reused.
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL,
    source_topic TEXT    NOT NULL,
    source_id    TEXT,
    received_at  INTEGER NOT NULL,
    body         TEXT    NOT NULL   -- JSON of domain::EventBody
);

CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL,
    topic       TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    payload     BLOB    NOT NULL,   -- the raw bytes (the first max_payload_bytes of an oversized one)
    payload_len INTEGER NOT NULL    -- the original length
);

-- Dedupe keys of recent messages (by source id, or by content on redelivery).
CREATE TABLE seen (
    key     BLOB    PRIMARY KEY,
    seen_at INTEGER NOT NULL,
    by_id   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX seen_by_age ON seen (by_id, seen_at);

CREATE TABLE counters (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
"#,
    r#"
-- Plans from central, stored before they are acknowledged. The highest
-- version is the current plan; an older or equal version is never applied.
CREATE TABLE plans (
    version     INTEGER PRIMARY KEY,
    issued_at   INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    body        TEXT    NOT NULL   -- the plan as JSON
);
"#,
    r#"
-- The latest event of a kind (door states, device health at start and in
-- `status`) without scanning the whole log.
CREATE INDEX events_by_kind ON events (kind, seq);
"#,
    r#"
-- Dedupe keys in the order messages come (store::dedupe explains the keys).
-- `seen` keeps the keys made before this version until they expire.
CREATE TABLE dedupe_keys (
    key     BLOB    PRIMARY KEY,
    seen_at INTEGER NOT NULL,
    by_id   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX dedupe_keys_by_age ON dedupe_keys (by_id, seen_at);
"#,
];

/// Bring the schema up to date and return the database's epoch, creating it
/// (and recording the site) on first use.
pub(crate) fn migrate(conn: &Connection, site: &str) -> Result<String, StoreError> {
    apply_migrations(conn, MIGRATIONS)?;
    let tx = conn.unchecked_transaction()?;
    let stored_site = meta(&tx, "site")?;
    match stored_site {
        Some(s) if s != site => {
            return Err(StoreError::WrongSite {
                found: s,
                configured: site.to_owned(),
            })
        }
        Some(_) => {}
        None => set_meta(&tx, "site", site)?,
    }
    let epoch = match meta(&tx, "epoch")? {
        Some(e) => e,
        None => {
            // A fresh identity for every new database: a wiped or replaced
            // gateway never reuses (site, epoch, seq).
            let mut bytes = [0u8; 16];
            rand::thread_rng().fill_bytes(&mut bytes);
            let epoch: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            set_meta(&tx, "epoch", &epoch)?;
            set_meta(
                &tx,
                "created_at",
                &crate::domain::time::now_ms().to_string(),
            )?;
            epoch
        }
    };
    tx.commit()?;
    Ok(epoch)
}

/// Apply the migrations a database has not seen yet; each entry migrates
/// from version `i` to `i + 1` in its own transaction.
pub fn apply_migrations(conn: &Connection, migrations: &[&str]) -> Result<(), StoreError> {
    let known = migrations.len() as i64;
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    for (i, sql) in migrations.iter().enumerate().skip(found as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

pub(crate) fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
}

pub(crate) fn set_meta(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}
