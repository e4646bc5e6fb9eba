//! Tessera's `-o` / `--override key.path=value`: a member of the config file replaced from the
//! command line before the file is parsed.
//!
//! Tessera takes every value as a string and converts it to the member's type. Cloister does
//! the same on the JSON text: a member that holds a number or a boolean gets the value as a
//! number or a boolean, a string member gets it as a string, and a member the file leaves out
//! gets whichever of the two the config model accepts there. A path that names no member of
//! the model is an error, so a typo never passes silently as an ignored key.
//!
//! The value may be a secret (`jdbc.password=…`), so errors name the path and never the value.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use super::{Config, ConfigError};

/// One `key.path=value` from the command line.
#[derive(Clone, PartialEq, Eq)]
pub struct Override {
    path: Vec<Segment>,
    value: String,
}

/// One step of an override path: `name` or `[index]`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Member(String),
    Index(usize),
}

/// Why an override could not be read or applied. Names the path, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OverrideError {
    /// The argument is not `key.path=value` with a well-formed path.
    #[error("override `{path}`: {problem} (expected key.path=value, arrays as name[i])")]
    Syntax {
        /// The part before `=` (or the whole argument, when it has no `=`, up to 64 bytes).
        path: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The path names no member of Tessera's config.
    #[error("override {path}: no such member in the config")]
    NoSuchMember {
        /// The path as given.
        path: String,
    },
    /// The path goes through a value that is not an object (or not an array at an `[i]`), or
    /// past the end of an array.
    #[error("override {path}: {problem}")]
    Unreachable {
        /// The path as given.
        path: String,
        /// What is in the way.
        problem: String,
    },
    /// The value cannot be converted to the member's type.
    #[error("override {path}: the value is not {expected}")]
    WrongType {
        /// The path as given.
        path: String,
        /// The member's type.
        expected: &'static str,
    },
    /// The config file itself does not parse (reported before any override is applied).
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl Override {
    /// The path as Cloister writes JSON paths (`serverConfigs[1].serverAddress`).
    pub fn path(&self) -> String {
        let mut out = String::new();
        for segment in &self.path {
            match segment {
                Segment::Member(name) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(name);
                }
                Segment::Index(index) => out.push_str(&format!("[{index}]")),
            }
        }
        out
    }
}

/// The value may be a password: `Debug` shows the path only.
impl fmt::Debug for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Override")
            .field("path", &self.path())
            .finish_non_exhaustive()
    }
}

impl FromStr for Override {
    type Err = OverrideError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let Some((path, value)) = text.split_once('=') else {
            let shown: String = text.chars().take(64).collect();
            return Err(OverrideError::Syntax {
                path: shown,
                problem: "no `=`",
            });
        };
        let syntax = |problem| OverrideError::Syntax {
            path: path.to_owned(),
            problem,
        };
        let mut segments = Vec::new();
        for part in path.split('.') {
            let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
            if name.is_empty() {
                return Err(syntax("an empty member name"));
            }
            segments.push(Segment::Member(name.to_owned()));
            while !rest.is_empty() {
                let inner = rest
                    .strip_prefix('[')
                    .and_then(|r| r.split_once(']'))
                    .ok_or_else(|| syntax("an unclosed or misplaced `[`"))?;
                let index = inner
                    .0
                    .parse()
                    .map_err(|_| syntax("an array index that is not a number"))?;
                segments.push(Segment::Index(index));
                rest = inner.1;
            }
        }
        Ok(Self {
            path: segments,
            value: value.to_owned(),
        })
    }
}

/// Applies `overrides` in order to the config JSON `text` and returns the new text. Each
/// override is checked against the config model as it is applied: a path the model does not
/// know, or a value of the wrong type, fails with the path named and nothing applied.
pub fn apply_overrides(text: &[u8], overrides: &[Override]) -> Result<Vec<u8>, OverrideError> {
    if overrides.is_empty() {
        return Ok(text.to_vec());
    }
    // The file must parse on its own first, so its own errors are reported as such.
    Config::parse(text)?;
    let mut document: Value = serde_json::from_slice(text).map_err(|_| {
        OverrideError::Config(ConfigError::Syntax {
            problem: "invalid JSON".to_owned(),
            line: 0,
            column: 0,
        })
    })?;
    for item in overrides {
        apply_one(&mut document, item)?;
    }
    Ok(serde_json::to_vec_pretty(&document).expect("a JSON value always serializes"))
}

