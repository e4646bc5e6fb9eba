//! The `jdbc` section, and how `jdbc.url` maps to a store Cloister can open.
//!
//! Tessera hands `jdbc.url` to HikariCP, so any JDBC driver's URL works there. Cloister has
//! two stores: SQLite (`jdbc:sqlite:<file>`) and PostgreSQL, whose multi-host JDBC URLs
//! (`jdbc:postgresql://h1:p1,h2:p2/db?targetServerType=primary`, pgjdbc's failover syntax) and
//! native `postgresql://` URLs are translated into [`StoreTarget::Postgres`], ready for a
//! tokio-postgres config. Everything else (H2, HSQL, Oracle, MySQL) is refused with one
//! sentence saying what is supported.
//!
//! The TLS parameters (`sslmode`, `ssl`, `sslrootcert`, `sslcert`, `sslkey`, `sslfactory`) become
//! a typed [`PostgresTls`] with each driver's documented meaning (see [`tls`]).
//!
//! The URL may hold a password (`postgresql://user:secret@…`, `?password=…`), so errors never
//! repeat any part of it and `Debug` output redacts it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use zeroize::Zeroizing;

use super::{ConfigIssue, Secret};
use cloister_addr::{is_host_name, parse_port};

pub mod tls;

use self::tls::TlsParams;
pub use self::tls::{ClientFile, PostgresTls, RootCerts, ServerCheck, SslMode};

/// PostgreSQL's default port, used for hosts written without one.
pub const DEFAULT_POSTGRES_PORT: u16 = 5432;

/// The `jdbc` section (`JdbcConfig` in Tessera).
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Jdbc {
    /// `username`: the database user.
    pub username: Option<String>,
    /// `password`: the database password (a secret; never printed).
    pub password: Option<Secret>,
    /// `url` (required): the JDBC URL.
    pub url: Option<String>,
    /// `autoCreateTables`: create the schema if missing (default false).
    pub auto_create_tables: bool,
    /// `fetchSize`: rows fetched per round trip when streaming (default 0, driver default).
    pub fetch_size: u32,
}

impl fmt::Debug for Jdbc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jdbc")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("url", &self.url.as_deref().map(redacted_url))
            .field("auto_create_tables", &self.auto_create_tables)
            .field("fetch_size", &self.fetch_size)
            .finish()
    }
}

impl Jdbc {
    /// The store `url` names, with the credentials of `username`/`password` (which take
    /// precedence over credentials in the URL).
    pub fn store_target(&self) -> Result<StoreTarget, ConfigIssue> {
        let url = self
            .url
            .as_deref()
            .ok_or_else(|| ConfigIssue::new("jdbc.url", "required"))?;
        StoreTarget::parse(url, self.username.as_deref(), self.password.as_ref())
            .map_err(|e| ConfigIssue::new("jdbc.url", e))
    }

    /// Whether `password` is a Jasypt `ENC(…)` ciphertext, which Tessera decrypts with a
    /// secret from `TESSERA_CONFIG_SECRET` and Cloister does not support.
    pub fn password_is_encrypted(&self) -> bool {
        self.password
            .as_ref()
            .is_some_and(|p| p.trim().starts_with("ENC(") && p.trim().ends_with(')'))
    }
}

/// Where the data lives.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreTarget {
    /// An SQLite database.
    Sqlite {
        /// The file, or in-memory.
        path: SqlitePath,
        /// `?key=value` parameters after the path (e.g. `journal_mode=WAL`), undecoded.
        params: BTreeMap<String, String>,
    },
    /// A PostgreSQL database, possibly with several hosts to fail over between.
    Postgres(PostgresTarget),
}

