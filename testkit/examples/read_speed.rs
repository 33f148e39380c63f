//! Parse-only throughput of the binary log readers on one thread: the file is read into memory
//! once, then decoded into events (and dropped) `ROUNDS` times; no output is rendered.
//!
//! usage: cargo run --release -p evtdoctor-testkit --example read_speed -- FILE.evt|FILE.evtx [ROUNDS]

use evtdoctor_parsers::evtx::{read_evtx, EvtxOptions};
use evtdoctor_parsers::{detect_format, evt::read_evt, InputFormat, Item};
use std::time::Instant;

// The allocator the evtdoctor binary uses (src/main.rs), so the numbers are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, rounds) = match args.as_slice() {
        [path] => (path, 5),
        [path, rounds] => (path, rounds.parse()?),
        _ => return Err("usage: read_speed FILE.evt|FILE.evtx [ROUNDS]".into()),
    };
    let bytes = std::fs::read(path)?;
    let format = detect_format(&bytes[..bytes.len().min(8192)]);
    let mut best = f64::MAX;
    let mut records = 0u64;
    for _ in 0..rounds {
        records = 0;
        let count = |item: Item| records += u64::from(item.is_ok());
        let start = Instant::now();
        let read = match format {
            Some(InputFormat::Evt) => read_evt(&bytes, true, count),
            Some(InputFormat::Evtx) => {
                let options = EvtxOptions {
                    threads: 1,
                    ..EvtxOptions::default()
                };
                read_evtx(&bytes, options, count)
            }
            _ => return Err(format!("{path}: not an .evt or .evtx file").into()),
        };
        read.map_err(|problem| format!("{path}: {problem}"))?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    let megabytes = bytes.len() as f64 / 1e6;
    println!(
        "{path}: {records} records, {megabytes:.1} MB in {best:.3} s (best of {rounds}): {:.0} MB/s, {:.0} ns a record",
        megabytes / best,
        best * 1e9 / records.max(1) as f64
    );
    Ok(())
}
