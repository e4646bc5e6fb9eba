//! Reading the config JSON: unknown keys become warnings, errors name a JSON path and never
//! the offending value.
//!
//! serde_json's own messages quote values (`invalid type: string "…", expected a boolean`),
//! and the value may be a private key or a password. So errors are rebuilt from the parts of
//! the message that come from Cloister's types (the expected type, the accepted spellings) and
//! the *kind* of value found, never its text.

use super::Config;

/// A parsed config and what was ignored while parsing it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The config.
    pub config: Config,
    /// Things that were accepted but ignored, one sentence each, prefixed by their JSON path
    /// (`serverConfigs[0].enabled: unknown key, ignored`).
    pub warnings: Vec<String>,
}

/// Why the config could not be parsed. Never contains a value from the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The text is not JSON.
    #[error("the config is not valid JSON: {problem} at line {line}, column {column}")]
    Syntax {
        /// What is wrong (serde_json's fixed description, e.g. "trailing comma").
        problem: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// A member has the wrong type or an unknown value.
    #[error("{path}: {message}")]
    Invalid {
        /// JSON path, like `jdbc.autoCreateTables` or `serverConfigs[0].app`.
        path: String,
        /// What was expected.
        message: String,
    },
}

/// Shown as the path of an error about the whole document.
const ROOT: &str = "(top level)";

impl Config {
    /// Parses Tessera config JSON. Unknown keys are reported in [`Loaded::warnings`] and
    /// otherwise ignored, as Tessera does. Call [`Config::validate`] on the result before use.
    pub fn parse(json: &[u8]) -> Result<Loaded, ConfigError> {
        let mut warnings = Vec::new();
        let mut on_ignored = |path: serde_ignored::Path<'_>| {
            warnings.push(format!("{}: unknown key, ignored", ignored_path(&path)));
        };
        let mut de = serde_json::Deserializer::from_slice(json);
        let config: Config = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(
            &mut de,
            &mut on_ignored,
        ))
        .map_err(|e| from_path_error(&e))?;
        de.end().map_err(|e| syntax(&e))?;
        warnings.extend(accepted_but_ignored(&config));
        Ok(Loaded { config, warnings })
    }
}

/// Warnings for sections Cloister reads but does not act on.
fn accepted_but_ignored(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    for (i, server) in config.server_configs.iter().enumerate() {
        if server.influx_config.is_some() {
            warnings.push(format!(
                "serverConfigs[{i}].influxConfig: InfluxDB metrics are not supported by Cloister, ignored"
            ));
        }
    }
    if let Some(keys) = &config.keys {
        for section in keys.vault_sections() {
            warnings.push(format!(
                "keys.{section}: key vaults are not supported by Cloister, ignored"
            ));
        }
    }
    warnings
}

fn ignored_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        Path::Map { parent, key } => join(ignored_path(parent), key),
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

fn join(mut path: String, key: &str) -> String {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
    path
}

fn error_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => out = join(out, key),
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

fn from_path_error(error: &serde_path_to_error::Error<serde_json::Error>) -> ConfigError {
    let inner = error.inner();
    if inner.classify() != serde_json::error::Category::Data {
        return syntax(inner);
    }
    let path = error_path(error.path());
    let (field, message) = describe(&message_of(inner));
    let path = match field {
        Some(field) => join(path, &field),
        None if path.is_empty() => ROOT.to_owned(),
        None => path,
    };
    ConfigError::Invalid { path, message }
}

fn syntax(error: &serde_json::Error) -> ConfigError {
    use serde_json::error::Category;
    let problem = match error.classify() {
        // serde_json's syntax messages are fixed strings ("trailing comma", "expected `:`"),
        // never input text.
        Category::Syntax | Category::Eof => message_of(error),
        Category::Io => "read error".to_owned(),
        Category::Data => "invalid value".to_owned(),
    };
    ConfigError::Syntax {
        problem,
        line: error.line(),
        column: error.column(),
    }
}

/// serde_json's message without its " at line L column C" suffix.
fn message_of(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

/// Rewrites a serde data-error message so it keeps what Cloister's types contributed (the
/// expected type, accepted spellings, field names) and drops the input value. Returns the
/// missing member's name separately so it can be appended to the path.
fn describe(message: &str) -> (Option<String>, String) {
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        // Split from the right: the value (left) may itself contain ", expected ".
        if let Some((found, expected)) = rest.rsplit_once(", expected ") {
            let expected = friendly_expected(expected);
            return (
                None,
                match found_kind(found) {
                    Some(kind) => format!("expected {expected}, found {kind}"),
                    None => format!("expected {expected}"),
                },
            );
        }
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        if let Some((_, expected)) = rest.rsplit_once(", expected ") {
            return (
                None,
                format!("invalid value, expected {}", friendly_expected(expected)),
            );
        }
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        // The variant is input; what follows the last "`, expected " is the list of spellings
        // from Cloister's code. A backtick inside the input cannot fake it, because the list is
        // found from the right.
        if let Some((_, expected)) = rest.rsplit_once("`, expected ") {
            return (None, format!("unknown value, expected {expected}"));
        }
        return (None, "unknown value".to_owned());
    }
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        return (Some(field.to_owned()), "required".to_owned());
    }
    if message.starts_with("duplicate field `") {
        return (None, "a key appears twice".to_owned());
    }
    if message.starts_with("invalid length ") {
        return (None, "wrong number of elements".to_owned());
    }
    (None, "invalid value".to_owned())
}

fn found_kind(unexpected: &str) -> Option<&'static str> {
    // serde's `Unexpected` renders as `<kind>` or `<kind> <quoted value>`.
    let kinds = [
        ("boolean", "a boolean"),
        ("integer", "a number"),
        ("floating point", "a number"),
        ("string", "a string"),
        ("map", "an object"),
        ("sequence", "an array"),
        ("unit value", "null"),
        ("null", "null"),
    ];
    kinds.into_iter().find_map(|(prefix, kind)| {
        let rest = unexpected.strip_prefix(prefix)?;
        (rest.is_empty() || rest.starts_with(' ')).then_some(kind)
    })
}

fn friendly_expected(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative whole number".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".to_owned(),
        "a sequence" => "an array".to_owned(),
        "a map" => "an object".to_owned(),
        e if e.starts_with("struct ") || e.contains(" enum ") || e.starts_with("enum ") => {
            "an object".to_owned()
        }
        e => e.to_owned(),
    }
}
