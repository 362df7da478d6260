//! The uplink and downlink between a site agent and central: a versioned
//! postcard envelope. One version byte, then one message; message and event
//! kinds are enums whose variants are only ever appended (see `format`).
//!
//! Batches are compact: the epoch as 16 bytes, the events' strings in one
//! table per batch referenced by index, `received_at` as a delta from the
//! previous event and each event's time as a delta from its `received_at`.
//! A typical WMS scan, 152 bytes of JSON, takes 44 bytes in a batch of 100
//! (29%), 53 in a batch of 10, 104 alone (`size` checks batches of 10 and
//! more stay under 40%).
//!
//! Pure: no I/O, no clock.

mod codec;
mod epoch;
mod error;
mod format;
mod message;

#[cfg(test)]
mod golden;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod size;

pub use codec::{decode, encode};
pub use error::WireError;
pub use message::{Ack, Batch, BatchEvent, Message, Plan, Status};

/// The wire version this build speaks; the first byte of every message.
pub const VERSION: u8 = 1;