/// A PostgreSQL database as `jdbc.url` names it: what a tokio-postgres config needs.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresTarget {
    /// Hosts in the order to try them, with their ports (5432 when not given).
    pub hosts: Vec<(String, u16)>,
    /// The database name; `None` means the server default (the user name).
    pub database: Option<String>,
    /// Which kind of server to accept (`targetServerType` / `target_session_attrs`).
    pub target: TargetServer,
    /// Per-host connection timeout (`connectTimeout` / `connect_timeout`, seconds; 0 or
    /// absent means none given).
    pub connect_timeout: Option<Duration>,
    /// Per-query timeout (`socketTimeout`, seconds; 0 or absent means none).
    pub socket_timeout: Option<Duration>,
    /// Try hosts in random order (`loadBalanceHosts=true` / `load_balance_hosts=random`).
    pub load_balance_hosts: bool,
    /// How connections use TLS (`sslmode`, `ssl`, `sslrootcert`, `sslcert`, `sslkey`,
    /// `sslfactory`).
    pub tls: PostgresTls,
    /// All other URL parameters (`ApplicationName`, …), decoded.
    pub params: BTreeMap<String, String>,
    /// The user: `jdbc.username`, else the URL's.
    pub username: Option<String>,
    /// The password: `jdbc.password`, else the URL's. Never printed.
    pub password: Option<Secret>,
}

impl fmt::Debug for StoreTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite { path, params } => f
                .debug_struct("Sqlite")
                .field("path", path)
                .field("params", params)
                .finish(),
            Self::Postgres(target) => target.fmt(f),
        }
    }
}

/// Where the data is, for people: the SQLite file, or the PostgreSQL hosts and database
/// (never the credentials).
impl fmt::Display for StoreTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite {
                path: SqlitePath::Memory,
                ..
            } => f.write_str("SQLite in memory"),
            Self::Sqlite {
                path: SqlitePath::File(path),
                ..
            } => write!(f, "SQLite {}", path.display()),
            Self::Postgres(target) => {
                let hosts: Vec<String> = target
                    .hosts
                    .iter()
                    .map(|(host, port)| format!("{host}:{port}"))
                    .collect();
                let database = target.database.as_deref().unwrap_or("");
                write!(f, "PostgreSQL {}/{database}", hosts.join(","))
            }
        }
    }
}

impl fmt::Debug for PostgresTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Taken apart field by field so that a field added later cannot reach the output
        // without a decision on whether it must be redacted.
        let Self {
            hosts,
            database,
            target,
            connect_timeout,
            socket_timeout,
            load_balance_hosts,
            tls,
            params,
            username,
            password,
        } = self;
        // Named like the variant, so a `StoreTarget` prints as `Postgres { … }`.
        f.debug_struct("Postgres")
            .field("hosts", hosts)
            .field("database", database)
            .field("target", target)
            .field("connect_timeout", connect_timeout)
            .field("socket_timeout", socket_timeout)
            .field("load_balance_hosts", load_balance_hosts)
            // Paths and modes only: the one TLS secret, sslpassword, is refused at parse.
            .field("tls", tls)
            .field("params", &redacted_params(params))
            .field("username", username)
            .field("password", &password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Where an SQLite database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlitePath {
    /// `jdbc:sqlite::memory:`: a private in-memory database (for tests).
    Memory,
    /// A database file; relative paths are relative to the working directory.
    File(PathBuf),
}

/// Which PostgreSQL servers a connection may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TargetServer {
    /// Any server (the default).
    #[default]
    Any,
    /// Only a writable server (`primary`, `master`, `read-write`).
    Primary,
    /// Only a read-only server (`secondary`, `slave`, `read-only`, `standby`).
    Secondary,
}

