//! Central's database: every site's events, deduplicated on (site, epoch, seq)
//! and stored without gaps; the sites' reported status; the plans pushed; the
//! orders taken in (or refused) and where each is allocated.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use crate::central::allocate::{Order, OrderState};
use crate::domain::{EventBody, Millis, StoredEvent};
use crate::store::{apply_migrations, open_durable, open_for_read, StoreError};
use crate::wire;

const MIGRATIONS: &[&str] = &[
    r#"
-- One stream per (site, epoch): a replaced gateway starts a new one at seq 1.
CREATE TABLE streams (
    site          TEXT    NOT NULL,
    epoch         TEXT    NOT NULL,
    last_seq      INTEGER NOT NULL,  -- contiguous: every seq up to here is stored
    first_contact INTEGER NOT NULL,
    last_contact  INTEGER NOT NULL,
    PRIMARY KEY (site, epoch)
) WITHOUT ROWID;

CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    site         TEXT    NOT NULL,
    epoch        TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    kind         TEXT    NOT NULL,
    source_topic TEXT    NOT NULL,
    source_id    TEXT,
    received_at  INTEGER NOT NULL,   -- at the site
    stored_at    INTEGER NOT NULL,   -- here
    body         TEXT    NOT NULL,   -- JSON of domain::EventBody
    UNIQUE (site, epoch, seq)
);

-- What each site last said about itself (retained status messages).
CREATE TABLE site_status (
    site     TEXT    PRIMARY KEY,
    online   INTEGER NOT NULL,
    at       INTEGER NOT NULL,
    epoch    TEXT    NOT NULL,
    last_seq INTEGER NOT NULL,
    backlog  INTEGER NOT NULL,
    seen_at  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE plans (
    site      TEXT    NOT NULL,
    version   INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    body      TEXT    NOT NULL,
    PRIMARY KEY (site, version)
) WITHOUT ROWID;

-- Messages refused (wrong site, unreadable): why, not their content.
CREATE TABLE rejected (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    topic  TEXT    NOT NULL,
    reason TEXT    NOT NULL,
    bytes  INTEGER NOT NULL
);
"#,
    r#"
-- Orders, stored before they are acknowledged. state: `new` (imported, not
-- yet seen by the allocator), `allocated`, `pending` (waiting for stock).
CREATE TABLE orders (
    seq         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    received_at INTEGER NOT NULL,
    source      TEXT    NOT NULL,
    body        TEXT    NOT NULL,   -- allocate::Order as JSON
    state       TEXT    NOT NULL,
    detail      TEXT,               -- allocate::OrderState as JSON
    updated_at  INTEGER NOT NULL
);
CREATE INDEX orders_new ON orders (seq) WHERE state = 'new';

-- Orders refused, with every reason and the input as received.
CREATE TABLE order_rejects (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    source   TEXT    NOT NULL,
    order_id TEXT,
    reasons  TEXT    NOT NULL,      -- JSON list
    raw      TEXT    NOT NULL
);

-- The allocator's view is rebuilt from every event but scans at start-up.
CREATE INDEX events_view ON events (id) WHERE kind <> 'scan';
"#,
];

pub struct CentralStore {
    conn: Connection,
}

/// What storing a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Newly stored events (the rest were duplicates).
    pub new: usize,
    /// The stream's contiguous high-water mark: what to acknowledge.
    pub upto: i64,
    /// The batch started after a gap and was not stored.
    pub gap: bool,
}

impl CentralStore {
    pub fn open(path: &Path) -> Result<CentralStore, StoreError> {
        let conn = open_durable(path)?;
        apply_migrations(&conn, MIGRATIONS)?;
        Ok(CentralStore { conn })
    }

