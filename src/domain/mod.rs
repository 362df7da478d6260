//! The site's vocabulary: events, plans, decisions and time. No I/O.

pub mod decision;
pub mod event;
pub mod plan;
pub mod time;

pub use decision::Decision;
pub use event::{EventBody, ScanAction, StoredEvent};
pub use plan::{PlanSignal, SitePlan};
pub use time::Millis;
