//! `cloister-bench payloads`: `/send` A→B and `GET /transaction/{hash}` on A with big payloads,
//! against the machine's own floor for each size, measured in the same run.
//!
//! - The floor for N bytes is what the unavoidable work costs here: SHA3-512 over N bytes,
//!   an XSalsa20Poly1305 seal of N bytes (both with `cloister-core`, as the node does them)
//!   and one copy of N bytes over a loopback TCP connection. Its rate is N over the sum of
//!   the three times.
//! - The goals (tracker issue 17): each operation's throughput within 2× of the floor, and
//!   the peak RSS of A and of B under 64 MiB + 4 × payload × concurrency. The peak is reset
//!   (`/proc/<pid>/clear_refs`) before each cell, so each cell's peak is its own.
//! - Cells (size × concurrency, then the floor) run in rotating rounds and their totals are
//!   summed over the rounds. Each send carries the same plaintext (built once, so the driver
//!   does not spend its time making random megabytes); every send still encrypts it under a
//!   fresh key and nonce, so every transaction is new.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use clap::Args;
use cloister_addr::Endpoint;
use cloister_core::digest::PayloadDigest;
use cloister_core::nacl::{self, Nonce, SymmetricKey};
use cloister_harness::procfs::Memory;
use rand_core::{OsRng, RngCore};

use crate::client::Call;
use crate::cluster::Cluster;
use crate::load::{check_levels, client_runtime, run_level, Budget, Check, Outcome};
use crate::report::LoadBefore;
use crate::scenario::Requests;

/// Throughput goal: at least the floor's rate divided by this.
pub const FLOOR_GOAL_FACTOR: f64 = 2.0;
/// Peak RSS goal: this many KiB (64 MiB)...
pub const RSS_BASE_KIB: u64 = 64 * 1024;
/// ...plus this many times payload × concurrency.
pub const RSS_PER_PAYLOAD: u64 = 4;

/// The big-payload benchmark's command line.
#[derive(Debug, Clone, Args)]
pub struct PayloadsBench {
    /// Payload sizes in bytes.
    #[arg(long, value_delimiter = ',', default_value = "262144,1048576,10485760")]
    pub payload_bytes: Vec<usize>,

    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    pub concurrency: Vec<usize>,

    /// Rounds; each runs every cell once, in turn.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,

    /// MiB of payload each cell moves per round (at least two requests).
    #[arg(long, default_value_t = 32)]
    pub cell_mib: usize,

    /// Worker threads for the driver's own runtime.
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
}

/// Bytes moved and time taken, summed over rounds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rate {
    /// Payload bytes of the successful requests.
    pub bytes: u64,
    /// Time taken.
    pub elapsed: Duration,
    /// Failed requests.
    pub errors: usize,
}

impl Rate {
    /// MB/s (10^6 bytes per second).
    pub fn mb_per_second(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    fn add(&mut self, outcome: &Outcome, size: usize) {
        self.bytes += (outcome.latencies.len() * size) as u64;
        self.elapsed += outcome.elapsed;
        self.errors += outcome.errors;
    }
}

/// One (size, concurrency) cell over every round.
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    /// Payload bytes.
    pub size: usize,
    /// Connections at once.
    pub concurrency: usize,
    /// `/send` A→B.
    pub send: Rate,
    /// `GET /transaction` on A.
    pub get: Rate,
    /// Largest peak RSS of A in any round, KiB.
    pub peak_a_kib: u64,
    /// Largest peak RSS of B in any round, KiB.
    pub peak_b_kib: u64,
}

impl Cell {
    /// The RSS limit for this cell, KiB.
    pub fn rss_limit_kib(&self) -> u64 {
        RSS_BASE_KIB + RSS_PER_PAYLOAD * (self.size * self.concurrency) as u64 / 1024
    }
}

/// The floor of one size: time of each step, summed over repeats.
#[derive(Debug, Clone, Copy, Default)]
pub struct Floor {
    /// Bytes processed (size × repeats).
    pub bytes: u64,
    /// SHA3-512.
    pub sha3: Duration,
    /// XSalsa20Poly1305 seal.
    pub seal: Duration,
    /// Loopback TCP copy.
    pub copy: Duration,
}

impl Floor {
    /// MB/s of the three steps in series.
    pub fn mb_per_second(&self) -> f64 {
        let total = self.sha3 + self.seal + self.copy;
        self.bytes as f64 / 1e6 / total.as_secs_f64().max(f64::EPSILON)
    }

    fn step_rate(&self, step: Duration) -> f64 {
        self.bytes as f64 / 1e6 / step.as_secs_f64().max(f64::EPSILON)
    }
}

