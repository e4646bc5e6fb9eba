//! How to reach a PostgreSQL store: hosts, credentials, timeouts, from `jdbc.url` or by hand.

use std::time::Duration;

use cloister_core::config::jdbc::PostgresTls;
use cloister_core::config::{StoreTarget, TargetServer};
use zeroize::Zeroizing;

use crate::StoreError;

/// The per-host connection timeout when the URL gives none (`connectTimeout`): long enough
/// for a TLS-less handshake across a data centre, short enough that a hung first host delays
/// failover to the next by no more than this.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The per-statement timeout when the URL gives none (`socketTimeout`): a hung primary is
/// detected after this long instead of being waited on forever.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// How to open a PostgreSQL store.
#[derive(Clone)]
pub struct PostgresOptions {
    /// Hosts and ports in the order to try them.
    pub hosts: Vec<(String, u16)>,
    /// The database; `None` means the server default (the user name).
    pub database: Option<String>,
    /// The user; `None` means `postgres`.
    pub username: Option<String>,
    /// The password, if the server asks for one.
    pub password: Option<Zeroizing<String>>,
    /// Which servers to accept: with [`TargetServer::Primary`] only one that allows writes.
    pub target: TargetServer,
    /// Try the hosts in random order instead of as listed.
    pub load_balance_hosts: bool,
    /// How long one whole connection attempt to one host may take (TCP, startup,
    /// authentication and the read-write check) before the next host is tried.
    pub connect_timeout: Duration,
    /// How long one statement (including taking a pooled connection's turn) may take; a
    /// connection that exceeds it is discarded, never reused.
    pub statement_timeout: Duration,
    /// The most connections the pool keeps open.
    pub pool_size: usize,
    /// Create missing tables and indexes (Tessera's `jdbc.autoCreateTables`).
    pub auto_create_tables: bool,
    /// `application_name` shown in `pg_stat_activity`.
    pub application_name: String,
    /// How connections use TLS (`sslmode` and the certificate files).
    pub tls: PostgresTls,
}

impl std::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("hosts", &self.hosts)
            .field("database", &self.database)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("target", &self.target)
            .field("load_balance_hosts", &self.load_balance_hosts)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("pool_size", &self.pool_size)
            .field("auto_create_tables", &self.auto_create_tables)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            hosts: vec![(
                "localhost".into(),
                cloister_core::config::jdbc::DEFAULT_POSTGRES_PORT,
            )],
            database: None,
            username: None,
            password: None,
            target: TargetServer::Primary,
            load_balance_hosts: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            pool_size: 16,
            auto_create_tables: false,
            application_name: "cloister".into(),
            tls: PostgresTls::default(),
        }
    }
}

impl PostgresOptions {
    /// The options a parsed `jdbc.url` asks for. `connectTimeout`/`socketTimeout` of 0 or
    /// absent mean the defaults above: Cloister never waits without a bound.
    ///
    /// Fails for a target this backend cannot serve (SQLite). The TLS parameters were
    /// checked when the URL was parsed; their files are read when the store connects.
    pub fn from_target(target: &StoreTarget, auto_create_tables: bool) -> Result<Self, StoreError> {
        let StoreTarget::Postgres(postgres) = target else {
            return Err(StoreError::Backend("not a PostgreSQL URL".into()));
        };
        let application_name = postgres
            .params
            .get("ApplicationName")
            .or_else(|| postgres.params.get("application_name"))
            .cloned()
            .unwrap_or_else(|| "cloister".into());
        Ok(Self {
            hosts: postgres.hosts.clone(),
            database: postgres.database.clone(),
            username: postgres.username.clone(),
            password: postgres.password.clone(),
            target: postgres.target,
            load_balance_hosts: postgres.load_balance_hosts,
            connect_timeout: postgres.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            statement_timeout: postgres.socket_timeout.unwrap_or(DEFAULT_STATEMENT_TIMEOUT),
            auto_create_tables,
            application_name,
            tls: postgres.tls.clone(),
            ..Self::default()
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use cloister_core::config::jdbc::SslMode;

    use super::*;

    fn parse(url: &str) -> Result<PostgresOptions, StoreError> {
        PostgresOptions::from_target(&StoreTarget::parse(url, None, None).unwrap(), true)
    }

    #[test]
    fn jdbc_url_fields_and_defaults() {
        let options = parse(
            "jdbc:postgresql://h1:5433,h2/tessera?targetServerType=primary&connectTimeout=3&loadBalanceHosts=true&ApplicationName=tm1&user=u&password=p",
        )
        .unwrap();
        assert_eq!(
            options.hosts,
            vec![("h1".to_owned(), 5433), ("h2".to_owned(), 5432)]
        );
        assert_eq!(options.database.as_deref(), Some("tessera"));
        assert_eq!(options.target, TargetServer::Primary);
        assert_eq!(options.connect_timeout, Duration::from_secs(3));
        // socketTimeout absent (or 0): bounded anyway.
        assert_eq!(options.statement_timeout, DEFAULT_STATEMENT_TIMEOUT);
        assert!(options.load_balance_hosts);
        assert_eq!(options.application_name, "tm1");
        assert_eq!(options.username.as_deref(), Some("u"));
        assert!(options.auto_create_tables);
        assert!(
            !format!("{options:?}").contains("\"p\""),
            "password redacted"
        );
    }

    #[test]
    fn tls_modes_are_carried_and_sqlite_is_refused() {
        for (url, mode) in [
            ("postgresql://h/db?sslmode=require", SslMode::Require),
            ("postgresql://h/db?sslmode=verify-full", SslMode::VerifyFull),
            ("jdbc:postgresql://h/db?ssl=true", SslMode::VerifyFull),
            ("postgresql://h/db?sslmode=disable", SslMode::Disable),
            ("postgresql://h/db", SslMode::Prefer),
        ] {
            assert_eq!(parse(url).unwrap().tls.mode, mode, "{url}");
        }
        assert!(parse("jdbc:sqlite:/tmp/x.db").is_err());
    }
}
