//! The host walker: our own connector for the pool, because tokio-postgres' multi-host
//! connect cannot fail over from a host that accepts TCP and then never answers.
//!
//! tokio-postgres' `connect_timeout` bounds only the TCP `connect()`; the startup,
//! authentication and `SHOW transaction_read_only` exchanges that follow have no bound, so a
//! hung (frozen, not dead) first host stalls every new connection forever (spec §1.4). Here each
//! host gets a single-host config and the *whole* attempt runs under `tokio::time::timeout`;
//! when it expires the next host is tried, as libpq's `connect_timeout` does.
//!
//! TLS is part of that one attempt: TCP, the TLS request and handshake, authentication and
//! the read-write check, plus the second try that `allow` and `prefer` make in the other
//! mode, all fit in the per-host timeout. A mode that requires TLS never continues in plain
//! text; `prefer` and `allow` may, and say so in the log.

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::future::Future;
use std::hash::BuildHasher as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cloister_core::config::jdbc::SslMode;
use cloister_core::config::TargetServer;
use deadpool_postgres::Connect;
use tokio::task::JoinHandle;
use tokio_postgres::config::{SslMode as Negotiation, TargetSessionAttrs};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, Connection, Socket};

use super::error::describe;
use super::options::PostgresOptions;
use super::tls::{ClientTls, PgTlsStream, Progress, TlsSetupError};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the last walk over the hosts found no usable one, host by host. The pool only carries
/// a `tokio_postgres::Error`, which cannot say "host 1 timed out, host 2 is read-only"; the
/// store reads this instead when a checkout fails.
#[derive(Debug, Clone, Default)]
pub(super) struct LastFailure(Arc<Mutex<Option<String>>>);

impl LastFailure {
    pub(super) fn get(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, value: Option<String>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = value;
    }
}

/// Connects to the first acceptable host, each attempt bounded as a whole.
pub(super) struct HostWalker {
    hosts: Vec<(String, u16)>,
    base: Config,
    per_host: Duration,
    shuffle: bool,
    tls: ClientTls,
    last_failure: LastFailure,
    /// Hosts already reported at info level as reached in plain text under `prefer` or
    /// `allow`: once per host is news, on every pooled connection it would be noise.
    told_plain: Mutex<HashSet<(String, u16)>>,
}

/// A connection as the pool holds it: every one can be TLS, whatever its mode.
type Connected = (Client, Connection<Socket, PgTlsStream>);

/// One failed try at one host: tokio-postgres' error (what the pool carries) and the
/// sentence that says why (what the operator reads).
struct Refused {
    error: tokio_postgres::Error,
    why: String,
    /// The handshake started and failed (`prefer` then tries plain text, as libpq does).
    handshake_failed: bool,
}

impl Refused {
    /// The server turned the login away with SQLSTATE 28000 (no `pg_hba.conf` line for this
    /// kind of connection): what pgjdbc answers by trying the other kind under `allow` and
    /// `prefer`.
    fn by_hba(&self) -> bool {
        self.error.code() == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
    }
}

impl HostWalker {
    /// A walker over `options.hosts`; `last_failure` receives each failed walk's summary.
    /// Reads the TLS files the options name, and fails naming the one it cannot use.
    pub(super) fn new(
        options: &PostgresOptions,
        last_failure: LastFailure,
    ) -> Result<Self, TlsSetupError> {
        Ok(Self::with_tls(
            options,
            ClientTls::load(&options.tls)?,
            last_failure,
        ))
    }

    /// A walker with TLS already set up (tests set it up with their own default files).
    fn with_tls(options: &PostgresOptions, tls: ClientTls, last_failure: LastFailure) -> Self {
        Self {
            hosts: options.hosts.clone(),
            base: base_config(options),
            per_host: options.connect_timeout,
            shuffle: options.load_balance_hosts,
            tls,
            last_failure,
            told_plain: Mutex::default(),
        }
    }

    /// The settings every host shares (what the pool reports as its config).
    pub(super) fn config(&self) -> Config {
        self.base.clone()
    }

