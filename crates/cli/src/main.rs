//! `cloister`: the command-line entry point that wires Cloister's crates together.

mod demo;
mod doctor;
mod gateway;
mod keygen;
mod keyupdate;
mod logging;
mod migrate;
mod node;
mod pidfile;
mod proxy;
mod shutdown;
mod tessera_args;

use clap::{Parser, Subcommand};

/// High-availability private transactions for GoQuorum.
#[derive(Debug, Parser)]
#[command(name = "cloister", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as text (default) or as one JSON object per line, for log shippers.
    #[arg(long, global = true, value_enum, default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a real HA party and a counter-party here, drive GoQuorum-shaped traffic through
    /// faults, show it live, and check that nothing acknowledged was lost.
    Demo(demo::DemoArgs),
    /// Check one party's HA topology from its pieces' configs, then live: a checklist with a
    /// fix for every failure; exit 0 only when all pass.
    Doctor(doctor::DoctorArgs),
    /// Copy a Tessera database (H2, SQLite or PostgreSQL) into SQLite or PostgreSQL,
    /// resumably, and verify the copy table by table.
    Migrate(migrate::MigrateArgs),
    /// Run the JSON-RPC gateway in front of a group of GoQuorum nodes.
    Gateway(gateway::GatewayArgs),
    /// Generate key pairs as Tessera's `-keygen` does: PATH.pub and PATH.key.
    Keygen(keygen::KeygenArgs),
    /// Change a private key file's password (and Argon2 options) in place, as Tessera's
    /// `keyupdate` / `-updatepassword` does.
    Keyupdate(keyupdate::KeyupdateArgs),
    /// Run a privacy manager (Tessera-compatible) from a Tessera config file.
    Node(node::NodeArgs),
    /// Run the Q2T / P2P proxy in front of a party's privacy-manager replicas.
    Proxy(proxy::ProxyArgs),
    /// Print the version, as Tessera's `version` does.
    Version,
}

fn main() -> std::process::ExitCode {
    // Parsed first: the log format is an argument. clap's own errors go to stderr as text.
    let cli = Cli::parse_from(tessera_args::normalize(std::env::args_os()));
    logging::init(cli.log_format);
    // Connection bounds, not the kernel's default soft limit (often 1024), decide what a flood
    // of connections costs a server.
    match cloister_net::raise_open_file_limit() {
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(error) => tracing::warn!(%error, "could not raise the open-file limit"),
    }
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args),
        Command::Doctor(args) => doctor::run(&args),
        Command::Migrate(args) => migrate::run(&args),
        Command::Gateway(args) => gateway::run(&args),
        Command::Keygen(args) => keygen::run(&args).map(|()| 0),
        Command::Keyupdate(args) => keyupdate::run(&args).map(|()| 0),
        Command::Node(args) => node::run(&args),
        Command::Proxy(args) => proxy::run(&args),
        Command::Version => {
            println!("{}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
    };
    match result {
        Ok(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(error) => {
            match cli.log_format {
                // A log shipper reads stderr line by line as JSON: the reason is one more line.
                logging::LogFormat::Json => {
                    tracing::error!(error = %format!("{error:#}"), "exiting");
                }
                logging::LogFormat::Text => eprintln!("error: {error:#}"),
            }
            std::process::ExitCode::FAILURE
        }
    }
}