    /// One transaction for several messages (group commit).
    pub fn transaction(&mut self) -> Result<CentralTx<'_>, StoreError> {
        Ok(CentralTx {
            tx: self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?,
        })
    }

    /// Record a plan for `site` under the next version, which it returns.
    pub fn new_plan(&mut self, site: &str, body: &str, now: Millis) -> Result<u64, StoreError> {
        self.new_plan_with(site, now, |_| body.to_owned())
            .map(|(v, _)| v)
    }

    /// Record a plan for `site` whose body names its own version: `body` is
    /// given the next version. Returns the version and the body.
    pub fn new_plan_with(
        &mut self,
        site: &str,
        now: Millis,
        body: impl FnOnce(u64) -> String,
    ) -> Result<(u64, String), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row(
            "SELECT coalesce(max(version), 0) + 1 FROM plans WHERE site = ?1",
            [site],
            |r| r.get(0),
        )?;
        let body = body(version as u64);
        tx.execute(
            "INSERT INTO plans (site, version, issued_at, body) VALUES (?1, ?2, ?3, ?4)",
            params![site, version, now, body],
        )?;
        tx.commit()?;
        Ok((version as u64, body))
    }

    /// Begin importing orders from a file.
    pub fn import(&mut self) -> Result<Import<'_>, StoreError> {
        Ok(Import {
            tx: self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?,
        })
    }

    pub fn reader(&self) -> Reads<'_> {
        Reads(&self.conn)
    }
}

/// Messages handled together, committed at once.
pub struct CentralTx<'a> {
    tx: rusqlite::Transaction<'a>,
}

impl CentralTx<'_> {
    /// Store what is new in `batch`, never past a gap.
    pub fn store_batch(&mut self, batch: &wire::Batch, now: Millis) -> Result<Stored, StoreError> {
        let tx = &self.tx;
        let last: Option<i64> = tx
            .query_row(
                "SELECT last_seq FROM streams WHERE site = ?1 AND epoch = ?2",
                params![batch.site, batch.epoch],
                |r| r.get(0),
            )
            .optional()?;
        let known = last.unwrap_or(0);
        if batch.first_seq > known + 1 {
            // Something before this batch is missing: store nothing, ack what
            // we have; the site re-sends from there.
            return Ok(Stored {
                new: 0,
                upto: known,
                gap: true,
            });
        }
        let mut new = 0;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (site, epoch, seq, kind, source_topic, source_id, received_at, stored_at, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for (i, e) in batch.events.iter().enumerate() {
                let seq = batch.first_seq + i as i64;
                if seq <= known {
                    continue;
                }
                let body = serde_json::to_string(&e.body).expect("event bodies always serialize");
                insert.execute(params![
                    batch.site,
                    batch.epoch,
                    seq,
                    e.body.kind(),
                    e.source_topic,
                    e.source_id,
                    e.received_at,
                    now,
                    body
                ])?;
                new += 1;
            }
        }
        let upto = known.max(batch.last_seq());
        tx.execute(
            "INSERT INTO streams (site, epoch, last_seq, first_contact, last_contact) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (site, epoch) DO UPDATE SET last_seq = excluded.last_seq, last_contact = excluded.last_contact",
            params![batch.site, batch.epoch, upto, now],
        )?;
        Ok(Stored {
            new,
            upto,
            gap: false,
        })
    }

    pub fn record_status(&mut self, s: &wire::Status, now: Millis) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO site_status (site, online, at, epoch, last_seq, backlog, seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (site) DO UPDATE SET online = excluded.online, at = excluded.at, epoch = excluded.epoch,
               last_seq = excluded.last_seq, backlog = excluded.backlog, seen_at = excluded.seen_at
             WHERE excluded.at >= site_status.at",
            params![s.site, s.online, s.at, s.epoch, s.last_seq, s.backlog as i64, now],
        )?;
        Ok(())
    }

    pub fn record_rejected(
        &mut self,
        topic: &str,
        reason: &str,
        bytes: usize,
        now: Millis,
    ) -> Result<(), StoreError> {
        self.tx.execute(
            "INSERT INTO rejected (at, topic, reason, bytes) VALUES (?1, ?2, ?3, ?4)",
            params![now, topic, reason, bytes as i64],
        )?;
        Ok(())
    }

    pub fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit()?)
    }

    /// Store an order unless its id is known: a redelivery (same order) or
    /// a conflict (another order under the same id).
    pub fn insert_order(
        &mut self,
        order: &Order,
        source: &str,
        state: &str,
    ) -> Result<Inserted, StoreError> {
        insert_order(&self.tx, order, source, state)
    }

    pub fn record_order_reject(
        &mut self,
        source: &str,
        order_id: Option<&str>,
        reasons: &[String],
        raw: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        record_order_reject(&self.tx, source, order_id, reasons, raw, now)
    }

    /// Record where an order stands now.
    pub fn update_order(
        &mut self,
        id: &str,
        state: &OrderState,
        now: Millis,
    ) -> Result<(), StoreError> {
        let name = match state {
            OrderState::Allocated { .. } => "allocated",
            OrderState::Pending { .. } => "pending",
        };
        let detail = serde_json::to_string(state).expect("order states always serialize");
        self.tx.execute(
            "UPDATE orders SET state = ?2, detail = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, name, detail, now],
        )?;
        Ok(())
    }

    /// Orders imported from files and not yet allocated, oldest first.
    pub fn new_orders(&mut self, max: usize) -> Result<Vec<Order>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT body FROM orders WHERE state = 'new' ORDER BY seq LIMIT ?1")?;
        let rows = stmt.query_map([max as i64], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for body in rows {
            out.push(parse_order(&body?)?);
        }
        Ok(out)
    }
}

