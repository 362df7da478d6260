//! Orders as central takes them in: JSON from the broker, rows of a CSV file,
//! checked into an `Order` or refused with every reason at once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::CentralConfig;
use crate::domain::time::parse_rfc3339;
use crate::domain::Millis;

/// An order central has accepted. Lines are merged by SKU and sorted, so an
/// order has one line per SKU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub destination_zone: String,
    pub lines: Vec<Line>,
    pub promised_delivery: Millis,
    /// The service tier: the order's own, else its client's, else the default.
    pub tier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// When central received it.
    pub received_at: Millis,
}

/// One SKU and quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub sku: String,
    pub qty: u32,
}

impl Order {
    pub fn line_count(&self) -> u64 {
        self.lines.len() as u64
    }
}

/// Longest id, SKU or zone accepted.
const MAX_IDENT: usize = 128;
/// Most lines on one order.
const MAX_LINES: usize = 500;

/// An order as written by its sender, before checking. Everything optional
/// so that every missing field is reported, not just the first.
struct Draft<'a> {
    id: Option<&'a Value>,
    destination_zone: Option<&'a Value>,
    promised_delivery: Option<&'a Value>,
    service_tier: Option<&'a Value>,
    client: Option<&'a Value>,
    lines: Vec<(Option<&'a Value>, Option<&'a Value>)>,
    lines_field: Option<&'a Value>,
    unknown: Vec<String>,
}

/// Check an order received as JSON:
/// `{"id", "destination_zone", "lines": [{"sku", "qty"}], "promised_delivery",
///   "service_tier"?, "client"?}`. The error lists every reason.
pub fn parse_json(bytes: &[u8], config: &CentralConfig, now: Millis) -> Result<Order, Rejection> {
    let root: Value = serde_json::from_slice(bytes).map_err(|e| Rejection {
        order_id: None,
        reasons: vec![format!("not valid JSON: {e}")],
    })?;
    let Some(obj) = root.as_object() else {
        return Err(Rejection {
            order_id: None,
            reasons: vec!["not a JSON object".into()],
        });
    };
    let mut draft = Draft {
        id: obj.get("id"),
        destination_zone: obj.get("destination_zone"),
        promised_delivery: obj.get("promised_delivery"),
        service_tier: obj.get("service_tier"),
        client: obj.get("client"),
        lines: Vec::new(),
        lines_field: obj.get("lines"),
        unknown: obj
            .keys()
            .filter(|k| {
                ![
                    "id",
                    "destination_zone",
                    "promised_delivery",
                    "service_tier",
                    "client",
                    "lines",
                ]
                .contains(&k.as_str())
            })
            .cloned()
            .collect(),
    };
    if let Some(Value::Array(lines)) = draft.lines_field {
        draft.lines = lines.iter().map(|l| (l.get("sku"), l.get("qty"))).collect();
    }
    check(&draft, config, now)
}

/// An order refused, with why. Kept with the raw input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The id, when the input had a usable one.
    pub order_id: Option<String>,
    pub reasons: Vec<String>,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "order {}: {}",
            self.order_id.as_deref().unwrap_or("(no id)"),
            self.reasons.join("; ")
        )
    }
}

fn check(d: &Draft<'_>, config: &CentralConfig, now: Millis) -> Result<Order, Rejection> {
    let mut reasons = Vec::new();
    for k in &d.unknown {
        reasons.push(format!("unknown field `{k}`"));
    }
    let id = ident("id", d.id, true, &mut reasons);
    let zone = ident("destination_zone", d.destination_zone, true, &mut reasons);
    if let Some(z) = &zone {
        if !config.carriers.iter().any(|c| c.transit_h.contains_key(z)) {
            reasons.push(format!("no carrier delivers to destination zone `{z}`"));
        }
    }
    let promised = match d.promised_delivery {
        None | Some(Value::Null) => {
            reasons.push("`promised_delivery` is missing".into());
            None
        }
        Some(v) => match v.as_i64().or_else(|| v.as_str().and_then(parse_rfc3339)) {
            Some(t) if t <= now => {
                reasons.push("`promised_delivery` is in the past".into());
                None
            }
            Some(t) => Some(t),
            None => {
                reasons.push(format!(
                    "`promised_delivery` {v} is not an RFC 3339 time or integer ms"
                ));
                None
            }
        },
    };
    let client = ident("client", d.client, false, &mut reasons);
    let tenant = match &client {
        Some(c) if !config.tenants.is_empty() => match config.tenant(c) {
            Some(t) => Some(t),
            None => {
                reasons.push(format!("client `{c}` is not a tenant in the config"));
                None
            }
        },
        _ => None,
    };
    let tier = ident("service_tier", d.service_tier, false, &mut reasons)
        .or_else(|| tenant.and_then(|t| t.service_tier.clone()))
        .unwrap_or_else(|| config.allocation.default_tier.clone());
    if !config.tier_is_served(&tier) {
        reasons.push(format!("no carrier carries service tier `{tier}`"));
    }
    let mut lines: BTreeMap<String, u64> = BTreeMap::new();
    match d.lines_field {
        None | Some(Value::Null) => reasons.push("`lines` is missing".into()),
        Some(Value::Array(a)) if a.is_empty() => reasons.push("`lines` is empty".into()),
        Some(Value::Array(a)) if a.len() > MAX_LINES => {
            reasons.push(format!("{} lines, more than {MAX_LINES}", a.len()))
        }
        Some(Value::Array(_)) => {
            for (i, (sku, qty)) in d.lines.iter().enumerate() {
                let sku = ident(&format!("lines[{i}].sku"), *sku, true, &mut reasons);
                let qty = match qty.and_then(Value::as_u64) {
                    Some(q) if (1..=1_000_000).contains(&q) => Some(q),
                    _ => {
                        reasons.push(format!(
                            "`lines[{i}].qty` should be a whole number from 1 to 1000000, found {}",
                            qty.map(|v| v.to_string())
                                .unwrap_or_else(|| "nothing".into())
                        ));
                        None
                    }
                };
                if let (Some(s), Some(q)) = (sku, qty) {
                    *lines.entry(s).or_default() += q;
                }
            }
        }
        Some(other) => reasons.push(format!("`lines` should be a list, found {other}")),
    }
    if !reasons.is_empty() {
        return Err(Rejection {
            order_id: id,
            reasons,
        });
    }
    Ok(Order {
        id: id.expect("no reasons: the id is present"),
        destination_zone: zone.expect("no reasons: the zone is present"),
        lines: lines
            .into_iter()
            .map(|(sku, qty)| Line {
                sku,
                qty: qty.min(u32::MAX as u64) as u32,
            })
            .collect(),
        promised_delivery: promised.expect("no reasons: the promise is present"),
        tier,
        client,
        received_at: now,
    })
}

