//! Collecting config problems so `check-config` can report all of them at once.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with a config file: where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `subscriptions[2].mapping.code`.
    pub key: String,
    /// 1-based line in the file, when it can be located.
    pub line: Option<usize>,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: `{}`: {}", self.key, self.message)?,
            None => write!(f, "`{}`: {}", self.key, self.message)?,
        }
        write!(f, "\n    fix: {}", self.fix)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}\n    fix: check the path, or pass --config with the right one")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {} problem(s):\n{}", .problems.len(), render(.problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Accumulates problems while validating.
#[derive(Default)]
pub(crate) struct Problems {
    text: String,
    list: Vec<Problem>,
}

impl Problems {
    pub(crate) fn new(text: &str) -> Self {
        Problems {
            text: text.to_owned(),
            list: Vec::new(),
        }
    }

    pub(crate) fn push(
        &mut self,
        key: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        let key = key.into();
        let line = locate(&self.text, &key);
        self.list.push(Problem {
            key,
            line,
            message: message.into(),
            fix: fix.into(),
        });
    }

    pub(crate) fn push_at(
        &mut self,
        key: impl Into<String>,
        line: Option<usize>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.list.push(Problem {
            key: key.into(),
            line,
            message: message.into(),
            fix: fix.into(),
        });
    }

    pub(crate) fn into_result(self, path: &std::path::Path) -> Result<(), ConfigError> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems: self.list,
            })
        }
    }
}

/// Read a config file's text.
pub(crate) fn read(path: &std::path::Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Parse TOML text into `T`, collecting every unknown key (`serde_ignored`)
/// and every problem `validate` finds, so all are reported at once.
/// `example` names the documented example file the fixes point to.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(
    text: &str,
    path: &std::path::Path,
    example: &str,
    validate: impl FnOnce(&T, &mut Problems),
) -> Result<T, ConfigError> {
    let mut problems = Problems::new(text);
    let mut unknown = Vec::new();
    let parsed: Result<T, _> = serde_ignored::deserialize(toml::Deserializer::new(text), |p| {
        unknown.push(indexed_key(&p.to_string()))
    });
    for key in unknown {
        // A secret typed into the config would be readable by anyone who can
        // read the config: say where it belongs instead.
        let fix = if key.ends_with(".password") || key.ends_with(".key") {
            "never put a secret in the config: put it in a file only dockside can read (password_file / key_file, chmod 600) or pass it as a systemd credential (password_credential / key_credential with LoadCredential=)".to_owned()
        } else {
            format!("remove it, or check its spelling against {example}")
        };
        problems.push(key, "unknown key", fix);
    }
    match parsed {
        Ok(config) => {
            validate(&config, &mut problems);
            problems.into_result(path)?;
            Ok(config)
        }
        Err(e) => {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            problems.push_at(
                "(file)",
                line,
                e.message().replace('\n', " "),
                format!("see {example} for the expected keys and types"),
            );
            Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems: problems.list,
            })
        }
    }
}

/// Best-effort line of a key: the first line assigning its last path segment
/// after the table header its earlier segments name. Good enough to point an
/// engineer at the right place; `None` when unsure.
/// `serde_ignored` writes array elements as `.N`; problems name them `[N]`.
/// It writes an optional section as `?`, which a TOML key never is.
pub(crate) fn indexed_key(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for seg in path.split('.').filter(|s| *s != "?") {
        if !out.is_empty() && !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// Best-effort line of a key such as `modbus.devices[1].doors[0].signals.fault.bit`:
/// follows table headers (counting `[[array]]` elements under their parent)
/// to the section holding the key, then finds the line assigning it (or the
/// inline table containing it). Good enough to point an engineer at the right
/// place; `None` when unsure.
fn locate(text: &str, key: &str) -> Option<usize> {
    // Indexed path of the current section, e.g. `modbus.devices[1].doors[0]`.
    let mut section = String::new();
    // Elements seen of each array of tables, by its indexed path.
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut inline_match = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') {
            let array = line.starts_with("[[");
            let name = line
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim();
            section = index_header(&section, name, array, &mut counts);
            if section == key {
                return Some(i + 1);
            }
            continue;
        }
        let Some((k, _)) = line.split_once('=') else {
            continue;
        };
        let k = k.trim().trim_matches('"');
        if k.is_empty() || k.starts_with('#') {
            continue;
        }
        let full = if section.is_empty() {
            k.to_owned()
        } else {
            format!("{section}.{k}")
        };
        if full == key {
            return Some(i + 1);
        }
        if inline_match.is_none() && key.starts_with(&format!("{full}.")) {
            inline_match = Some(i + 1);
        }
    }
    inline_match
}

/// The indexed path a header opens: its names, with each `[[array]]` level
/// carrying the index of its current element.
fn index_header(
    previous: &str,
    header: &str,
    array: bool,
    counts: &mut std::collections::HashMap<String, usize>,
) -> String {
    let names: Vec<&str> = header.split('.').map(str::trim).collect();
    let prev: Vec<&str> = if previous.is_empty() {
        Vec::new()
    } else {
        previous.split('.').collect()
    };
    let mut path = String::new();
    for (n, name) in names.iter().enumerate() {
        if !path.is_empty() {
            path.push('.');
        }
        let last = n == names.len() - 1;
        if last && array {
            let key = format!("{path}{name}");
            let count = counts.entry(key).or_insert(0);
            path.push_str(&format!("{name}[{count}]"));
            *count += 1;
        } else {
            // An enclosing level keeps the element the previous header was in.
            match prev.get(n) {
                Some(p) if p.split('[').next() == Some(name) => path.push_str(p),
                _ => path.push_str(name),
            }
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn locates_keys_in_tables_and_arrays_of_tables() {
        let text = "site = \"a\"\n[site_broker]\nport = 1\n[[subscriptions]]\ntopic = \"x\"\n[[subscriptions]]\ntopic = \"y\"\n";
        assert_eq!(locate(text, "site"), Some(1));
        assert_eq!(locate(text, "site_broker.port"), Some(3));
        assert_eq!(locate(text, "subscriptions[1].topic"), Some(7));
        assert_eq!(locate(text, "subscriptions[0].topic"), Some(5));
    }

    #[test]
    fn locates_keys_in_nested_arrays_and_inline_tables() {
        let text = "[modbus]\ndebounce_ms = 1\n[[modbus.devices]]\nname = \"a\"\n[[modbus.devices.doors]]\ndoor = \"D1\"\n[[modbus.devices]]\nname = \"b\"\n[[modbus.devices.doors]]\ndoor = \"D2\"\n[modbus.devices.doors.signals]\nfault = { table = \"coil\", address = 1 }\n[[modbus.devices.doors]]\ndoor = \"D3\"\n";
        assert_eq!(locate(text, "modbus.debounce_ms"), Some(2));
        assert_eq!(locate(text, "modbus.devices[1].name"), Some(8));
        assert_eq!(locate(text, "modbus.devices[1].doors[0].door"), Some(10));
        assert_eq!(locate(text, "modbus.devices[1].doors[1].door"), Some(14));
        assert_eq!(
            locate(text, "modbus.devices[1].doors[0].signals.fault.address"),
            Some(12)
        );
        assert_eq!(locate(text, "modbus.devices[1]"), Some(7));
        assert_eq!(
            super::indexed_key("modbus.devices.1.doors.0.x"),
            "modbus.devices[1].doors[0].x"
        );
        assert_eq!(
            super::indexed_key("planning.?.docks.?.doors.1.x"),
            "planning.docks.doors[1].x"
        );
    }
}