/// Why `jdbc.url` cannot be used. Never contains any part of the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JdbcUrlError {
    /// Not SQLite or PostgreSQL.
    #[error(
        "Cloister supports jdbc:sqlite:<file> and jdbc:postgresql://host[:port][,host[:port]…]/database URLs (and postgresql://…); H2, HSQL, Oracle and MySQL are not supported"
    )]
    Unsupported,
    /// `jdbc:sqlite:` with nothing after it.
    #[error("jdbc:sqlite: needs a database file path (or :memory:)")]
    EmptySqlitePath,
    /// A native `postgresql://` URL without a host.
    #[error("the postgresql:// URL names no host")]
    NoHost,
    /// One of the hosts is not `host`, `host:port` or `[v6]:port`.
    #[error("host {number} of the PostgreSQL URL is not a valid host[:port] (port 1-65535)")]
    InvalidHost {
        /// 1-based position in the host list.
        number: usize,
    },
    /// A "prefer" target, which tokio-postgres cannot express.
    #[error(
        "{param}=prefer… is not supported: Cloister connects only to a primary, only to a secondary, or to any server (use primary, secondary or any)"
    )]
    PreferTarget {
        /// `targetServerType` or `target_session_attrs`.
        param: &'static str,
    },
    /// A recognised parameter with a value it cannot have.
    #[error("{param} must be {expected}")]
    InvalidParam {
        /// The parameter name.
        param: &'static str,
        /// What it may be.
        expected: &'static str,
    },
    /// A `%` escape that is malformed or does not decode to UTF-8.
    #[error("the URL contains an invalid %-escape")]
    InvalidEscape,
    /// A TLS parameter asking for something Cloister cannot do; ignoring it would weaken
    /// the connection without saying so.
    #[error("{param} is not supported: {why}")]
    UnsupportedTlsParam {
        /// The parameter name.
        param: &'static str,
        /// Why, and what to do instead.
        why: &'static str,
    },
    /// `sslrootcert=system` with a mode weaker than `verify-full`.
    #[error(
        "sslrootcert=system needs sslmode=verify-full: anyone can obtain a certificate from a public CA for a name they own, so a weaker mode would prove nothing (libpq refuses it too)"
    )]
    SystemRootsNeedVerifyFull,
}

impl StoreTarget {
    /// Parses a `jdbc.url`; `username`/`password` (from `jdbc`), when not empty, override
    /// credentials in the URL.
    pub fn parse(
        url: &str,
        username: Option<&str>,
        password: Option<&Secret>,
    ) -> Result<Self, JdbcUrlError> {
        let url = url.trim();
        if let Some(rest) = strip_prefix_ignore_case(url, "jdbc:sqlite:") {
            return parse_sqlite(rest);
        }
        let mut postgres = if let Some(rest) = strip_prefix_ignore_case(url, "jdbc:postgresql:") {
            parse_postgres(rest, Syntax::Jdbc)?
        } else if let Some(rest) = strip_prefix_ignore_case(url, "postgresql:")
            .or_else(|| strip_prefix_ignore_case(url, "postgres:"))
            .filter(|rest| rest.starts_with("//"))
        {
            parse_postgres(rest, Syntax::Native)?
        } else {
            return Err(JdbcUrlError::Unsupported);
        };
        // Tessera's samples write `"password": ""` for "none"; an empty value must not
        // override credentials given in the URL.
        if let Some(username) = username.filter(|u| !u.is_empty()) {
            postgres.username = Some(username.to_owned());
        }
        if let Some(password) = password.filter(|p| !p.is_empty()) {
            postgres.password = Some(password.clone());
        }
        Ok(Self::Postgres(postgres))
    }
}