/// What storing an order did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New,
    /// The same order again (a redelivery): nothing to do.
    Duplicate,
    /// A different order under a known id.
    Conflict,
}

fn insert_order(
    conn: &Connection,
    order: &Order,
    source: &str,
    state: &str,
) -> Result<Inserted, StoreError> {
    let known: Option<String> = conn
        .query_row("SELECT body FROM orders WHERE id = ?1", [&order.id], |r| {
            r.get(0)
        })
        .optional()?;
    if let Some(body) = known {
        let mut before = parse_order(&body)?;
        before.received_at = order.received_at;
        return Ok(if &before == order {
            Inserted::Duplicate
        } else {
            Inserted::Conflict
        });
    }
    let body = serde_json::to_string(order).expect("orders always serialize");
    conn.execute(
        "INSERT INTO orders (id, received_at, source, body, state, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?2)",
        params![order.id, order.received_at, source, body, state],
    )?;
    Ok(Inserted::New)
}

fn record_order_reject(
    conn: &Connection,
    source: &str,
    order_id: Option<&str>,
    reasons: &[String],
    raw: &str,
    now: Millis,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO order_rejects (at, source, order_id, reasons, raw) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            now,
            source,
            order_id,
            serde_json::to_string(reasons).expect("strings serialize"),
            raw
        ],
    )?;
    Ok(())
}

fn parse_order(body: &str) -> Result<Order, StoreError> {
    serde_json::from_str(body)
        .map_err(|e| StoreError::Corrupt(format!("stored order unreadable: {e}")))
}

/// An order import from a file, in one transaction.
pub struct Import<'a> {
    tx: rusqlite::Transaction<'a>,
}

impl Import<'_> {
    pub fn insert_order(&mut self, order: &Order, source: &str) -> Result<Inserted, StoreError> {
        insert_order(&self.tx, order, source, "new")
    }

    pub fn record_reject(
        &mut self,
        source: &str,
        order_id: Option<&str>,
        reasons: &[String],
        raw: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        record_order_reject(&self.tx, source, order_id, reasons, raw, now)
    }

    pub fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit()?)
    }
}

/// A read-only view for `dockside central status` and tests.
pub struct CentralReader {
    conn: Connection,
}

/// One site as central sees it.
#[derive(Debug, Clone, Serialize)]
pub struct SiteView {
    pub site: String,
    pub epoch: String,
    /// Contiguous events stored from this site's current epoch.
    pub last_seq: i64,
    pub last_contact: Millis,
    /// What the site last reported, when it reported on this epoch.
    pub online: Option<bool>,
    pub reported_last_seq: Option<i64>,
    /// Events the site has that central does not (from its last report).
    pub lag: Option<i64>,
    pub plan_version: Option<u64>,
}

impl CentralReader {
    pub fn open(path: &Path) -> Result<CentralReader, StoreError> {
        Ok(CentralReader {
            conn: open_for_read(path)?,
        })
    }

