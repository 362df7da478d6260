//! The bytes on the wire, version 1: private mirrors of the public messages,
//! so the encoding never follows an edit to the domain's serde attributes.
//!
//! After the version byte comes one `WireMessage` in postcard: integers are
//! varints (signed ones zigzag), strings and sequences are a varint length and
//! their contents, an `Option` is a 0/1 byte, an enum is a varint variant index
//! (externally tagged) followed by its fields in declaration order.
//!
//! Rules, because old and new agents and centrals talk to each other:
//! - enum variants are only ever APPENDED: never reordered, removed or reused;
//! - the fields of a struct or variant never change; a change that needs that
//!   is a new `VERSION`;
//! - `golden` pins the bytes of every message: a change that breaks it is a
//!   change of the format.

use serde::{Deserialize, Serialize};

/// Index into the batch's string table.
pub(super) type StrRef = u32;

/// Message kinds. Variants only appended.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum WireMessage<'a> {
    Batch(#[serde(borrow)] WireBatch<'a>),
    Ack(#[serde(borrow)] WireAck<'a>),
    Plan(#[serde(borrow)] WirePlan<'a>),
    Status(#[serde(borrow)] WireStatus<'a>),
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct WireBatch<'a> {
    pub site: &'a str,
    pub epoch: [u8; 16],
    pub first_seq: i64,
    /// Every string of the events except source ids, each once, in order of
    /// first use: topics, scanners, orders, waves and codes repeat within a batch.
    #[serde(borrow)]
    pub strings: Vec<&'a str>,
    #[serde(borrow)]
    pub events: Vec<WireEvent<'a>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct WireEvent<'a> {
    pub source_topic: StrRef,
    /// Inline: a source's message id is unique, a table entry would only add a byte.
    #[serde(borrow)]
    pub source_id: Option<&'a str>,
    /// `received_at` minus the previous event's (the first event's: minus 0),
    /// wrapping, so events a few ms apart take a byte or two.
    pub received_delta: i64,
    pub body: WireBody,
}

/// Event kinds, mirroring `domain::EventBody`. Variants only appended.
/// Every `at` is the event's time minus its `received_at` (wrapping).
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum WireBody {
    Scan {
        scanner: StrRef,
        code: StrRef,
        action: WireScanAction,
        order: Option<StrRef>,
        wave: Option<StrRef>,
        line: Option<StrRef>,
        qty: Option<i64>,
        at: i64,
    },
    PickComplete {
        order: StrRef,
        line: Option<StrRef>,
        wave: Option<StrRef>,
        qty: Option<i64>,
        scanner: Option<StrRef>,
        at: i64,
    },
    WaveReleased {
        wave: StrRef,
        at: i64,
    },
    OrderStatus {
        order: StrRef,
        status: StrRef,
        at: i64,
    },
    /// Low-volume kinds (door and device events, decisions) as their JSON:
    /// compactness does not pay for a mirror of each. The JSON carries its
    /// own `kind` and `at`.
    Json(String),
}

/// Mirrors `domain::ScanAction`. Variants only appended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(super) enum WireScanAction {
    Pick,
    Pack,
    Stage,
    Load,
    Receive,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct WireAck<'a> {
    pub site: &'a str,
    pub epoch: [u8; 16],
    pub upto_seq: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct WirePlan<'a> {
    pub site: &'a str,
    pub version: u64,
    pub issued_at: i64,
    pub body: &'a str,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct WireStatus<'a> {
    pub site: &'a str,
    pub online: bool,
    pub at: i64,
    pub epoch: [u8; 16],
    pub last_seq: i64,
    pub backlog: u64,
}