fn parse_sqlite(rest: &str) -> Result<StoreTarget, JdbcUrlError> {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    // SQLite URI filenames (`file:…`) are accepted by the xerial driver; the prefix is noise.
    let path = path.strip_prefix("file:").unwrap_or(path);
    let path = match path {
        "" => return Err(JdbcUrlError::EmptySqlitePath),
        ":memory:" => SqlitePath::Memory,
        file => SqlitePath::File(PathBuf::from(file)),
    };
    let params = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    Ok(StoreTarget::Sqlite { path, params })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Syntax {
    /// pgjdbc: `+` in parameters means space (Java's `URLDecoder`); no host means localhost.
    Jdbc,
    /// libpq URI: `user:password@` allowed, a host is required.
    Native,
}

/// The PostgreSQL target after the scheme; credentials are the URL's own.
fn parse_postgres(rest: &str, syntax: Syntax) -> Result<PostgresTarget, JdbcUrlError> {
    let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
    // `jdbc:postgresql:db` and `jdbc:postgresql:/` have no authority: pgjdbc means localhost.
    let (authority, path) = match main.strip_prefix("//") {
        Some(after) => after.split_at(after.find('/').unwrap_or(after.len())),
        None => ("", main),
    };
    let mut username = None;
    let mut password = None;
    let hosts_text = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) if syntax == Syntax::Native => {
            let (user, pass) = match userinfo.split_once(':') {
                Some((user, pass)) => (user, Some(pass)),
                None => (userinfo, None),
            };
            username = Some(decode(user, false)?).filter(|u| !u.is_empty());
            password = pass
                .map(|p| decode(p, false).map(Zeroizing::new))
                .transpose()?;
            hosts
        }
        Some(_) => return Err(JdbcUrlError::InvalidHost { number: 1 }),
        None => authority,
    };
    let hosts = if hosts_text.is_empty() {
        if syntax == Syntax::Native {
            return Err(JdbcUrlError::NoHost);
        }
        vec![("localhost".to_owned(), DEFAULT_POSTGRES_PORT)]
    } else {
        hosts_text
            .split(',')
            .enumerate()
            .map(|(i, host)| parse_pg_host(host).ok_or(JdbcUrlError::InvalidHost { number: i + 1 }))
            .collect::<Result<Vec<_>, _>>()?
    };
    let database = decode(path.trim_start_matches('/'), false)?;

    // What the URL leaves out keeps these values; the query below may set each.
    let mut postgres = PostgresTarget {
        hosts,
        database: Some(database).filter(|d| !d.is_empty()),
        target: TargetServer::Any,
        connect_timeout: None,
        socket_timeout: None,
        load_balance_hosts: false,
        tls: PostgresTls::default(),
        params: BTreeMap::new(),
        username,
        password,
    };
    let mut tls = TlsParams::default();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let plus_is_space = syntax == Syntax::Jdbc;
        let key = decode(key, plus_is_space)?;
        let value = Zeroizing::new(decode(value, plus_is_space)?);
        match key.as_str() {
            "targetServerType" => postgres.target = JDBC_TARGET.parse(&value)?,
            "target_session_attrs" => postgres.target = LIBPQ_TARGET.parse(&value)?,
            "connectTimeout" | "connect_timeout" => {
                postgres.connect_timeout = seconds(&value, param_name(&key))?;
            }
            "socketTimeout" => postgres.socket_timeout = seconds(&value, "socketTimeout")?,
            "loadBalanceHosts" => postgres.load_balance_hosts = jdbc_bool(&value)?,
            "load_balance_hosts" => postgres.load_balance_hosts = libpq_load_balance(&value)?,
            "user" => postgres.username = Some(value.to_string()).filter(|u| !u.is_empty()),
            "password" => postgres.password = Some(value),
            _ if tls.take(&key, &value)? => {}
            _ => {
                postgres.params.insert(key, value.to_string());
            }
        }
    }
    postgres.tls = tls.resolve(syntax)?;
    Ok(postgres)
}

fn param_name(key: &str) -> &'static str {
    if key == "connectTimeout" {
        "connectTimeout"
    } else {
        "connect_timeout"
    }
}

/// A port a client can connect to: 1–65535.
fn parse_server_port(text: &str) -> Option<u16> {
    parse_port(text).filter(|port| *port != 0)
}

fn parse_pg_host(text: &str) -> Option<(String, u16)> {
    if let Some(bracketed) = text.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        host.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => DEFAULT_POSTGRES_PORT,
            _ => parse_server_port(after.strip_prefix(':')?)?,
        };
        return Some((host.to_owned(), port));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host, parse_server_port(port)?),
        None => (text, DEFAULT_POSTGRES_PORT),
    };
    is_host_name(host).then(|| (host.to_owned(), port))
}

/// pgjdbc's `targetServerType`.
const JDBC_TARGET: TargetParam = TargetParam {
    name: "targetServerType",
    primary: ["primary", "master"],
    secondary: ["secondary", "slave"],
    expected: "any, primary (master) or secondary (slave)",
};

/// libpq's `target_session_attrs`.
const LIBPQ_TARGET: TargetParam = TargetParam {
    name: "target_session_attrs",
    primary: ["read-write", "primary"],
    secondary: ["read-only", "standby"],
    expected: "any, read-write (primary) or read-only (standby)",
};