/// Whether `rate` is within the goal factor of `floor`.
pub fn near_floor(rate: f64, floor: f64) -> bool {
    rate * FLOOR_GOAL_FACTOR >= floor
}

/// Runs the benchmark, printing the tables to `out`.
pub fn run(bench: &PayloadsBench, out: &mut dyn Write) -> anyhow::Result<Vec<Cell>> {
    check_levels(&bench.concurrency)?;
    anyhow::ensure!(bench.rounds > 0, "at least one round");
    anyhow::ensure!(
        !bench.payload_bytes.is_empty() && !bench.payload_bytes.contains(&0),
        "payload sizes must be at least 1 byte"
    );
    let runtime = client_runtime(bench.client_threads)?;
    let load_before = LoadBefore::now();
    let cluster = Cluster::start(None, serde_json::json!({}))?;
    cluster.wait_for_discovery()?;
    let endpoint = Endpoint::Unix(cluster.q2t_socket());
    let (a, b) = (
        cluster.sender().process.pid(),
        cluster.recipients()[0].process.pid(),
    );
    let to = cluster.recipient_keys(1);
    let mut cells = Vec::new();
    for &size in &bench.payload_bytes {
        for &concurrency in &bench.concurrency {
            cells.push(Cell {
                size,
                concurrency,
                send: Rate::default(),
                get: Rate::default(),
                peak_a_kib: 0,
                peak_b_kib: 0,
            });
        }
    }
    let mut floors = vec![Floor::default(); bench.payload_bytes.len()];
    let requests_for = |size: usize| (bench.cell_mib * 1024 * 1024).div_ceil(size).max(2);
    let sends: Vec<_> = bench
        .payload_bytes
        .iter()
        .map(|&size| Requests::fixed(send_call(size, &to)))
        .collect();
    // Unmeasured: opens A's pooled connection to B and warms both nodes.
    let warmup = runtime.block_on(run_level(
        &endpoint,
        sends[0].clone(),
        1,
        Budget::Requests(20),
        Check::Key,
    ))?;
    anyhow::ensure!(
        warmup.errors == 0,
        "warm-up sends failed: {}",
        warmup.error_samples.join("; ")
    );
    for _ in 0..bench.rounds {
        for (index, &size) in bench.payload_bytes.iter().enumerate() {
            let count = requests_for(size);
            for cell in cells.iter_mut().filter(|c| c.size == size) {
                reset_peak(a);
                reset_peak(b);
                let sent = runtime.block_on(run_level(
                    &endpoint,
                    sends[index].clone(),
                    cell.concurrency,
                    Budget::Requests(count),
                    Check::Key,
                ))?;
                cell.send.add(&sent, size);
                if !sent.keys.is_empty() {
                    let read = runtime.block_on(run_level(
                        &endpoint,
                        Requests::get(&sent.keys),
                        cell.concurrency,
                        Budget::Requests(count),
                        Check::Status,
                    ))?;
                    cell.get.add(&read, size);
                }
                let peak = |pid| Memory::of(pid).map_or(0, |m| m.peak_kib);
                cell.peak_a_kib = cell.peak_a_kib.max(peak(a));
                cell.peak_b_kib = cell.peak_b_kib.max(peak(b));
            }
            measure_floor(size, count, &mut floors[index])?;
        }
    }
    write_tables(bench, &cells, &floors, out)?;
    load_before.print_line(out)?;
    Ok(cells)
}

/// A GoQuorum-shaped `/send` of `size` random bytes to `to`.
fn send_call(size: usize, to: &[String]) -> Call {
    let mut payload = vec![0; size];
    OsRng.fill_bytes(&mut payload);
    Call::goquorum_send(&payload, to)
}

/// Resets `pid`'s peak RSS (`VmHWM`) to its current RSS, so the next reading is the peak of
/// what follows. Best effort: without it the peak is the process's lifetime peak, which only
/// overstates.
fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// Times the floor's three steps on `count` buffers of `size` bytes, adding to `floor`.
fn measure_floor(size: usize, count: usize, floor: &mut Floor) -> anyhow::Result<()> {
    let mut data = vec![0u8; size];
    OsRng.fill_bytes(&mut data);
    let key = SymmetricKey::generate(&mut OsRng);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut writer = TcpStream::connect(listener.local_addr()?)?;
    writer.set_nodelay(true)?;
    let (mut reader, _) = listener.accept()?;
    let sink = std::thread::spawn(move || -> std::io::Result<()> {
        let mut buffer = vec![0u8; 256 * 1024];
        for _ in 0..count {
            let mut left = size;
            while left > 0 {
                let want = left.min(buffer.len());
                let n = reader.read(&mut buffer[..want])?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                left -= n;
            }
            reader.write_all(b"k")?;
        }
        Ok(())
    });
    for _ in 0..count {
        let started = Instant::now();
        std::hint::black_box(PayloadDigest::Sha3_512.digest(&data));
        floor.sha3 += started.elapsed();
        let nonce = Nonce::generate(&mut OsRng);
        let started = Instant::now();
        std::hint::black_box(nacl::seal(&data, &nonce, &key));
        floor.seal += started.elapsed();
        let started = Instant::now();
        writer.write_all(&data)?;
        let mut ack = [0u8; 1];
        writer.read_exact(&mut ack)?;
        floor.copy += started.elapsed();
        floor.bytes += size as u64;
    }
    sink.join()
        .map_err(|_| anyhow::anyhow!("the loopback reader panicked"))??;
    Ok(())
}