    /// Tries each host once, in order (or shuffled), and returns the first connection that
    /// completes its whole handshake, including the read-write check, within the per-host
    /// timeout.
    pub(super) async fn walk(&self) -> Result<(Client, JoinHandle<()>), tokio_postgres::Error> {
        let mut order: Vec<&(String, u16)> = self.hosts.iter().collect();
        if self.shuffle {
            shuffle(&mut order);
        }
        let mut failures = Vec::new();
        let mut last_error = None;
        for (host, port) in order {
            match tokio::time::timeout(self.per_host, self.attempt(host, *port)).await {
                Ok(Ok((client, connection))) => {
                    let task = tokio::spawn(async move {
                        if let Err(error) = connection.await {
                            tracing::debug!(%error, "PostgreSQL connection ended");
                        }
                    });
                    tracing::debug!(host, port, "connected to PostgreSQL");
                    self.last_failure.set(None);
                    return Ok((client, task));
                }
                Ok(Err(Refused { error, why, .. })) => {
                    tracing::warn!(host, port, error = %why, "PostgreSQL host refused");
                    failures.push(format!("{host}:{port}: {why}"));
                    last_error = Some(error);
                }
                Err(_) => {
                    tracing::warn!(host, port, timeout = ?self.per_host, "PostgreSQL host did not answer");
                    failures.push(format!(
                        "{host}:{port}: no answer within {:?}",
                        self.per_host
                    ));
                    last_error = None;
                }
            }
        }
        self.last_failure.set(Some(failures.join("; ")));
        // The pool's error type is tokio-postgres'; a timeout has no public constructor other
        // than this one (the one the `postgres` crate uses). The text that reaches users comes
        // from `LastFailure`.
        Err(last_error.unwrap_or_else(tokio_postgres::Error::__private_api_timeout))
    }

    /// Everything one host gets, under `sslmode`'s rules: one try, or for `allow` and
    /// `prefer` a second one in the other mode when the first is refused in the ways the
    /// drivers retry.
    async fn attempt(&self, host: &str, port: u16) -> Result<Connected, Refused> {
        let mut config = self.base.clone();
        config.host(host).port(port);
        match self.tls.mode() {
            SslMode::Disable => self.once(&config, Negotiation::Disable).await,
            SslMode::Allow => match self.once(&config, Negotiation::Disable).await {
                Err(refused) if refused.by_hba() => {
                    let connected = self.once(&config, Negotiation::Require).await?;
                    tracing::info!(
                        host,
                        port,
                        "PostgreSQL refused a plain-text login, so this connection uses TLS (sslmode=allow)"
                    );
                    Ok(connected)
                }
                plain => {
                    if plain.is_ok() {
                        self.tell_plain(host, port, "sslmode=allow tries plain text first");
                    }
                    plain
                }
            },
            SslMode::Prefer => {
                let tls = self.tls.attempt();
                match self.once_with(&config, Negotiation::Prefer, &tls).await {
                    Ok(connected) => {
                        if !matches!(tls.progress(), Progress::Encrypted) {
                            self.tell_plain(host, port, "the server does not accept TLS");
                        }
                        Ok(connected)
                    }
                    // libpq tries plain text after a failed handshake, pgjdbc after a
                    // pg_hba refusal of the TLS login; prefer promises no more than that.
                    Err(refused) if refused.handshake_failed || refused.by_hba() => {
                        let connected = self.once(&config, Negotiation::Disable).await?;
                        self.tell_plain(host, port, &refused.why);
                        Ok(connected)
                    }
                    Err(refused) => Err(refused),
                }
            }
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                self.once(&config, Negotiation::Require).await
            }
        }
    }

    async fn once(&self, config: &Config, negotiation: Negotiation) -> Result<Connected, Refused> {
        self.once_with(config, negotiation, &self.tls.attempt())
            .await
    }

    /// One TCP connection, TLS as `negotiation` says, login and read-write check; on failure,
    /// the sentence that says why, from how far the attempt got rather than error text.
    async fn once_with(
        &self,
        config: &Config,
        negotiation: Negotiation,
        tls: &super::tls::AttemptTls,
    ) -> Result<Connected, Refused> {
        let mut config = config.clone();
        config.ssl_mode(negotiation);
        let error = match config.connect(tls.clone()).await {
            Ok(connected) => return Ok(connected),
            Err(error) => error,
        };
        let progress = tls.progress();
        let handshake_failed = matches!(progress, Progress::Failed(_));
        let why = match progress {
            Progress::Failed(failure) => failure.to_string(),
            // TCP connected, the TLS request answered without I/O failure, and no handshake
            // started: the server said no to TLS. (`allow`'s TLS retry gets tokio-postgres'
            // own words: the mode does continue in plain text, the server refused that.)
            Progress::Connected
                if negotiation == Negotiation::Require
                    && self.tls.mode().requires_tls()
                    && !is_io(&error) =>
            {
                format!(
                    "the server does not accept TLS (ssl = off), and sslmode={} never continues in plain text",
                    self.tls.mode()
                )
            }
            _ => describe(&error),
        };
        Err(Refused {
            error,
            why,
            handshake_failed,
        })
    }

    /// Logs that `host` was reached in plain text: at info the first time, then at debug.
    fn tell_plain(&self, host: &str, port: u16, why: &str) {
        let first = self
            .told_plain
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((host.to_owned(), port));
        if first {
            tracing::info!(host, port, why, mode = %self.tls.mode(), "PostgreSQL connection in plain text, as the sslmode allows");
        } else {
            tracing::debug!(host, port, why, "PostgreSQL connection in plain text");
        }
    }
}