/// A parameter naming which servers a connection may use: `any`, or one of two spellings
/// each for a primary and a secondary.
struct TargetParam {
    name: &'static str,
    /// The spellings of [`TargetServer::Primary`], lower case.
    primary: [&'static str; 2],
    /// The spellings of [`TargetServer::Secondary`], lower case.
    secondary: [&'static str; 2],
    /// The accepted values, for the error message.
    expected: &'static str,
}

impl TargetParam {
    /// The target `value` names; the `prefer…` targets are refused apart (they cannot
    /// guarantee that writes reach the primary).
    fn parse(&self, value: &str) -> Result<TargetServer, JdbcUrlError> {
        let param = self.name;
        match value.to_ascii_lowercase().as_str() {
            "any" => Ok(TargetServer::Any),
            value if self.primary.contains(&value) => Ok(TargetServer::Primary),
            value if self.secondary.contains(&value) => Ok(TargetServer::Secondary),
            value if value.starts_with("prefer") => Err(JdbcUrlError::PreferTarget { param }),
            _ => Err(JdbcUrlError::InvalidParam {
                param,
                expected: self.expected,
            }),
        }
    }
}

fn seconds(value: &str, param: &'static str) -> Result<Option<Duration>, JdbcUrlError> {
    let secs: u64 = value
        .trim()
        .parse()
        .map_err(|_| JdbcUrlError::InvalidParam {
            param,
            expected: "a whole number of seconds",
        })?;
    // 0 means "no timeout" in both pgjdbc and libpq.
    Ok((secs > 0).then(|| Duration::from_secs(secs)))
}

fn jdbc_bool(value: &str) -> Result<bool, JdbcUrlError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(JdbcUrlError::InvalidParam {
            param: "loadBalanceHosts",
            expected: "true or false",
        }),
    }
}

fn libpq_load_balance(value: &str) -> Result<bool, JdbcUrlError> {
    match value {
        "random" => Ok(true),
        "disable" => Ok(false),
        _ => Err(JdbcUrlError::InvalidParam {
            param: "load_balance_hosts",
            expected: "random or disable",
        }),
    }
}

/// Percent-decodes URL text (and `+` → space when `plus_is_space`, as Java's `URLDecoder`).
fn decode(text: &str, plus_is_space: bool) -> Result<String, JdbcUrlError> {
    let bytes = text.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3).ok_or(JdbcUrlError::InvalidEscape)?;
                let byte = u8::from_str_radix(hex, 16).map_err(|_| JdbcUrlError::InvalidEscape)?;
                out.push(byte);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out.to_vec()).map_err(|_| JdbcUrlError::InvalidEscape)
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

fn redacted_params(params: &BTreeMap<String, String>) -> BTreeMap<&str, &str> {
    params
        .iter()
        .map(|(k, v)| {
            let secret = k.to_ascii_lowercase().contains("password");
            (k.as_str(), if secret { "<redacted>" } else { v.as_str() })
        })
        .collect()
}

