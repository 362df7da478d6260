//! The site's vocabulary: events, doors, plans, decisions and time. No I/O.

pub mod decision;
pub mod door;
pub mod event;
pub mod plan;
pub mod time;

pub use decision::Decision;
pub use door::{DeviceError, DoorState, Signals};
pub use event::{EventBody, ScanAction, StoredEvent};
pub use plan::{PlanSignal, SitePlan};
pub use time::Millis;
