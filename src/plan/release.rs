//! Release policy: waves least-slack-first (the forecast's pending order),
//! within a work-in-progress cap per zone measured in minutes of that zone's
//! current capacity. Faster picking raises the caps and pulls work forward.
//! A wave is held while its departure cannot use it yet: until `max_lead`
//! before its departure needs its last pick, or `idle_lead` when a zone it
//! has work for would otherwise run dry (idle pickers are lost capacity;
//! goods waiting longer in staging are the price).

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
    /// the tightest wave with work for it even if that overshoots a cap.
    pub low_water_min: f64,
    /// Hold a wave until this long before its departure needs its last pick
    /// (so picked goods do not clog the staging lanes).
    pub max_lead_min: f64,
    /// ...or until this long before, when a zone would otherwise run dry.
    pub idle_lead_min: f64,
}

impl Default for ReleaseConfig {
    fn default() -> Self {
        ReleaseConfig {
            wip_min: 45.0,
            low_water_min: 15.0,
            max_lead_min: 180.0,
            idle_lead_min: 360.0,
        }
    }
}

impl ReleaseConfig {
    pub fn max_lead_ms(&self) -> Millis {
        (self.max_lead_min * 60_000.0) as Millis
    }

    pub fn idle_lead_ms(&self) -> Millis {
        (self.idle_lead_min * 60_000.0) as Millis
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
            continue; // its departure cannot use it yet, even to keep pickers busy
        }
        let work = model.wave_remaining(wi);
        // A zone about to run dry takes the tightest wave that has work for
        // it, even past another zone's cap: idle pickers are lost capacity.
        let starving = work.iter().any(|&(z, _)| backlog[z] < low[z]);
        let needed = model
            .wave_departures(wi)
            .iter()
            .map(|&d| model.departures[d].pick_needed())
            .min()
            .unwrap_or(now);
        if !starving && now < needed - config.max_lead_ms() {
            continue; // early: only to keep pickers busy
        }
        let fits = work.iter().all(|&(z, n)| backlog[z] + n as f64 <= cap[z]);
        // A wave with more slack must not take the room a tighter one waits for.
        let behind_tighter = work.iter().any(|&(z, _)| blocked[z]);
        if starving || (fits && !behind_tighter) {
            for &(z, n) in &work {
                backlog[z] += n as f64;
            }
            out.push(wi);
        } else {
            for &(z, n) in &work {
                if backlog[z] + n as f64 > cap[z] {
                    blocked[z] = true;
                }
            }
        }
    }
    out
}