fn apply_one(document: &mut Value, item: &Override) -> Result<(), OverrideError> {
    let path = item.path();
    let existing = slot(document, item)?.clone();
    let candidates: Vec<Value> = match &existing {
        Value::String(_) => vec![Value::String(item.value.clone())],
        Value::Number(_) => vec![number(&item.value).ok_or(OverrideError::WrongType {
            path: path.clone(),
            expected: "a number",
        })?],
        Value::Bool(_) => vec![boolean(&item.value).ok_or(OverrideError::WrongType {
            path: path.clone(),
            expected: "true or false",
        })?],
        Value::Array(_) | Value::Object(_) => {
            let parsed: Value =
                serde_json::from_str(&item.value).map_err(|_| OverrideError::WrongType {
                    path: path.clone(),
                    expected: "JSON of the member's kind",
                })?;
            if std::mem::discriminant(&parsed) != std::mem::discriminant(&existing) {
                return Err(OverrideError::WrongType {
                    path,
                    expected: if existing.is_array() {
                        "a JSON array"
                    } else {
                        "a JSON object"
                    },
                });
            }
            vec![parsed]
        }
        // Absent (or null): the model decides. A string first, as Tessera reads every value.
        Value::Null => [
            Some(Value::String(item.value.clone())),
            number(&item.value),
            boolean(&item.value),
        ]
        .into_iter()
        .flatten()
        .collect(),
    };
    let mut last_error = None;
    for candidate in candidates {
        *slot(document, item)? = candidate;
        let text = serde_json::to_vec(document).expect("a JSON value always serializes");
        match Config::parse(&text) {
            Ok(loaded) => {
                if names_no_member(&loaded.warnings, item) {
                    return Err(OverrideError::NoSuchMember { path });
                }
                return Ok(());
            }
            Err(ConfigError::Invalid { path: at, message }) if at.starts_with(&path) => {
                last_error = Some(ConfigError::Invalid { path: at, message });
            }
            Err(other) => return Err(other.into()),
        }
    }
    *slot(document, item)? = existing;
    Err(last_error.map_or(OverrideError::NoSuchMember { path }, OverrideError::Config))
}

/// Whether parsing ignored the override's member (or one of its parents) as unknown.
fn names_no_member(warnings: &[String], item: &Override) -> bool {
    let segments = &item.path;
    (1..=segments.len()).any(|n| {
        let prefix = Override {
            path: segments[..n].to_vec(),
            value: String::new(),
        }
        .path();
        warnings
            .iter()
            .any(|w| w.starts_with(&format!("{prefix}: unknown key")))
    })
}

/// The value at the override's path, creating absent objects on the way (as `null`) and
/// allowing an array index one past the end (a new element).
fn slot<'a>(document: &'a mut Value, item: &Override) -> Result<&'a mut Value, OverrideError> {
    let mut here = document;
    for (i, segment) in item.path.iter().enumerate() {
        let unreachable = |problem: String| OverrideError::Unreachable {
            path: item.path(),
            problem,
        };
        let next_is_index = matches!(item.path.get(i + 1), Some(Segment::Index(_)));
        if here.is_null() {
            *here = match segment {
                Segment::Member(_) => Value::Object(serde_json::Map::new()),
                Segment::Index(_) => Value::Array(Vec::new()),
            };
        }
        here = match (segment, here) {
            (Segment::Member(name), Value::Object(map)) => {
                map.entry(name.clone()).or_insert(if next_is_index {
                    Value::Array(Vec::new())
                } else {
                    Value::Null
                })
            }
            (Segment::Index(index), Value::Array(items)) => {
                if *index == items.len() {
                    items.push(Value::Null);
                }
                let len = items.len();
                items.get_mut(*index).ok_or_else(|| {
                    unreachable(format!(
                        "index {index} is past the end of an array of {len}"
                    ))
                })?
            }
            (Segment::Member(name), _) => {
                return Err(unreachable(format!(
                    "`{name}` is inside a value that is not an object"
                )))
            }
            (Segment::Index(index), _) => {
                return Err(unreachable(format!(
                    "[{index}] on a value that is not an array"
                )))
            }
        };
    }
    Ok(here)
}

