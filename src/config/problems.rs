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
        unknown.push(p.to_string())
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
fn locate(text: &str, key: &str) -> Option<usize> {
    let leaf = key.rsplit('.').next()?;
    let leaf = leaf.split('[').next()?;
    let header = key.split('.').next().unwrap_or("");
    let header = header.split('[').next().unwrap_or("");
    let index: usize = key
        .split('.')
        .next()
        .and_then(|h| h.split_once('['))
        .and_then(|(_, rest)| rest.trim_end_matches(']').parse().ok())
        .unwrap_or(0);
    let mut seen_headers = 0usize;
    let mut in_section = !key.contains('.');
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.starts_with('[') {
            let name = line.trim_matches(|c| c == '[' || c == ']').trim();
            if name == header {
                in_section = seen_headers == index;
                seen_headers += 1;
            } else if !name.starts_with(&format!("{header}.")) {
                in_section = false;
            }
            continue;
        }
        if in_section {
            if let Some((k, _)) = line.split_once('=') {
                if k.trim() == leaf {
                    return Some(i + 1);
                }
            }
        }
    }
    None
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
}
