//! The allocator as the database holds it: orders where they were allocated,
//! the network view replayed from the sites' events. Used by the daemon at
//! start-up and by the inspection commands.

use super::allocate::Allocator;
use super::store::Reads;
use crate::config::CentralConfig;
use crate::domain::Millis;
use crate::store::StoreError;

/// Rebuild the allocator as of `now`. Orders still `new` (imported, not yet
/// allocated) are left for the daemon to allocate.
pub fn load(
    config: &CentralConfig,
    reads: &Reads<'_>,
    now: Millis,
) -> Result<Allocator, StoreError> {
    let mut alloc = Allocator::new(config);
    alloc.advance(now);
    for o in reads.orders()? {
        if let Some(state) = o.detail {
            alloc.restore(o.order, state);
        }
    }
    reads.view_events(|site, body| alloc.replay(site, &body))?;
    alloc.settle();
    Ok(alloc)
}