    pub fn reader(&self) -> Reads<'_> {
        Reads(&self.conn)
    }

    /// Each site's most recent stream.
    pub fn sites(&self) -> Result<Vec<SiteView>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT s.site, s.epoch, s.last_seq, s.last_contact, st.online, st.last_seq,
                    (SELECT max(version) FROM plans p WHERE p.site = s.site)
             FROM streams s LEFT JOIN site_status st ON st.site = s.site AND st.epoch = s.epoch
             WHERE s.last_contact = (SELECT max(last_contact) FROM streams x WHERE x.site = s.site)
             ORDER BY s.site",
        )?;
        let rows = stmt.query_map([], |r| {
            let last_seq: i64 = r.get(2)?;
            let reported: Option<i64> = r.get(5)?;
            Ok(SiteView {
                site: r.get(0)?,
                epoch: r.get(1)?,
                last_seq,
                last_contact: r.get(3)?,
                online: r.get(4)?,
                reported_last_seq: reported,
                lag: reported.map(|rep| (rep - last_seq).max(0)),
                plan_version: r.get::<_, Option<i64>>(6)?.map(|v| v as u64),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// All events of one stream, in seq order.
    pub fn events(&self, site: &str, epoch: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, source_topic, source_id, received_at, body FROM events
             WHERE site = ?1 AND epoch = ?2 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![site, epoch], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, source_topic, source_id, received_at, body) = row?;
            let body = serde_json::from_str(&body).map_err(|e| {
                StoreError::Corrupt(format!("central event {site}/{seq} unreadable: {e}"))
            })?;
            out.push(StoredEvent {
                seq,
                epoch: epoch.to_owned(),
                source_topic,
                source_id,
                received_at,
                body,
            });
        }
        Ok(out)
    }

    /// Messages refused, newest first.
    pub fn rejected(&self, limit: usize) -> Result<Vec<(Millis, String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT at, topic, reason FROM rejected ORDER BY id DESC LIMIT ?1")?;
        let rows = stmt.query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Queries shared by the daemon (at start-up) and the CLI.
pub struct Reads<'a>(&'a Connection);

/// An order as stored, with where it stands.
#[derive(Debug, Clone, Serialize)]
pub struct StoredOrder {
    pub order: Order,
    pub source: String,
    /// `new`, `allocated` or `pending`.
    pub state: String,
    /// None while `new`.
    pub detail: Option<OrderState>,
    pub updated_at: Millis,
}

/// An order refused.
#[derive(Debug, Clone, Serialize)]
pub struct OrderReject {
    pub at: Millis,
    pub source: String,
    pub order_id: Option<String>,
    pub reasons: Vec<String>,
    pub raw: String,
}

/// The latest plan of a site.
#[derive(Debug, Clone, Serialize)]
pub struct StoredPlan {
    pub site: String,
    pub version: u64,
    pub issued_at: Millis,
    pub body: String,
}

impl Reads<'_> {
    /// Every order, in the order they came in.
    pub fn orders(&self) -> Result<Vec<StoredOrder>, StoreError> {
        let mut stmt = self
            .0
            .prepare("SELECT body, source, state, detail, updated_at FROM orders ORDER BY seq")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (body, source, state, detail, updated_at) = row?;
            let detail = match detail {
                Some(d) => Some(serde_json::from_str(&d).map_err(|e| {
                    StoreError::Corrupt(format!("stored order state unreadable: {e}"))
                })?),
                None => None,
            };
            out.push(StoredOrder {
                order: parse_order(&body)?,
                source,
                state,
                detail,
                updated_at,
            });
        }
        Ok(out)
    }

    /// Orders refused, newest first.
    pub fn order_rejects(&self, limit: usize) -> Result<Vec<OrderReject>, StoreError> {
        let mut stmt = self.0.prepare(
            "SELECT at, source, order_id, reasons, raw FROM order_rejects ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(OrderReject {
                at: r.get(0)?,
                source: r.get(1)?,
                order_id: r.get(2)?,
                reasons: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default(),
                raw: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every site event the allocator's view is built from (all but scans),
    /// in the order central stored them.
    pub fn view_events(&self, mut each: impl FnMut(&str, EventBody)) -> Result<(), StoreError> {
        let mut stmt = self
            .0
            .prepare("SELECT site, body FROM events WHERE kind <> 'scan' ORDER BY id")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let site: String = r.get(0)?;
            let body: String = r.get(1)?;
            let body = serde_json::from_str(&body).map_err(|e| {
                StoreError::Corrupt(format!("central event of {site} unreadable: {e}"))
            })?;
            each(&site, body);
        }
        Ok(())
    }

    /// The latest plan of every site.
    pub fn latest_plans(&self) -> Result<Vec<StoredPlan>, StoreError> {
        let mut stmt = self.0.prepare(
            "SELECT site, version, issued_at, body FROM plans p
             WHERE version = (SELECT max(version) FROM plans x WHERE x.site = p.site)
             ORDER BY site",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(StoredPlan {
                site: r.get(0)?,
                version: r.get::<_, i64>(1)? as u64,
                issued_at: r.get(2)?,
                body: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
