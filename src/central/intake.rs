//! Order intake: from the central broker (stored before the message is
//! acknowledged) and from CSV files (`dockside central import-orders`).
//! A bad order is refused with its reasons and kept; an order whose id is
//! known is not taken again.

use std::path::Path;

use serde::Serialize;

use super::allocate::order::{self, Order};
use super::store::{CentralStore, CentralTx, Inserted};
use super::CentralError;
use crate::config::CentralConfig;
use crate::domain::time::now_ms;
use crate::domain::Millis;
use crate::store::StoreError;

/// What became of one order message.
#[derive(Debug, Clone, PartialEq)]
pub enum Intake {
    /// New: to be allocated.
    Accepted(Order),
    /// Its id is known with the same content (a redelivery).
    Duplicate,
    /// Refused; the reasons and the input are stored.
    Rejected(Vec<String>),
}

/// Take in one order message within the receiver's transaction.
pub fn take_order(
    tx: &mut CentralTx<'_>,
    config: &CentralConfig,
    payload: &[u8],
    source: &str,
    now: Millis,
) -> Result<Intake, StoreError> {
    let raw = String::from_utf8_lossy(payload);
    match order::parse_json(payload, config, now) {
        Ok(o) => match tx.insert_order(&o, source, "new")? {
            Inserted::New => Ok(Intake::Accepted(o)),
            Inserted::Duplicate => Ok(Intake::Duplicate),
            Inserted::Conflict => {
                let reasons = vec![format!(
                    "order `{}` was already received with other content; send a new id",
                    o.id
                )];
                tx.record_order_reject(source, Some(&o.id), &reasons, &raw, now)?;
                Ok(Intake::Rejected(reasons))
            }
        },
        Err(r) => {
            tx.record_order_reject(source, r.order_id.as_deref(), &r.reasons, &raw, now)?;
            Ok(Intake::Rejected(r.reasons))
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub orders: usize,
    pub accepted: usize,
    /// Known ids with the same content.
    pub duplicates: usize,
    /// `line N, order X: reason; reason`.
    pub rejected: Vec<String>,
}

/// Import orders from a CSV file into central's database in one
/// transaction; the running allocator takes them from there.
pub fn import_orders(config: &CentralConfig, path: &Path) -> Result<ImportReport, CentralError> {
    let text = std::fs::read_to_string(path).map_err(|e| CentralError::OrderFile {
        path: path.to_owned(),
        why: e.to_string(),
    })?;
    let orders = order::parse_csv(&text).map_err(|why| CentralError::OrderFile {
        path: path.to_owned(),
        why,
    })?;
    let now = now_ms();
    let source = format!("csv:{}", path.display());
    let mut store = CentralStore::open(&config.db_path())?;
    let mut import = store.import()?;
    let mut report = ImportReport {
        orders: orders.len(),
        ..ImportReport::default()
    };
    for o in orders {
        let at = format!(
            "line {}, order {}",
            o.line,
            o.order_id.as_deref().unwrap_or("(no id)")
        );
        let (json, result) = match &o.json {
            Err(problems) => (String::new(), Err(problems.clone())),
            Ok(json) => (
                json.clone(),
                order::parse_json(json.as_bytes(), config, now).map_err(|r| r.reasons),
            ),
        };
        match result {
            Ok(order) => match import.insert_order(&order, &source)? {
                Inserted::New => report.accepted += 1,
                Inserted::Duplicate => report.duplicates += 1,
                Inserted::Conflict => {
                    let reasons = vec!["already received with other content".to_string()];
                    import.record_reject(&source, Some(&order.id), &reasons, &json, now)?;
                    report
                        .rejected
                        .push(format!("{at}: {}", reasons.join("; ")));
                }
            },
            Err(reasons) => {
                import.record_reject(&source, o.order_id.as_deref(), &reasons, &json, now)?;
                report
                    .rejected
                    .push(format!("{at}: {}", reasons.join("; ")));
            }
        }
    }
    import.commit()?;
    Ok(report)
}
