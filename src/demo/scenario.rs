//! A demo scenario: one site's day (generated from a seed and its sizes) and
//! the incidents scripted into it. A TOML file (`--scenario FILE`); the
//! built-in one is `examples/demo-scenario.toml`.

use std::path::Path;

use serde::Deserialize;

use crate::config::{parse_toml, ConfigError, Problems};
use crate::domain::Millis;
use crate::sim::day::{Day, DayConfig, Incident};

const MIN: Millis = 60_000;
const DAY_MS: Millis = 24 * 60 * MIN;

/// The scenario the demo runs without `--scenario`.
pub const BUILT_IN: &str = include_str!("../../examples/demo-scenario.toml");
const EXAMPLE: &str = "examples/demo-scenario.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub site: String,
    /// Seed of the generated day: the same seed, the same day.
    pub seed: u64,
    /// Simulated seconds per real second, unless `--speed` says otherwise.
    #[serde(default = "default_speed")]
    pub speed: f64,
    pub day: DaySize,
    #[serde(default)]
    pub incidents: Vec<Scripted>,
}

fn default_speed() -> f64 {
    60.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaySize {
    pub doors: u32,
    pub departures: u32,
    pub lines: u32,
    #[serde(default = "default_zones")]
    pub zones: u32,
    /// Planned picker utilisation (work / capacity), 0.5 to 1.
    #[serde(default = "default_utilisation")]
    pub utilisation: f64,
}

fn default_zones() -> u32 {
    3
}
fn default_utilisation() -> f64 {
    0.85
}

/// An incident, at a time of day (`"HH:MM"`, UTC, on the scenario's day).
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Scripted {
    /// Picks in `zone` take `1 / factor` times as long.
    PickSlowdown {
        zone: String,
        at: String,
        minutes: u32,
        factor: f64,
    },
    /// A dock door's controller reports a fault; the door cannot load.
    DoorFault {
        door: String,
        at: String,
        minutes: u32,
    },
    /// The `departure`-th departure of the day (1 = first) comes late; the
    /// site hears `known_minutes_before` it was due.
    LateVehicle {
        departure: usize,
        delay_minutes: u32,
        #[serde(default = "default_known")]
        known_minutes_before: u32,
    },
    /// The link to head office is down.
    UplinkOutage { at: String, minutes: u32 },
}

fn default_known() -> u32 {
    30
}

/// A scenario made ready to run.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub scenario: Scenario,
    /// The day with the scripted incidents in it.
    pub day: Day,
    /// Uplink outages: (from, until).
    pub outages: Vec<(Millis, Millis)>,
}

impl Prepared {
    pub fn built_in() -> Prepared {
        Prepared::parse(BUILT_IN, Path::new(EXAMPLE)).expect("the built-in scenario is valid")
    }

    pub fn load(path: &Path) -> Result<Prepared, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Prepared::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Prepared, ConfigError> {
        let scenario: Scenario = parse_toml(text, path, EXAMPLE, Scenario::validate)?;
        let mut day = Day::generate(
            scenario.seed,
            &DayConfig {
                doors: (scenario.day.doors, scenario.day.doors),
                departures: (scenario.day.departures, scenario.day.departures),
                lines: (scenario.day.lines, scenario.day.lines),
                zones: (scenario.day.zones, scenario.day.zones),
                rate_lph: (60.0, 120.0),
                utilisation: (scenario.day.utilisation, scenario.day.utilisation),
                incidents: (0, 0),
            },
        );
        day.site = scenario.site.clone();
        let mut problems = Problems::new(text);
        let outages = scenario.script(&mut day, &mut problems);
        problems.into_result(path)?;
        Ok(Prepared {
            scenario,
            day,
            outages,
        })
    }
}

impl Scenario {
    fn validate(&self, p: &mut Problems) {
        let ident = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if self.site.is_empty() || !self.site.chars().all(ident) {
            p.push(
                "site",
                format!("`{}` is not a site id", self.site),
                "use letters, digits, `-` and `_`, e.g. site = \"dc-demo\"",
            );
        }
        if !(self.speed.is_finite() && (0.1..=100_000.0).contains(&self.speed)) {
            p.push(
                "speed",
                format!("{} is out of range", self.speed),
                "use 0.1 to 100000 simulated seconds per second (60: an hour a minute)",
            );
        }
        let d = &self.day;
        let ranges = [
            ("day.doors", d.doors, 1, 200),
            ("day.departures", d.departures, 1, 1000),
            ("day.lines", d.lines, 10, 100_000),
            ("day.zones", d.zones, 1, 6),
        ];
        for (key, v, lo, hi) in ranges {
            if !(lo..=hi).contains(&v) {
                p.push(
                    key,
                    format!("{v} is out of range"),
                    format!("use {lo} to {hi}"),
                );
            }
        }
        if !(0.5..=1.0).contains(&d.utilisation) {
            p.push(
                "day.utilisation",
                format!("{} is out of range", d.utilisation),
                "use 0.5 to 1.0 (planned work over picker capacity)",
            );
        }
    }

