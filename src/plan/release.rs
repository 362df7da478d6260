//! Release policy: waves least-slack-first (the forecast's pending order),
//! within a work-in-progress cap per zone measured in minutes of that zone's
//! current capacity. Faster picking raises the caps and pulls work forward;
//! a wave is held while its departure cannot use it yet (the forecast's
//! earliest start, `max_lead` before its last pick is needed).

use serde::{Deserialize, Serialize};

use super::forecast::{Forecast, ZoneCapacity};
use super::model::Model;
use crate::domain::Millis;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReleaseConfig {
    /// Released-but-unpicked work a zone may hold, in minutes of its capacity.
    pub wip_min: f64,
    /// Below this many minutes of work a zone is about to starve: release
    /// the next wave for it even if that overshoots the cap.
    pub low_water_min: f64,
    /// Hold a wave until this long before its departure needs its last pick
    /// (so picked goods do not clog the staging lanes).
    pub max_lead_min: f64,
}

impl Default for ReleaseConfig {
    fn default() -> Self {
        ReleaseConfig {
            wip_min: 45.0,
            low_water_min: 15.0,
            max_lead_min: 180.0,
        }
    }
}

impl ReleaseConfig {
    pub fn max_lead_ms(&self) -> Millis {
        (self.max_lead_min * 60_000.0) as Millis
    }
}

/// Waves to release now, in release order.
pub fn choose(
    model: &Model,
    forecast: &Forecast,
    caps: &[ZoneCapacity],
    config: &ReleaseConfig,
    now: Millis,
) -> Vec<usize> {
    let nz = model.zones.len();
    let mut backlog: Vec<f64> = model.backlog.iter().map(|&n| n as f64).collect();
    let cap: Vec<f64> = (0..nz)
        .map(|z| caps.get(z).map_or(0.0, |c| c.lpm() * config.wip_min))
        .collect();
    let low: Vec<f64> = (0..nz)
        .map(|z| caps.get(z).map_or(0.0, |c| c.lpm() * config.low_water_min))
        .collect();
    let mut blocked = vec![false; nz];
    let mut out = Vec::new();
    for &(wi, start) in &forecast.pending {
        if start > now {
            continue; // its departure cannot use it yet
        }
        let work = model.wave_remaining(wi);
        if work.iter().any(|&(z, _)| blocked[z]) {
            // A wave with more slack must not take the room a tighter one waits for.
            continue;
        }
        let fits = work
            .iter()
            .all(|&(z, n)| backlog[z] + n as f64 <= cap[z] || backlog[z] < low[z]);
        if fits {
            for &(z, n) in &work {
                backlog[z] += n as f64;
            }
            out.push(wi);
        } else {
            for &(z, n) in &work {
                if backlog[z] + n as f64 > cap[z] && backlog[z] >= low[z] {
                    blocked[z] = true;
                }
            }
        }
        if blocked.iter().all(|&b| b) {
            break;
        }
    }
    out
}