fn write_tables(
    bench: &PayloadsBench,
    cells: &[Cell],
    floors: &[Floor],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "cloister-bench payloads: {} rounds, {} MiB per cell per round, {} driver thread(s), {} cores; \
         A → B, SQLite stores\n\
         floor = SHA3-512 + XSalsa20Poly1305 seal + one loopback TCP copy of the payload, measured \
         between the cells; MB/s = 10^6 payload bytes per second; peaks are VmHWM per cell",
        bench.rounds,
        bench.cell_mib,
        bench.client_threads.max(1),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    )?;
    writeln!(
        out,
        "{:>9} | {:>8} {:>8} {:>8} | {:>9}",
        "size", "SHA3", "seal", "copy", "floor"
    )?;
    for (size, floor) in bench.payload_bytes.iter().zip(floors) {
        writeln!(
            out,
            "{:>9} | {:>8.0} {:>8.0} {:>8.0} | {:>9.0}",
            size_name(*size),
            floor.step_rate(floor.sha3),
            floor.step_rate(floor.seal),
            floor.step_rate(floor.copy),
            floor.mb_per_second(),
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:>9} {:>4} | {:>6} | {:>7} {:>5} | {:>7} {:>5} | {:>9} {:>9} {:>9} | goal",
        "size", "conc", "floor", "send", "/floor", "get", "/floor", "A peak", "B peak", "limit"
    )?;
    for cell in cells {
        let floor = bench
            .payload_bytes
            .iter()
            .position(|s| *s == cell.size)
            .map_or(0.0, |i| floors[i].mb_per_second());
        let (send, get) = (cell.send.mb_per_second(), cell.get.mb_per_second());
        let limit = cell.rss_limit_kib();
        let fast = near_floor(send, floor) && near_floor(get, floor);
        let small = cell.peak_a_kib < limit && cell.peak_b_kib < limit;
        let errors = cell.send.errors + cell.get.errors;
        writeln!(
            out,
            "{:>9} {:>4} | {:>6.0} | {:>7.1} {:>4.1}x | {:>7.1} {:>4.1}x | {:>9} {:>9} {:>9} | \
             speed {}, RSS {}{}",
            size_name(cell.size),
            cell.concurrency,
            floor,
            send,
            floor / send.max(f64::EPSILON),
            get,
            floor / get.max(f64::EPSILON),
            mib(cell.peak_a_kib),
            mib(cell.peak_b_kib),
            mib(limit),
            crate::report::verdict(fast && errors == 0),
            crate::report::verdict(small),
            if errors > 0 {
                format!(", {errors} errors")
            } else {
                String::new()
            },
        )?;
    }
    Ok(())
}

fn size_name(size: usize) -> String {
    match size {
        s if s >= 1024 * 1024 && s % (1024 * 1024) == 0 => format!("{} MiB", s / (1024 * 1024)),
        s if s >= 1024 && s % 1024 == 0 => format!("{} KiB", s / 1024),
        s => format!("{s} B"),
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rss_limit_grows_with_payload_and_concurrency() {
        let cell = Cell {
            size: 10 * 1024 * 1024,
            concurrency: 4,
            send: Rate::default(),
            get: Rate::default(),
            peak_a_kib: 0,
            peak_b_kib: 0,
        };
        assert_eq!(cell.rss_limit_kib(), (64 + 160) * 1024);
    }

    #[test]
    fn within_twice_the_floor() {
        assert!(near_floor(100.0, 200.0));
        assert!(!near_floor(99.0, 200.0));
    }

    #[test]
    fn the_floor_adds_the_steps_times() {
        let floor = Floor {
            bytes: 3_000_000,
            sha3: Duration::from_secs(1),
            seal: Duration::from_secs(1),
            copy: Duration::from_secs(1),
        };
        assert!((floor.mb_per_second() - 1.0).abs() < 1e-9);
        assert_eq!(size_name(262_144), "256 KiB");
        assert_eq!(size_name(10 * 1024 * 1024), "10 MiB");
    }
}