/// The URL with any `user:password@` password and any `password=` parameter replaced by
/// `<redacted>`, for `Debug` output and logs.
pub fn redacted_url(url: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((main, query)) => (main, Some(query)),
        None => (url, None),
    };
    let mut out = match main.split_once("//") {
        Some((scheme, rest)) => {
            let end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(end);
            match authority.rsplit_once('@') {
                Some((userinfo, hosts)) => {
                    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                    let hidden = if userinfo.contains(':') {
                        ":<redacted>"
                    } else {
                        ""
                    };
                    format!("{scheme}//{user}{hidden}@{hosts}{path}")
                }
                None => main.to_owned(),
            }
        }
        None => main.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.to_ascii_lowercase().contains("password") => {
                    format!("{k}=<redacted>")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNSUPPORTED: &str = "jdbc.url: Cloister supports jdbc:sqlite:<file> and jdbc:postgresql://host[:port][,host[:port]…]/database URLs (and postgresql://…); H2, HSQL, Oracle and MySQL are not supported";

    fn jdbc(url: &str) -> Jdbc {
        Jdbc {
            url: Some(url.into()),
            ..Jdbc::default()
        }
    }

    fn parse(url: &str) -> Result<StoreTarget, JdbcUrlError> {
        StoreTarget::parse(url, None, None)
    }

    #[test]
    fn sqlite_files_and_memory() {
        assert_eq!(
            parse("jdbc:sqlite:/data/tm/db.db").unwrap(),
            StoreTarget::Sqlite {
                path: SqlitePath::File("/data/tm/db.db".into()),
                params: BTreeMap::new()
            }
        );
        assert_eq!(
            parse("jdbc:sqlite:target/db.db?journal_mode=WAL").unwrap(),
            StoreTarget::Sqlite {
                path: SqlitePath::File("target/db.db".into()),
                params: [("journal_mode".to_owned(), "WAL".to_owned())].into(),
            }
        );
        assert_eq!(
            parse("jdbc:sqlite::memory:").unwrap(),
            StoreTarget::Sqlite {
                path: SqlitePath::Memory,
                params: BTreeMap::new()
            }
        );
        assert_eq!(
            parse("jdbc:sqlite:").unwrap_err(),
            JdbcUrlError::EmptySqlitePath
        );
    }

    /// The PostgreSQL target `url` names, with `jdbc.username`/`jdbc.password` as given.
    fn postgres(url: &str, username: Option<&str>, password: Option<&Secret>) -> PostgresTarget {
        match StoreTarget::parse(url, username, password).unwrap() {
            StoreTarget::Postgres(target) => target,
            other => panic!("postgres expected, got {other:?}"),
        }
    }

    #[test]
    fn multi_host_jdbc_postgres_with_params() {
        let target = postgres(
            "jdbc:postgresql://pg1:5433,pg2,[::1]:6000/tessera?targetServerType=primary&connectTimeout=3&socketTimeout=0&loadBalanceHosts=true&sslmode=require&ApplicationName=tm+1&password=fromurl",
            Some("tessera"),
            None,
        );
        assert_eq!(
            target.hosts,
            vec![
                ("pg1".to_owned(), 5433),
                ("pg2".to_owned(), 5432),
                ("::1".to_owned(), 6000)
            ]
        );
        assert_eq!(target.database.as_deref(), Some("tessera"));
        assert_eq!(target.target, TargetServer::Primary);
        assert_eq!(target.connect_timeout, Some(Duration::from_secs(3)));
        assert_eq!(target.socket_timeout, None);
        assert!(target.load_balance_hosts);
        let param = |name: &str| target.params.get(name).map(String::as_str);
        assert_eq!(target.tls.mode, SslMode::Require);
        assert_eq!(target.tls.server_check, ServerCheck::Nothing);
        assert_eq!(param("ApplicationName"), Some("tm 1"));
        assert_eq!(target.username.as_deref(), Some("tessera"));
        assert_eq!(
            target.password.as_deref().map(String::as_str),
            Some("fromurl")
        );
    }

    #[test]
    fn aliases_and_config_credentials_win() {
        let password = Zeroizing::new("fromconfig".to_owned());
        let target = postgres(
            "jdbc:postgresql://h/db?targetServerType=slave&user=u&password=p",
            Some("cfg"),
            Some(&password),
        );
        assert_eq!(target.target, TargetServer::Secondary);
        assert_eq!(target.username.as_deref(), Some("cfg"));
        assert_eq!(
            target.password.as_deref().map(String::as_str),
            Some("fromconfig")
        );
        let empty = Zeroizing::new(String::new());
        let target = postgres(
            "jdbc:postgresql://h/db?user=u&password=p",
            Some(""),
            Some(&empty),
        );
        assert_eq!(target.username.as_deref(), Some("u"));
        assert_eq!(target.password.as_deref().map(String::as_str), Some("p"));
        let target = postgres(
            "jdbc:postgresql:tessera?targetServerType=master",
            None,
            None,
        );
        assert_eq!(target.target, TargetServer::Primary);
        assert_eq!(target.hosts, vec![("localhost".to_owned(), 5432)]);
        assert_eq!(target.database.as_deref(), Some("tessera"));
    }

    #[test]
    fn native_postgres_urls() {
        let target = postgres(
            "postgresql://tm:p%40ss@h1:5432,h2:5433/tessera?target_session_attrs=read-write&connect_timeout=2&load_balance_hosts=random",
            None,
            None,
        );
        assert_eq!(
            target.hosts,
            vec![("h1".to_owned(), 5432), ("h2".to_owned(), 5433)]
        );
        assert_eq!(target.database.as_deref(), Some("tessera"));
        assert_eq!(target.target, TargetServer::Primary);
        assert_eq!(target.connect_timeout, Some(Duration::from_secs(2)));
        assert!(target.load_balance_hosts);
        assert_eq!(target.username.as_deref(), Some("tm"));
        assert_eq!(target.password.as_deref().map(String::as_str), Some("p@ss"));
        assert!(matches!(
            parse("postgres://db.local/x").unwrap(),
            StoreTarget::Postgres(_)
        ));
        assert_eq!(
            parse("postgresql:///tessera").unwrap_err(),
            JdbcUrlError::NoHost
        );
    }

    #[test]
    fn prefer_secondary_and_bad_params_are_refused_clearly() {
        let err = jdbc("jdbc:postgresql://h1,h2/db?targetServerType=preferSecondary")
            .store_target()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "jdbc.url: targetServerType=prefer… is not supported: Cloister connects only to a primary, only to a secondary, or to any server (use primary, secondary or any)"
        );
        assert!(matches!(
            parse("postgresql://h/db?target_session_attrs=prefer-standby").unwrap_err(),
            JdbcUrlError::PreferTarget {
                param: "target_session_attrs"
            }
        ));
        assert_eq!(
            jdbc("jdbc:postgresql://h/db?targetServerType=leader")
                .store_target()
                .unwrap_err()
                .to_string(),
            "jdbc.url: targetServerType must be any, primary (master) or secondary (slave)"
        );
        assert_eq!(
            parse("jdbc:postgresql://h1,h2:0/db").unwrap_err(),
            JdbcUrlError::InvalidHost { number: 2 }
        );
        assert_eq!(
            parse("jdbc:postgresql://h/db?connectTimeout=soon")
                .unwrap_err()
                .to_string(),
            "connectTimeout must be a whole number of seconds"
        );
        assert_eq!(
            parse("postgresql://u:%zz@h/db").unwrap_err(),
            JdbcUrlError::InvalidEscape
        );
    }

    #[test]
    fn every_other_database_gets_one_sentence() {
        for url in [
            "jdbc:h2:/data/tm/db;MODE=Oracle;TRACE_LEVEL_SYSTEM_OUT=0",
            "jdbc:hsqldb:file:/data/tm/db",
            "jdbc:oracle:thin:@localhost:1521:xe",
            "jdbc:mysql://localhost:3306/tessera",
            "mysql://h/db",
            "postgresql:db",
            "nonsense",
        ] {
            assert_eq!(
                jdbc(url).store_target().unwrap_err().to_string(),
                UNSUPPORTED,
                "{url}"
            );
        }
        assert_eq!(
            Jdbc::default().store_target().unwrap_err().to_string(),
            "jdbc.url: required"
        );
    }

    #[test]
    fn passwords_never_print() {
        let config = Jdbc {
            username: Some("tm".into()),
            password: Some(Zeroizing::new("hunter2".into())),
            url: Some("postgresql://tm:urlsecret@h/db?sslmode=require&password=qsecret".into()),
            ..Jdbc::default()
        };
        let debug = format!("{config:?}");
        for secret in ["hunter2", "urlsecret", "qsecret"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(
            debug.contains("postgresql://tm:<redacted>@h/db?sslmode=require&password=<redacted>")
        );
        let target = format!("{:?}", config.store_target().unwrap());
        assert!(
            !target.contains("hunter2") && !target.contains("qsecret"),
            "{target}"
        );
        let err = jdbc("jdbc:mysql://root:hunter2@h/db")
            .store_target()
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"));
    }

    #[test]
    fn encrypted_passwords_are_recognised() {
        let config = Jdbc {
            password: Some(Zeroizing::new("ENC(abc)".into())),
            ..Jdbc::default()
        };
        assert!(config.password_is_encrypted());
        assert!(!Jdbc::default().password_is_encrypted());
    }
}