/// A text field: a non-empty string (or an integer) without control
/// characters, at most `MAX_IDENT` long.
fn ident(
    field: &str,
    v: Option<&Value>,
    required: bool,
    reasons: &mut Vec<String>,
) -> Option<String> {
    let s = match v {
        None | Some(Value::Null) => {
            if required {
                reasons.push(format!("`{field}` is missing"));
            }
            return None;
        }
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
        Some(other) => {
            reasons.push(format!("`{field}` should be text, found {other}"));
            return None;
        }
    };
    if s.is_empty() {
        if required {
            reasons.push(format!("`{field}` is empty"));
        }
        return None;
    }
    if s.len() > MAX_IDENT || s.chars().any(char::is_control) {
        reasons.push(format!(
            "`{field}` must be at most {MAX_IDENT} characters without control characters"
        ));
        return None;
    }
    Some(s)
}

/// The CSV columns, in any order; one row per order line, rows of one order
/// together. `service_tier` and `client` may be empty.
pub const CSV_COLUMNS: [&str; 7] = [
    "order_id",
    "destination_zone",
    "promised_delivery",
    "service_tier",
    "client",
    "sku",
    "qty",
];

/// One order read from a CSV file: its first line number and its JSON (as
/// it would arrive on the broker), or why its rows do not make an order.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvOrder {
    pub line: usize,
    pub order_id: Option<String>,
    pub json: Result<String, Vec<String>>,
}

/// An order being read from CSV rows: id, fields, lines, problems.
type Pending = (
    String,
    serde_json::Map<String, Value>,
    Vec<Value>,
    Vec<String>,
);

/// Read orders from CSV text. A problem with the file itself (no header, a
/// missing column) is an error; a problem with a row is reported on its order.
pub fn parse_csv(text: &str) -> Result<Vec<CsvOrder>, String> {
    let mut rows = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = rows.next().ok_or("the file is empty")?;
    let header = split_csv_line(header).map_err(|e| format!("line 1: {e}"))?;
    let mut col = [0usize; 7];
    for (i, name) in CSV_COLUMNS.iter().enumerate() {
        col[i] = header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                format!(
                    "line 1: no `{name}` column; the header must name {}",
                    CSV_COLUMNS.join(",")
                )
            })?;
    }
    let mut out: Vec<CsvOrder> = Vec::new();
    let mut current: Option<Pending> = None;
    let mut first_line = 0;
    let finish = |out: &mut Vec<CsvOrder>, line: usize, cur: Option<Pending>| {
        if let Some((id, mut obj, lines, problems)) = cur {
            obj.insert("lines".into(), Value::Array(lines));
            out.push(CsvOrder {
                line,
                order_id: Some(id),
                json: if problems.is_empty() {
                    Ok(Value::Object(obj).to_string())
                } else {
                    Err(problems)
                },
            });
        }
    };
    for (n, raw) in rows {
        let line = n + 1;
        let fields = match split_csv_line(raw) {
            Ok(f) => f,
            Err(e) => {
                finish(&mut out, first_line, current.take());
                out.push(CsvOrder {
                    line,
                    order_id: None,
                    json: Err(vec![format!("line {line}: {e}")]),
                });
                continue;
            }
        };
        let get = |i: usize| fields.get(col[i]).map(|s| s.trim()).unwrap_or("");
        let id = get(0).to_owned();
        if current.as_ref().map(|c| c.0.as_str()) != Some(id.as_str()) {
            finish(&mut out, first_line, current.take());
            first_line = line;
            let mut obj = serde_json::Map::new();
            obj.insert("id".into(), Value::String(id.clone()));
            obj.insert("destination_zone".into(), Value::String(get(1).into()));
            let promised = get(2);
            obj.insert(
                "promised_delivery".into(),
                promised
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::String(promised.into())),
            );
            for (i, key) in [(3, "service_tier"), (4, "client")] {
                if !get(i).is_empty() {
                    obj.insert(key.into(), Value::String(get(i).into()));
                }
            }
            current = Some((id.clone(), obj, Vec::new(), Vec::new()));
        }
        let cur = current.as_mut().expect("set just above");
        let qty_text = get(6);
        match qty_text.parse::<u64>() {
            Ok(q) => cur.2.push(serde_json::json!({ "sku": get(5), "qty": q })),
            Err(_) => cur.3.push(format!(
                "line {line}: qty `{qty_text}` is not a whole number"
            )),
        }
    }
    finish(&mut out, first_line, current.take());
    Ok(out)
}

