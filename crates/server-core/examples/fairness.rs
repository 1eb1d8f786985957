//! How long one client waits while another floods the same thread with costly work.
//!
//! Starts a server with `--workers 1` (one event loop, one runtime thread, one ring), has
//! one client pipeline `2|3**10333//3**10333` as fast as the server answers (a writer
//! that keeps the socket full, a reader that drains the answers), and meanwhile sends
//! probes — one `3|probe` at a time on a connection of their own, 20 ms apart — and
//! prints the median and the worst time a probe waited for its answer.
//!
//! ```text
//! cargo build --release --workspace
//! cargo run --release -p server-core --example fairness -- server-evented [probes]
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use testkit::{ServerProcess, workspace_binary};

const COSTLY: &[u8] = b"2|3**10333//3**10333\n";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let binary = args.next().unwrap_or_else(|| "server-evented".to_owned());
    let probes: usize = args.next().map_or(Ok(200), |n| n.parse())?;
    let path = workspace_binary(&binary)?;
    let server = ServerProcess::start(&path, ["--port", "0", "--workers", "1", "--quiet"])?;
    let addr = server.addr();

    // The flood: a writer that keeps the socket full and a reader that drains it.
    let flood = TcpStream::connect(addr)?;
    let mut writer = flood.try_clone()?;
    let batch = COSTLY.repeat(256);
    std::thread::spawn(move || while writer.write_all(&batch).is_ok() {});
    std::thread::spawn(move || {
        let mut reader = BufReader::new(flood);
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            line.clear();
        }
    });
    // Let the flood fill the socket buffers first.
    std::thread::sleep(Duration::from_millis(500));

    let probe = TcpStream::connect(addr)?;
    probe.set_nodelay(true)?;
    let mut reader = BufReader::new(probe.try_clone()?);
    let mut waits = Vec::with_capacity(probes);
    let mut line = String::new();
    for _ in 0..probes {
        let sent = Instant::now();
        (&probe).write_all(b"3|probe\n")?;
        line.clear();
        reader.read_line(&mut line)?;
        waits.push(sent.elapsed());
        assert_eq!(line, "OK eborp\n");
        std::thread::sleep(Duration::from_millis(20));
    }
    waits.sort();
    let median = waits[waits.len() / 2];
    let max = waits[waits.len() - 1];
    println!(
        "{binary} --workers 1, one client flooding costly evals: {probes} probes, median {:.1} ms, max {:.1} ms",
        median.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    drop(server);
    Ok(())
}
