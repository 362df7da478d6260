//! The site plan: departures, pick zones and waves of orders, as the central
//! allocator sends it down (this JSON is the plan message's `body`).
//!
//! Times are `Millis` in Rust. In JSON they are written as RFC 3339 text
//! (`"2026-11-25T14:00:00.000Z"`) and read as RFC 3339 text or integer ms.
//! Durations carry their unit in the field name (`staging_s`, `per_line_s`).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::Millis;

/// One version of the site's plan. Central only ever sends newer versions;
/// the site applies a plan only if its `version` is greater than the one it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SitePlan {
    /// The site this plan is for.
    pub site: String,
    /// Increases with every plan central sends for this site.
    pub version: u64,
    /// When central made this version.
    #[serde(with = "when")]
    pub generated_at: Millis,
    /// Pick zones with their labour standard and planned headcount.
    pub zones: Vec<Zone>,
    /// Vehicles leaving the site.
    pub departures: Vec<Departure>,
    /// Groups of orders released to the pickers together.
    #[serde(default)]
    pub waves: Vec<Wave>,
}

/// A pick zone: an area with its own pickers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub id: String,
    /// Engineered labour standard: order lines one picker picks in an hour.
    /// Used while observed data are thin.
    pub standard_lines_per_hour: f64,
    /// Pickers planned for the zone when `shifts` is empty; used when no
    /// recent scans say otherwise.
    pub headcount: u32,
    /// The labour plan: pickers per shift. Overlapping shifts add up; outside
    /// every shift the zone has no pickers. Empty: `headcount` all day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shifts: Vec<Shift>,
}

/// Pickers planned in a zone from `start` to `end`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    #[serde(with = "when")]
    pub start: Millis,
    #[serde(with = "when")]
    pub end: Millis,
    pub headcount: u32,
}

/// A vehicle leaving the site for a carrier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Departure {
    pub id: String,
    pub carrier: String,
    /// When the vehicle is planned to leave.
    #[serde(with = "when")]
    pub scheduled_at: Millis,
    /// The latest the vehicle may leave and still make its service.
    #[serde(with = "when")]
    pub cutoff: Millis,
    /// Planned dock door, if central or the site already chose one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub door: Option<String>,
    /// When the vehicle is planned to be at the door, if known; loading cannot start before it.
    #[serde(default, with = "when_opt", skip_serializing_if = "Option::is_none")]
    pub vehicle_due: Option<Millis>,
    /// Stops in delivery order (the first stop's goods are loaded last).
    pub stops: Vec<Stop>,
    pub load: LoadModel,
}

/// A delivery stop on a departure's route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stop {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// How long a departure takes from its last pick to leaving the door.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadModel {
    /// From the last pick to the goods staged behind the door (pack, consolidate, move).
    pub staging_s: f64,
    /// Fixed loading time: dock the vehicle, paperwork, seal.
    pub fixed_s: f64,
    /// Loading time per order line.
    pub per_line_s: f64,
}

impl LoadModel {
    pub fn staging_ms(&self) -> Millis {
        secs_to_ms(self.staging_s)
    }

    /// Time to load `lines` order lines.
    pub fn load_ms(&self, lines: u64) -> Millis {
        secs_to_ms(self.fixed_s + self.per_line_s * lines as f64)
    }
}

fn secs_to_ms(s: f64) -> Millis {
    (s * 1000.0).round() as Millis
}

/// A group of orders released to the pickers together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wave {
    pub id: String,
    /// When central planned to release the wave (the static schedule).
    #[serde(with = "when")]
    pub planned_release: Millis,
    /// Orders in pick sequence.
    pub orders: Vec<Order>,
}

/// A customer order, assigned to a departure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    pub id: String,
    pub departure: String,
    /// The departure stop it is delivered to.
    pub stop: String,
    pub lines: Vec<OrderLine>,
    /// Central will not move the order again: the site reported it picked,
    /// so its departure and carrier are final.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub locked: bool,
}

/// One SKU and quantity on an order, picked in one zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    /// Unique within its order; pick scans name it in their `line` field.
    pub id: String,
    /// Scanned code; matches a pick scan that names the order but no line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    pub zone: String,
    pub qty: u32,
}

/// A plan that cannot be used, with what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "plan has no zones\n    fix: list every pick zone with its standard rate and headcount"
    )]
    NoZones,
    #[error("duplicate {what} id `{id}`")]
    Duplicate { what: &'static str, id: String },
    #[error("zone `{zone}`: standard_lines_per_hour must be positive (got {rate})")]
    BadRate { zone: String, rate: f64 },
    #[error("zone `{zone}`: a shift ends before it starts")]
    BadShift { zone: String },
    #[error("departure `{departure}`: cutoff is before scheduled_at")]
    CutoffBeforeSchedule { departure: String },
    #[error("departure `{departure}`: load times must be finite and not negative")]
    BadLoad { departure: String },
    #[error("order `{order}` names unknown departure `{departure}`")]
    UnknownDeparture { order: String, departure: String },
    #[error("order `{order}` names stop `{stop}`, which departure `{departure}` does not serve")]
    UnknownStop {
        order: String,
        departure: String,
        stop: String,
    },
    #[error("order `{order}` line `{line}` names unknown zone `{zone}`")]
    UnknownZone {
        order: String,
        line: String,
        zone: String,
    },
    #[error("order `{order}` has no lines")]
    EmptyOrder { order: String },
}

