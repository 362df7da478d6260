//! The site's vocabulary: events and time. No I/O.

pub mod event;
pub mod time;

pub use event::{EventBody, ScanAction, StoredEvent};
pub use time::Millis;
