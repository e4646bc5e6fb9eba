//! The host walker: our own connector for the pool, because tokio-postgres' multi-host
//! connect cannot fail over from a host that accepts TCP and then never answers.
//!
//! tokio-postgres' `connect_timeout` bounds only the TCP `connect()`; the startup,
//! authentication and `SHOW transaction_read_only` exchanges that follow have no bound, so a
//! hung (frozen, not dead) first host stalls every new connection forever (spec §1.4). Here each
//! host gets a single-host config and the *whole* attempt runs under `tokio::time::timeout`;
//! when it expires the next host is tried, as libpq's `connect_timeout` does.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use cloister_core::config::TargetServer;
use deadpool_postgres::Connect;
use tokio::task::JoinHandle;
use tokio_postgres::config::TargetSessionAttrs;
use tokio_postgres::{Client, Config, NoTls};

use super::error::describe;
use super::options::PostgresOptions;

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
    last_failure: LastFailure,
}

impl HostWalker {
    /// A walker over `options.hosts`; `last_failure` receives each failed walk's summary.
    pub(super) fn new(options: &PostgresOptions, last_failure: LastFailure) -> Self {
        Self {
            hosts: options.hosts.clone(),
            base: base_config(options),
            per_host: options.connect_timeout,
            shuffle: options.load_balance_hosts,
            last_failure,
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
            let mut config = self.base.clone();
            config.host(host).port(*port);
            match tokio::time::timeout(self.per_host, config.connect(NoTls)).await {
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
                Ok(Err(error)) => {
                    let why = describe(&error);
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
        let walker = HostWalker::new(&options, LastFailure::default());
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
