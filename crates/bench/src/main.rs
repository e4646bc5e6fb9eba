//! `cloister-bench`: see the library documentation and `docs/benchmarks.md`.

use std::process::ExitCode;

use clap::Parser;
use cloister_bench::settings::Command;
use cloister_bench::Settings;

fn main() -> ExitCode {
    let settings = Settings::parse();
    // Without --cloister the harness finds `cloister` beside this executable (or one directory
    // up), which is where `cargo build --release -p cloister-cli` puts it for a release bench.
    if let Some(path) = &settings.cloister {
        if !path.exists() {
            eprintln!("error: no cloister binary at {}", path.display());
            return ExitCode::FAILURE;
        }
        cloister_harness::nodes::use_binary(path);
    }
    let mut stdout = std::io::stdout().lock();
    if let Some(Command::HaStore(ha)) = &settings.command {
        return match cloister_bench::ha_store::run(ha, &mut stdout) {
            Ok(report) if report.meets_goals() => ExitCode::SUCCESS,
            Ok(_) => {
                eprintln!("error: a failover run missed its goals (see the table above)");
                ExitCode::FAILURE
            }
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Proxy(proxy)) = &settings.command {
        return match cloister_bench::proxy::run(proxy, &mut stdout) {
            Ok(report) if report.cloister_survives_kill() => ExitCode::SUCCESS,
            Ok(_) => {
                eprintln!("error: cloister proxy lost requests to a SIGKILL (see the table above)");
                ExitCode::FAILURE
            }
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::P2pTls(tls)) = &settings.command {
        return match cloister_bench::p2p_tls::run(tls, &mut stdout) {
            Ok(report) if report.errors() == 0 => ExitCode::SUCCESS,
            Ok(_) => {
                eprintln!("error: sends or handshakes failed (see the tables above)");
                ExitCode::FAILURE
            }
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Patroni(patroni)) = &settings.command {
        return match cloister_bench::patroni::run(patroni, &mut stdout) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Recovery(recovery)) = &settings.command {
        return match cloister_bench::recovery::run(recovery, &mut stdout) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Startup(startup)) = &settings.command {
        return match cloister_bench::startup::run(startup, &mut stdout) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Migrate(migrate)) = &settings.command {
        return match cloister_bench::migrate::run(migrate, &mut stdout) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Hostile(hostile)) = &settings.command {
        return match cloister_bench::hostile::run(hostile, &mut stdout) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Fanout(fanout)) = &settings.command {
        return match cloister_bench::fanout::run(fanout, &mut stdout) {
            Ok(rows) if rows.iter().all(|r| r.one.errors + r.five.errors == 0) => ExitCode::SUCCESS,
            Ok(_) => {
                eprintln!("error: some sends failed (see the table above)");
                ExitCode::FAILURE
            }
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Payloads(payloads)) = &settings.command {
        return match cloister_bench::payloads::run(payloads, &mut stdout) {
            Ok(cells) if cells.iter().all(|c| c.send.errors + c.get.errors == 0) => {
                ExitCode::SUCCESS
            }
            Ok(_) => {
                eprintln!("error: some requests failed (see the table above)");
                ExitCode::FAILURE
            }
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Gateway(gateway)) = &settings.command {
        return match cloister_bench::gateway::run(gateway, &mut stdout) {
            Ok(report) if report.steady_is_clean() => ExitCode::SUCCESS,
            Ok(_) => {
                eprintln!("error: some steady-state calls failed (see the errors above)");
                ExitCode::FAILURE
            }
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    match cloister_bench::run(&settings, &mut stdout) {
        Ok(report) if report.levels.iter().all(|l| l.errors == 0) => ExitCode::SUCCESS,
        Ok(_) => {
            eprintln!("error: some requests failed (see the errors column)");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