/// Whether tokio-postgres' `error` came from the socket (its source is an `io::Error`)
/// rather than from the protocol.
fn is_io(error: &tokio_postgres::Error) -> bool {
    std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>())
}

impl Connect for HostWalker {
    fn connect(
        &self,
        _pool_config: &Config,
    ) -> BoxFuture<'_, Result<(Client, JoinHandle<()>), tokio_postgres::Error>> {
        Box::pin(self.walk())
    }
}

fn base_config(options: &PostgresOptions) -> Config {
    let mut config = Config::new();
    config
        .user(options.username.as_deref().unwrap_or("postgres"))
        .application_name(&options.application_name)
        .target_session_attrs(match options.target {
            // libpq's read-write semantics: the server must say `transaction_read_only = off`.
            TargetServer::Primary => TargetSessionAttrs::ReadWrite,
            TargetServer::Secondary => TargetSessionAttrs::ReadOnly,
            TargetServer::Any => TargetSessionAttrs::Any,
        })
        // Bounds the TCP connect inside the whole-attempt timeout, so a blackholed address
        // does not keep a half-open socket around after the walker moved on.
        .connect_timeout(options.connect_timeout)
        // Keepalives and the user timeout catch a peer that vanished from the network (no
        // RST ever comes); they cannot catch a host that is up but hung, whose kernel still
        // ACKs: the statement timeout does that.
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(2))
        .keepalives_retries(3)
        .tcp_user_timeout(options.statement_timeout.max(Duration::from_secs(1)))
        // The server's own deadline: a statement this client gave up on (its deadline passed,
        // the connection was dropped) is cancelled there too instead of running on, holding
        // locks the next primary-side writer waits for.
        .options(format!(
            "-c statement_timeout={}",
            options.statement_timeout.as_millis().max(1)
        ));
    if let Some(database) = &options.database {
        config.dbname(database);
    }
    if let Some(password) = &options.password {
        config.password(password.as_bytes());
    }
    config
}

/// Fisher–Yates with the standard library's per-process random hash keys as the randomness:
/// spreading replicas over hosts needs no more than that.
fn shuffle<T>(items: &mut [T]) {
    let state = RandomState::new();
    for i in (1..items.len()).rev() {
        let j = (state.hash_one(i) % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tls_tests;

#[cfg(test)]
mod tests {
    use cloister_harness::postgres::{PgCluster, PASSWORD, SUPERUSER};
    use tokio_postgres::error::SqlState;
    use zeroize::Zeroizing;

    use super::*;

    /// The deadline holds on the server, not just in this client: a statement run on a walked
    /// connection with no client-side timeout at all is cancelled by PostgreSQL itself.
    #[tokio::test]
    async fn the_server_cancels_a_statement_past_the_statement_timeout() {
        let cluster = tokio::task::spawn_blocking(PgCluster::single)
            .await
            .unwrap();
        let options = PostgresOptions {
            hosts: cluster.hosts(),
            database: Some("postgres".into()),
            username: Some(SUPERUSER.into()),
            password: Some(Zeroizing::new(PASSWORD.into())),
            statement_timeout: Duration::from_millis(300),
            ..PostgresOptions::default()
        };
        let walker = HostWalker::new(&options, LastFailure::default()).unwrap();
        let (client, _connection) = walker.walk().await.unwrap();
        let shown: String = client
            .query_one("SHOW statement_timeout", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(shown, "300ms");
        let error = client.simple_query("SELECT pg_sleep(5)").await.unwrap_err();
        assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED), "{error}");
    }
}