    /// Put the incidents into `day`; returns the uplink outages. Names are
    /// checked against the generated day (its zones, doors, departures).
    fn script(&self, day: &mut Day, p: &mut Problems) -> Vec<(Millis, Millis)> {
        let midnight = day.start.div_euclid(DAY_MS) * DAY_MS;
        let mut outages = Vec::new();
        for (i, s) in self.incidents.iter().enumerate() {
            let key = |field: &str| format!("incidents[{i}].{field}");
            let mut at = |text: &str| match parse_hhmm(text) {
                Some(m) => Some(midnight + m),
                None => {
                    p.push(
                        key("at"),
                        format!("`{text}` is not a time of day"),
                        "write it as \"HH:MM\" (24-hour, UTC), e.g. at = \"10:30\"",
                    );
                    None
                }
            };
            match s {
                Scripted::PickSlowdown {
                    zone,
                    at: when,
                    minutes,
                    factor,
                } => {
                    let from = at(when);
                    let z = day.zones.iter().position(|z| &z.id == zone);
                    if z.is_none() {
                        let names: Vec<&str> = day.zones.iter().map(|z| z.id.as_str()).collect();
                        p.push(
                            key("zone"),
                            format!("`{zone}` is not a zone of this day"),
                            format!("use one of: {}", names.join(", ")),
                        );
                    }
                    if !(factor.is_finite() && *factor > 0.05 && *factor <= 1.0) {
                        p.push(
                            key("factor"),
                            format!("{factor} is out of range"),
                            "use a rate factor above 0.05 and at most 1 (0.5: picks take twice as long)",
                        );
                    }
                    if let (Some(from), Some(zone)) = (from, z) {
                        day.incidents.push(Incident::Slowdown {
                            zone,
                            from,
                            until: from + Millis::from(*minutes) * MIN,
                            factor: *factor,
                        });
                    }
                }
                Scripted::DoorFault {
                    door,
                    at: when,
                    minutes,
                } => {
                    let from = at(when);
                    if !day.doors.contains(door) {
                        p.push(
                            key("door"),
                            format!("`{door}` is not a door of this day"),
                            format!(
                                "use one of {} to {}",
                                day.doors.first().map_or("", String::as_str),
                                day.doors.last().map_or("", String::as_str)
                            ),
                        );
                    } else if let Some(from) = from {
                        day.incidents.push(Incident::DoorOutage {
                            door: door.clone(),
                            from,
                            until: from + Millis::from(*minutes) * MIN,
                        });
                    }
                }
                Scripted::LateVehicle {
                    departure,
                    delay_minutes,
                    known_minutes_before,
                } => {
                    let n = day.departures.len();
                    if !(1..=n).contains(departure) {
                        p.push(
                            key("departure"),
                            format!("{departure} is not a departure of this day"),
                            format!("use 1 to {n} (departures in the order they are scheduled)"),
                        );
                        continue;
                    }
                    let d = departure - 1;
                    let due = day.departures[d]
                        .vehicle_due
                        .unwrap_or(day.departures[d].scheduled_at);
                    let delay = Millis::from(*delay_minutes) * MIN;
                    day.incidents.push(Incident::LateVehicle {
                        departure: d,
                        delay,
                        known_at: (due - Millis::from(*known_minutes_before) * MIN).max(day.start),
                    });
                    day.truth[d].vehicle_arrival = due + delay;
                }
                Scripted::UplinkOutage { at: when, minutes } => {
                    if let Some(from) = at(when) {
                        outages.push((from, from + Millis::from(*minutes) * MIN));
                    }
                }
            }
        }
        outages
    }
}

/// `"HH:MM"` → ms after midnight.
fn parse_hhmm(s: &str) -> Option<Millis> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (Millis, Millis) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some((h * 60 + m) * MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_scenario_is_a_day_with_its_incidents() {
        let p = Prepared::built_in();
        assert_eq!(p.day.doors.len(), p.scenario.day.doors as usize);
        assert_eq!(p.day.departures.len(), p.scenario.day.departures as usize);
        assert!(p.day.incidents.len() >= 3);
        assert_eq!(p.outages.len(), 1);
    }

    #[test]
    fn a_bad_scenario_names_the_key_and_the_fix() {
        let text = BUILT_IN.replace("zone = \"chilled\"", "zone = \"freezer\"");
        let e = Prepared::parse(&text, Path::new("s.toml")).expect_err("unknown zone");
        let shown = e.to_string();
        assert!(shown.contains("incidents[0].zone"), "{shown}");
        assert!(
            shown.contains("fix: use one of: ambient, chilled"),
            "{shown}"
        );
        let text = BUILT_IN.replace("lines = ", "line = ");
        let shown = Prepared::parse(&text, Path::new("s.toml"))
            .expect_err("misspelt key")
            .to_string();
        assert!(shown.contains("line"), "{shown}");
    }
}
