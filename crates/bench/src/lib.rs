//! `cloister-bench`: an end-to-end load driver for Cloister.
//!
//! It starts real `cloister node` processes on loopback with the harness (sender A and
//! recipients B…F, each with a durable SQLite store), then drives A the way GoQuorum does:
//! GoQuorum-shaped JSON over A's Q2T unix socket, one keep-alive HTTP/1.1 connection per
//! worker, workers sending back to back. For each scenario and concurrency level it reports
//! throughput, p50/p99/max latency and the CPU each process spent per request, then every
//! node's peak RSS, against the goals of the node issue.
//!
//! - [`settings`]: the command line.
//! - [`cluster`]: starting the nodes and waiting for discovery.
//! - [`scenario`]: the scenarios and the requests they make.
//! - [`client`]: one keep-alive connection to a unix socket.
//! - [`load`]: the core loop, N workers until a budget is spent.
//! - [`latency`]: samples and percentiles.
//! - [`server_time`]: time inside the nodes' handlers, from their metrics.
//! - [`report`]: the table and the goals.
//! - [`driver`]: a whole run.
//! - [`gateway`]: the gateway benchmark (`cloister-bench gateway`): JSON-RPC calls direct to a
//!   ganache node vs through `cloister gateway`, nginx and HAProxy, steady and with the primary
//!   node killed or hung.
//! - [`fanout`]: A's CPU per `/send` to five recipient nodes against one (`cloister-bench
//!   fanout`).
//! - [`ha_store`]: the HA store benchmark (`cloister-bench ha-store`): `/send` on SQLite vs
//!   PostgreSQL with a synchronous standby, and the failover gap over several runs.
//! - [`hostile`]: the hostile-peer attacks (`cloister-bench hostile`), each against a real node,
//!   with what it cost the node; the hostile-peer tests run them too.
//! - [`p2p_tls`]: the P2P TLS benchmark (`cloister-bench p2p-tls`): `/send` A→B with P2P over
//!   mutual TLS vs plain HTTP, and the TLS P2P listener's handshake rate.
//! - [`payloads`]: `/send` and reads of big payloads against the machine's own floor, and peak
//!   RSS (`cloister-bench payloads`).
//! - [`proxy`]: the proxy benchmark (`cloister-bench proxy`): two replicas direct, behind nginx
//!   and behind `cloister proxy`, steady and under a replica SIGKILL and SIGSTOP.

pub mod client;
pub mod cluster;
pub mod driver;
pub mod fanout;
pub mod fault_run;
mod front_process;
pub mod gateway;
pub mod ha_store;
pub mod hostile;
pub mod latency;
pub mod load;
pub mod migrate;
pub mod p2p_tls;
pub mod patroni;
pub mod payloads;
pub mod proxy;
pub mod recovery;
pub mod relay;
pub mod report;
pub mod scenario;
pub mod server_time;
pub mod settings;
pub mod startup;

pub use driver::run;
pub use settings::Settings;
