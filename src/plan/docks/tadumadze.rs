//! The public benchmark of Tadumadze, Emde & Diefenbach (OR Spectrum 42,
//! 2020): jobs with release dates and deadlines on unrelated parallel
//! machines with availability windows. Doors are the machines, vehicles the
//! jobs; times are in abstract units, read as minutes. The CSV is described
//! in `../shared/benchmarks/tadumadze2020/README.md`.

use super::{DockDoor, DockProblem, DockVehicle};

/// A processing time meaning "the job may not run on this machine".
const NOT_ELIGIBLE: i64 = 1000;
/// One time unit (a minute) in ms.
pub const UNIT_MS: i64 = 60_000;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CsvError {
    #[error("line {line}: {what}")]
    Bad { line: usize, what: String },
    #[error(
        "not the benchmark's CSV: the header is not `Problem_ID,M,N,w,r,d,p,s,e,instance_name`"
    )]
    Header,
}

/// One instance with its name.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: u32,
    pub name: String,
    pub problem: DockProblem,
}

/// Every instance in the file, in file order.
pub fn parse(text: &str) -> Result<Vec<Instance>, CsvError> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h)) if h.trim() == "Problem_ID,M,N,w,r,d,p,s,e,instance_name" => {}
        _ => return Err(CsvError::Header),
    }
    lines
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| row(l).map_err(|what| CsvError::Bad { line: i + 1, what }))
        .collect()
}

fn row(line: &str) -> Result<Instance, String> {
    let f = fields(line)?;
    if f.len() != 10 {
        return Err(format!("expected 10 fields, found {}", f.len()));
    }
    let num = |i: usize, name: &str| -> Result<usize, String> {
        f[i].trim()
            .parse()
            .map_err(|_| format!("{name} is not a whole number: `{}`", f[i]))
    };
    let id = num(0, "Problem_ID")? as u32;
    let m = num(1, "M")?;
    let n = num(2, "N")?;
    let w = list(&f[3], n, "w")?;
    let r = list(&f[4], n, "r")?;
    let d = list(&f[5], n, "d")?;
    let p: Vec<Vec<i64>> = f[6]
        .split(';')
        .map(|part| list(part, n, "p"))
        .collect::<Result<_, _>>()?;
    if p.len() != m {
        return Err(format!("p has {} machine lists for M = {m}", p.len()));
    }
    // Empty `s` and `e` (the R_ families): machines are always available.
    let window = |i: usize, name: &str| -> Result<Option<Vec<i64>>, String> {
        match f[i].trim() {
            "" => Ok(None),
            t => list(t, m, name).map(Some),
        }
    };
    let s = window(7, "s")?;
    let e = window(8, "e")?;
    let doors = (0..m)
        .map(|k| DockDoor {
            id: format!("M{}", k + 1),
            open_from: s.as_ref().map_or(0, |s| s[k] * UNIT_MS),
            open_until: e.as_ref().map(|e| e[k] * UNIT_MS),
        })
        .collect();
    let vehicles = (0..n)
        .map(|j| DockVehicle {
            id: format!("J{}", j + 1),
            weight: w[j],
            arrival: r[j] * UNIT_MS,
            release: r[j] * UNIT_MS,
            due: d[j] * UNIT_MS,
            load_ms: (0..m)
                .map(|k| (p[k][j] < NOT_ELIGIBLE).then_some(p[k][j] * UNIT_MS))
                .collect(),
            current_door: None,
            frozen: false,
        })
        .collect();
    Ok(Instance {
        id,
        name: f[9].trim().to_owned(),
        problem: DockProblem {
            doors,
            vehicles,
            change_penalty_ms: 0,
        },
    })
}

/// Split a CSV line on commas outside double quotes.
fn fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            _ => out.last_mut().expect("starts with one field").push(c),
        }
    }
    if quoted {
        return Err("a quote is not closed".into());
    }
    Ok(out)
}

/// `[a,b,c]` with exactly `n` integers.
fn list(text: &str, n: usize, name: &str) -> Result<Vec<i64>, String> {
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| format!("{name} is not a [list]"))?;
    let v: Vec<i64> = inner
        .split(',')
        .map(|x| {
            x.trim()
                .parse()
                .map_err(|_| format!("{name} holds `{x}`, not a whole number"))
        })
        .collect::<Result<_, _>>()?;
    if v.len() != n {
        return Err(format!("{name} has {} values, expected {n}", v.len()));
    }
    Ok(v)
}