impl SitePlan {
    /// Check the references and numbers a planner relies on.
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.zones.is_empty() {
            return Err(PlanError::NoZones);
        }
        let mut zones = HashSet::new();
        for z in &self.zones {
            if !zones.insert(z.id.as_str()) {
                return Err(dup("zone", &z.id));
            }
            if !(z.standard_lines_per_hour.is_finite() && z.standard_lines_per_hour > 0.0) {
                return Err(PlanError::BadRate {
                    zone: z.id.clone(),
                    rate: z.standard_lines_per_hour,
                });
            }
            if z.shifts.iter().any(|s| s.end <= s.start) {
                return Err(PlanError::BadShift { zone: z.id.clone() });
            }
        }
        let mut departures: HashMap<&str, &Departure> = HashMap::new();
        for d in &self.departures {
            if departures.insert(d.id.as_str(), d).is_some() {
                return Err(dup("departure", &d.id));
            }
            if d.cutoff < d.scheduled_at {
                return Err(PlanError::CutoffBeforeSchedule {
                    departure: d.id.clone(),
                });
            }
            let l = d.load;
            if ![l.staging_s, l.fixed_s, l.per_line_s]
                .iter()
                .all(|v| v.is_finite() && *v >= 0.0)
            {
                return Err(PlanError::BadLoad {
                    departure: d.id.clone(),
                });
            }
        }
        let mut waves = HashSet::new();
        let mut orders = HashSet::new();
        for w in &self.waves {
            if !waves.insert(w.id.as_str()) {
                return Err(dup("wave", &w.id));
            }
            for o in &w.orders {
                if !orders.insert(o.id.as_str()) {
                    return Err(dup("order", &o.id));
                }
                let Some(d) = departures.get(o.departure.as_str()) else {
                    return Err(PlanError::UnknownDeparture {
                        order: o.id.clone(),
                        departure: o.departure.clone(),
                    });
                };
                if !d.stops.iter().any(|s| s.id == o.stop) {
                    return Err(PlanError::UnknownStop {
                        order: o.id.clone(),
                        departure: o.departure.clone(),
                        stop: o.stop.clone(),
                    });
                }
                if o.lines.is_empty() {
                    return Err(PlanError::EmptyOrder {
                        order: o.id.clone(),
                    });
                }
                let mut lines = HashSet::new();
                for l in &o.lines {
                    if !lines.insert(l.id.as_str()) {
                        return Err(dup("line", &format!("{}/{}", o.id, l.id)));
                    }
                    if !zones.contains(l.zone.as_str()) {
                        return Err(PlanError::UnknownZone {
                            order: o.id.clone(),
                            line: l.id.clone(),
                            zone: l.zone.clone(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    pub fn departure(&self, id: &str) -> Option<&Departure> {
        self.departures.iter().find(|d| d.id == id)
    }

    /// The departure an order deferred from `from` goes to: the earliest
    /// departure of the same carrier with a later cutoff that serves the stop.
    pub fn deferral_target(&self, from: &str, stop: &str) -> Option<&Departure> {
        let from = self.departure(from)?;
        self.departures
            .iter()
            .filter(|d| {
                d.id != from.id
                    && d.carrier == from.carrier
                    && d.cutoff > from.cutoff
                    && d.stops.iter().any(|s| s.id == stop)
            })
            .min_by(|a, b| a.cutoff.cmp(&b.cutoff).then_with(|| a.id.cmp(&b.id)))
    }

    /// Move an order to another departure, as the WMS does when a deferral is
    /// accepted. An order not yet released joins the first wave (in plan
    /// order) of its new departure that `released` says is still held, at
    /// the end; a released order, or one with no such wave, stays where it is.
    /// Returns false when the order or departure is unknown or the stop is not served.
    pub fn move_order(&mut self, order: &str, to: &str, released: impl Fn(&str) -> bool) -> bool {
        let Some(to_dep) = self.departure(to) else {
            return false;
        };
        let Some((wi, oi)) = self.waves.iter().enumerate().find_map(|(wi, w)| {
            w.orders
                .iter()
                .position(|o| o.id == order)
                .map(|oi| (wi, oi))
        }) else {
            return false;
        };
        if !to_dep
            .stops
            .iter()
            .any(|s| s.id == self.waves[wi].orders[oi].stop)
        {
            return false;
        }
        self.waves[wi].orders[oi].departure = to.to_owned();
        if released(&self.waves[wi].id) {
            return true;
        }
        let target = self.waves.iter().position(|w| {
            !released(&w.id) && w.orders.iter().any(|o| o.departure == to && o.id != order)
        });
        if let Some(ti) = target.filter(|&ti| ti != wi) {
            let moved = self.waves[wi].orders.remove(oi);
            self.waves[ti].orders.push(moved);
        }
        true
    }

    /// Order lines in the plan.
    pub fn line_count(&self) -> usize {
        self.waves
            .iter()
            .flat_map(|w| &w.orders)
            .map(|o| o.lines.len())
            .sum()
    }
}

fn dup(what: &'static str, id: &str) -> PlanError {
    PlanError::Duplicate {
        what,
        id: id.to_owned(),
    }
}

/// What the site learns outside the scan stream that changes a forecast.
/// Like events, these are serialized with a snake_case `kind` tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PlanSignal {
    /// The carrier's or yard's estimate of when a departure's vehicle is at the door.
    VehicleEta {
        departure: String,
        eta: Millis,
        at: Millis,
    },
    /// A dock door cannot load until `until` (estimated).
    DoorOutage {
        door: String,
        until: Millis,
        at: Millis,
    },
    /// The WMS moved an order to another departure (an accepted deferral).
    OrderMoved {
        order: String,
        departure: String,
        at: Millis,
    },
    /// A supervisor's headcount for a zone, overriding the plan's.
    Headcount {
        zone: String,
        pickers: u32,
        at: Millis,
    },
}

impl PlanSignal {
    pub fn at(&self) -> Millis {
        match self {
            PlanSignal::VehicleEta { at, .. }
            | PlanSignal::DoorOutage { at, .. }
            | PlanSignal::OrderMoved { at, .. }
            | PlanSignal::Headcount { at, .. } => *at,
        }
    }
}

/// Serde for a required time: RFC 3339 out, RFC 3339 or integer ms in.
pub mod when {
    use serde::{de, Deserialize, Deserializer, Serializer};

    use crate::domain::time::{format_rfc3339, parse_rfc3339};
    use crate::domain::Millis;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Ms(i64),
        Text(String),
    }

    pub fn serialize<S: Serializer>(t: &Millis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_rfc3339(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        match Either::deserialize(d)? {
            Either::Ms(ms) => Ok(ms),
            Either::Text(t) => parse_rfc3339(&t).ok_or_else(|| {
                de::Error::custom(format!(
                    "`{t}` is not an RFC 3339 time (like 2026-11-25T14:00:00Z) or integer ms"
                ))
            }),
        }
    }
}

/// Serde for an optional time, as `when`.
pub mod when_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::domain::Millis;

    pub fn serialize<S: Serializer>(t: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::when::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::when")] Millis);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn example() -> SitePlan {
        let text = include_str!("../../examples/plan.json");
        serde_json::from_str(text).expect("the example plan parses")
    }

    #[test]
    fn example_plan_is_valid_and_round_trips() {
        let plan = example();
        plan.validate().expect("valid");
        let json = serde_json::to_string(&plan).expect("serializes");
        let back: SitePlan = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, plan);
    }

    #[test]
    fn times_are_read_as_text_or_ms() {
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("../../examples/plan.json")).expect("json");
        v["generated_at"] = serde_json::json!(1_795_000_000_000i64);
        let plan: SitePlan = serde_json::from_value(v.clone()).expect("ms accepted");
        assert_eq!(plan.generated_at, 1_795_000_000_000);
        v["generated_at"] = serde_json::json!("yesterday");
        let err = serde_json::from_value::<SitePlan>(v).expect_err("text must be RFC 3339");
        assert!(err.to_string().contains("RFC 3339"), "{err}");
    }

    #[test]
    fn a_typo_in_a_field_is_an_error() {
        let mut v: serde_json::Value =
            serde_json::from_str(include_str!("../../examples/plan.json")).expect("json");
        v["departures"][0]["cutof"] = serde_json::json!("2026-11-25T14:00:00Z");
        assert!(serde_json::from_value::<SitePlan>(v).is_err());
    }

    #[test]
    fn validation_names_the_broken_reference() {
        let mut plan = example();
        plan.waves[0].orders[0].lines[0].zone = "nowhere".into();
        let err = plan.validate().expect_err("unknown zone");
        assert!(err.to_string().contains("nowhere"), "{err}");
    }

    #[test]
    fn a_deferred_unreleased_order_joins_the_later_departures_held_wave() {
        let mut plan = example();
        let order = plan.waves[0].orders[0].clone();
        let from = plan.departure(&order.departure).expect("known").clone();
        let to = plan
            .deferral_target(&from.id, &order.stop)
            .expect("the example has a later departure on the route")
            .id
            .clone();
        assert!(plan.move_order(&order.id, &to, |_| false));
        let (wave, moved) = plan
            .waves
            .iter()
            .find_map(|w| w.orders.iter().find(|o| o.id == order.id).map(|o| (w, o)))
            .expect("still planned");
        assert_eq!(moved.departure, to);
        assert!(wave.orders.iter().all(|o| o.departure == to));
        plan.validate().expect("still valid");
    }
}
