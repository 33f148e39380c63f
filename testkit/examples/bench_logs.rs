//! Writes large, varied logs with the project's own writers, for the peer benchmarks
//! (`scripts/bench-peers.sh`).
//!
//! usage: cargo run --release -p evtdoctor-testkit --example bench_logs -- evt|evtx OUT MEGABYTES
//!        cargo run --release -p evtdoctor-testkit --example bench_logs -- many DIR COUNT   (small logs, for --threads)
//!        cargo run --release -p evtdoctor-testkit --example bench_logs -- ese OUT MEGABYTES [ese98|modern]
//!          (an ESE database written by the project's own writer, for the defrag and dump
//!          benchmarks: `scripts/bench-defrag.sh`, `scripts/bench-peers.sh`)

use chrono::{DateTime, Duration, Utc};
use evtdoctor_parsers::{Event, Level};
use evtdoctor_testkit::dbwriter::bench::{write_bench_database, BenchFormat};
use evtdoctor_testkit::logwriter::scenarios::{kms_5085_data, EXCHANGE_2000_SP3};
use evtdoctor_testkit::logwriter::{evt::EvtWriter, evtx::write_evtx};

/// A mix like a real server's System and Application logs: boots, service notices with and
/// without binary data, errors with payloads.
fn event(n: u64, start: DateTime<Utc>) -> Event {
    let (source, id, level, strings, data): (&str, u16, Level, Vec<String>, Vec<u8>) = match n % 5 {
        0 => (
            "Service Control Manager",
            7036,
            Level::Information,
            vec![format!("Service number {n}"), "running".into()],
            Vec::new(),
        ),
        1 => (
            "EventLog",
            6009,
            Level::Information,
            ["5.00.", "2195", "Service Pack 4", "Uniprocessor Free"]
                .map(String::from)
                .to_vec(),
            Vec::new(),
        ),
        2 => (
            "MSExchangeKMS",
            5085,
            Level::Error,
            Vec::new(),
            kms_5085_data(EXCHANGE_2000_SP3),
        ),
        3 => (
            "Tcpip",
            4199,
            Level::Warning,
            vec![
                "10.0.0.7".into(),
                format!("00:50:56:{:02x}:{:02x}:01", n % 251, n % 241),
            ],
            (n as u32).to_le_bytes().repeat(6),
        ),
        _ => (
            "Application Popup",
            26,
            Level::Information,
            vec![
                format!("Application popup: dialog {n}"),
                "An unexpected error occurred.".into(),
            ],
            Vec::new(),
        ),
    };
    let mut event = Event::new(source, id, level);
    event.qualifiers = Some(if level == Level::Error {
        0xc000
    } else {
        0x4000
    });
    event.time_generated = Some(start + Duration::seconds(n as i64 * 7));
    event.time_written = event.time_generated;
    event.record_number = Some(n + 1);
    event.log = Some("System".into());
    event.computer = Some("EXCH01".into());
    event.user = n.is_multiple_of(3).then(|| "S-1-5-18".into());
    event.category = Some(0);
    event.strings = strings;
    event.data = Some(data);
    event
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let start = DateTime::parse_from_rfc3339("2003-07-01T08:00:00Z")?.with_timezone(&Utc);
    match args.as_slice() {
        [ese, out, megabytes, rest @ ..] if ese == "ese" && rest.len() <= 1 => {
            let format = match rest.first().map(String::as_str) {
                None | Some("ese98") => BenchFormat::Ese98,
                Some("modern") => BenchFormat::Modern,
                Some(other) => return Err(format!("unknown ESE format {other}").into()),
            };
            let written = write_bench_database(out.as_ref(), megabytes.parse()?, format)?;
            eprintln!(
                "{out}: {} pages, {} records ({} deleted), {} long values",
                written.pages, written.records, written.deleted, written.long_values
            );
        }
        [kind, out, megabytes] if kind != "many" => {
            let target: u64 = megabytes.parse::<u64>()? * 1024 * 1024;
            // About 200 bytes per record in either format.
            let events: Vec<Event> = (0..target / 200).map(|n| event(n, start)).collect();
            let bytes = log_bytes(kind, &events, target + 0x10000)?;
            std::fs::write(out, &bytes)?;
            eprintln!("{out}: {} events, {} bytes", events.len(), bytes.len());
        }
        [many, dir, count] if many == "many" => {
            // Like a folder of collected 64 KiB logs: .evt and .evtx in turn, 300 records each.
            std::fs::create_dir_all(dir)?;
            for file in 0..count.parse::<u64>()? {
                let events: Vec<Event> = (file * 300..file * 300 + 300)
                    .map(|n| event(n, start))
                    .collect();
                let kind = if file % 2 == 0 { "evt" } else { "evtx" };
                let bytes = log_bytes(kind, &events, 0x10000)?;
                std::fs::write(format!("{dir}/log{file:05}.{kind}"), bytes)?;
            }
            eprintln!("{dir}: {count} logs of 300 events");
        }
        _ => {
            return Err(
                "usage: bench_logs evt|evtx OUT MEGABYTES | bench_logs many DIR COUNT | \
                 bench_logs ese OUT MEGABYTES [ese98|modern]"
                    .into(),
            )
        }
    }
    Ok(())
}

/// A log of `kind` holding `events`; a .evt is `evt_size` bytes (it wraps when they do not fit).
fn log_bytes(
    kind: &str,
    events: &[Event],
    evt_size: u64,
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    Ok(match kind {
        "evt" => {
            EvtWriter::new(u32::try_from(evt_size)?)
                .write(events)?
                .bytes
        }
        "evtx" => write_evtx(events)?,
        other => return Err(format!("unknown kind {other}").into()),
    })
}