fn number(text: &str) -> Option<Value> {
    match serde_json::from_str(text.trim()) {
        Ok(value @ Value::Number(_)) => Some(value),
        _ => None,
    }
}

fn boolean(text: &str) -> Option<Value> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "jdbc": { "url": "jdbc:sqlite:/a.db", "username": "", "password": "", "autoCreateTables": true },
            "serverConfigs": [
                { "app": "Q2T", "serverAddress": "unix:/tmp/tm.ipc", "communicationType": "REST" },
                { "app": "P2P", "serverAddress": "http://localhost:9001", "communicationType": "REST" }
            ],
            "peer": [],
            "keys": { "passwords": [], "keyData": [ { "privateKeyPath": "/k.key", "publicKeyPath": "/k.pub" } ] },
            "useWhiteList": false
        }))
        .unwrap()
    }

    fn apply(args: &[&str]) -> Result<Value, OverrideError> {
        let overrides: Vec<Override> = args.iter().map(|a| a.parse().unwrap()).collect();
        let text = apply_overrides(&config(), &overrides)?;
        Ok(serde_json::from_slice(&text).unwrap())
    }

    #[test]
    fn a_nested_member_and_an_array_element_are_replaced() {
        let out = apply(&[
            "jdbc.url=jdbc:sqlite:/x.db",
            "serverConfigs[1].serverAddress=http://host:9002",
        ])
        .unwrap();
        assert_eq!(out["jdbc"]["url"], "jdbc:sqlite:/x.db");
        assert_eq!(out["serverConfigs"][1]["serverAddress"], "http://host:9002");
        assert_eq!(out["serverConfigs"][0]["app"], "Q2T");
    }

    #[test]
    fn values_take_the_members_type() {
        let out = apply(&[
            "useWhiteList=true",
            "jdbc.autoCreateTables=false",
            "jdbc.fetchSize=500",
            "peer[0].url=http://p:9001",
        ])
        .unwrap();
        assert_eq!(out["useWhiteList"], true);
        assert_eq!(out["jdbc"]["autoCreateTables"], false);
        assert_eq!(out["jdbc"]["fetchSize"], 500);
        assert_eq!(out["peer"][0]["url"], "http://p:9001");
    }

    #[test]
    fn a_path_that_names_no_member_is_an_error_naming_it() {
        let error = apply(&["jdbc.ulr=jdbc:sqlite:/x.db"]).unwrap_err();
        assert_eq!(
            error,
            OverrideError::NoSuchMember {
                path: "jdbc.ulr".into()
            }
        );
        assert!(error.to_string().contains("jdbc.ulr"));
    }

    #[test]
    fn a_wrong_type_or_a_bad_index_is_an_error_without_the_value() {
        let error = apply(&["useWhiteList=secret-ish"]).unwrap_err();
        assert!(error.to_string().contains("useWhiteList"), "{error}");
        assert!(!error.to_string().contains("secret-ish"));
        let error = apply(&["serverConfigs[5].serverAddress=http://h:1"]).unwrap_err();
        assert!(
            matches!(error, OverrideError::Unreachable { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn bad_syntax_is_rejected() {
        for bad in ["jdbc.url", "jdbc..url=x", "a[x]=1", "a[1=2"] {
            assert!(bad.parse::<Override>().is_err(), "{bad}");
        }
        let parsed: Override = "serverConfigs[1].sslConfig.tls=STRICT".parse().unwrap();
        assert_eq!(parsed.path(), "serverConfigs[1].sslConfig.tls");
    }
}
