//! The site's vocabulary: events, doors and time. No I/O.

pub mod door;
pub mod event;
pub mod time;

pub use door::{DeviceError, DoorState, Signals};
pub use event::{EventBody, ScanAction, StoredEvent};
pub use time::Millis;