/// Split one CSV line (RFC 4180 quoting: `"a, b"`, `""` for a quote).
fn split_csv_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.trim().is_empty() && !was_quoted => {
                cur.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                fields.push(std::mem::take(&mut cur));
                was_quoted = false;
            }
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err("a quoted field is not closed".into());
    }
    fields.push(cur);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::central::allocate::testing::config;

    const NOW: Millis = 1_795_000_000_000;

    #[test]
    fn a_good_order_is_normalised() {
        let c = config();
        let o = parse_json(
            br#"{"id":"SO-1","destination_zone":"north","promised_delivery":"2026-11-27T18:00:00Z","lines":[{"sku":"B","qty":2},{"sku":"A","qty":1},{"sku":"B","qty":3}]}"#,
            &c,
            NOW,
        )
        .expect("valid");
        assert_eq!(o.id, "SO-1");
        assert_eq!(
            o.lines,
            vec![
                Line {
                    sku: "A".into(),
                    qty: 1
                },
                Line {
                    sku: "B".into(),
                    qty: 5
                }
            ]
        );
        assert_eq!(o.tier, "standard");
        assert_eq!(o.received_at, NOW);
    }

    #[test]
    fn every_reason_is_given() {
        let c = config();
        let r = parse_json(
            br#"{"id":"SO-2","destination_zone":"mars","promised_delivery":"soon","lines":[{"sku":"","qty":0}],"colour":"red","client":"nobody"}"#,
            &c,
            NOW,
        )
        .expect_err("bad");
        assert_eq!(r.order_id.as_deref(), Some("SO-2"));
        let text = r.reasons.join("\n");
        for want in [
            "unknown field `colour`",
            "no carrier delivers to destination zone `mars`",
            "`promised_delivery` \"soon\" is not an RFC 3339 time",
            "`lines[0].sku` is empty",
            "`lines[0].qty` should be a whole number",
            "client `nobody` is not a tenant",
        ] {
            assert!(text.contains(want), "missing `{want}` in:\n{text}");
        }
        let r = parse_json(b"[1]", &c, NOW).expect_err("not an object");
        assert_eq!(r.reasons, vec!["not a JSON object".to_string()]);
    }

    #[test]
    fn a_tenant_gives_its_tier_and_a_past_promise_is_refused() {
        let c = config();
        let o = parse_json(
            br#"{"id":"SO-3","destination_zone":"north","promised_delivery":1795100000000,"client":"acme","lines":[{"sku":"A","qty":1}]}"#,
            &c,
            NOW,
        )
        .expect("valid");
        assert_eq!(o.tier, "express");
        let r = parse_json(
            br#"{"id":"SO-4","destination_zone":"north","promised_delivery":1,"lines":[{"sku":"A","qty":1}]}"#,
            &c,
            NOW,
        )
        .expect_err("past");
        assert!(r.reasons[0].contains("in the past"), "{r:?}");
    }

    #[test]
    fn csv_rows_group_into_orders() {
        let text = "order_id,destination_zone,promised_delivery,service_tier,client,sku,qty\n\
                    SO-1,north,2026-11-27T18:00:00Z,,,A,2\n\
                    SO-1,north,2026-11-27T18:00:00Z,,,\"B, large\",1\n\
                    SO-2,south,1795100000000,express,acme,C,x\n";
        let orders = parse_csv(text).expect("readable");
        assert_eq!(orders.len(), 2);
        assert_eq!(orders[0].line, 2);
        let json: Value =
            serde_json::from_str(orders[0].json.as_ref().expect("good")).expect("json");
        assert_eq!(json["lines"][1]["sku"], "B, large");
        assert_eq!(orders[1].order_id.as_deref(), Some("SO-2"));
        assert_eq!(
            orders[1].json,
            Err(vec!["line 4: qty `x` is not a whole number".to_string()])
        );
        assert!(parse_csv("order_id,sku\nA,1\n")
            .expect_err("columns")
            .contains("no `destination_zone` column"));
    }
}
