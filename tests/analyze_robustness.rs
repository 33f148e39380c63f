//! The engine on hostile events: odd strings, random binary data, missing times and names.
//! Nothing may panic, and the report must still validate against the schema.

use crate::common;

use crate::common::correlate_shipped;
use common::assert_valid_report;
use evtdoctor::correlate::SourcedEvent;
use evtdoctor::diagnose::{diagnose, Context};
use evtdoctor::report::{render_markdown, render_table, Report, ReportOptions, TimeZone};
use evtdoctor_parsers::{Event, Level};

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

const SOURCES: &[&str] = &[
    "EventLog",
    "NtServicePack",
    "Service Control Manager",
    "MSExchangeKMS",
    "ESE98",
    "ESE",
    "MSExchangeIS",
    "Other",
];
const IDS: &[u16] = &[
    6005, 6006, 6008, 6009, 4371, 4377, 7000, 7001, 7023, 7024, 7036, 5085, 5057, 100, 102, 172,
    174, 474, 1, 0, 65535,
];
const STRINGS: &[&str] = &[
    "",
    "5.00.",
    "2195",
    "Service Pack 4",
    "Service Pack 3",
    "Service Pack 99999999999",
    "Windows 2000",
    "Key Management",
    "running",
    "6.0.6249.0 PT",
    "6.0.6603.1",
    "6",
    "0",
    "6249",
    "%1 %2 %",
    "%99999999999999999999",
    "ünïcödé 5.0.",
    "4294967296.1.1",
    "....",
    "6.5.7638.1.2.3.4",
];

fn random_event(rng: &mut Rng) -> Event {
    let mut e = Event::new(*rng.pick(SOURCES), *rng.pick(IDS), Level::Error);
    e.computer = rng
        .pick(&[None, Some("EXCH01"), Some("exch01.corp"), Some("")])
        .map(str::to_owned);
    e.log = rng
        .pick(&[None, Some("System"), Some("Application")])
        .map(str::to_owned);
    e.record_number = (!rng.next().is_multiple_of(3)).then(|| rng.next() % 50);
    e.time_generated = (!rng.next().is_multiple_of(4))
        .then(|| chrono::DateTime::from_timestamp((rng.next() % 1000) as i64 * 60, 0))
        .flatten();
    e.strings = (0..rng.next() % 6)
        .map(|_| rng.pick(STRINGS).to_string())
        .collect();
    e.data = match rng.next() % 3 {
        0 => None,
        1 => Some((0..rng.next() % 40).map(|_| rng.next() as u8).collect()),
        _ => Some(format!("{}\0x\0", rng.pick(STRINGS)).into_bytes()),
    };
    e.message = rng
        .next()
        .is_multiple_of(5)
        .then(|| rng.pick(STRINGS).to_string());
    e
}

#[test]
fn random_events_never_panic_and_reports_stay_valid() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut findings, mut ruled_out) = (0, 0);
    for round in 0..40 {
        let events: Vec<SourcedEvent> = (0..200)
            .map(|i| SourcedEvent {
                file: format!("input{}.evt", i % 3),
                event: random_event(&mut rng),
            })
            .collect();
        let correlation = correlate_shipped(events);
        let diagnosis = diagnose(&correlation, &Context::default());
        findings += diagnosis.findings.len();
        ruled_out += diagnosis.ruled_out.len();
        let report = Report::new(
            Vec::new(),
            correlation,
            diagnosis,
            ReportOptions {
                time_zone: TimeZone::from_offset(chrono::FixedOffset::west_opt(3 * 3600 + 1800)),
                database: None,
            },
        );
        let json = report.to_json();
        assert!(!render_markdown(&report).is_empty());
        assert!(!render_table(&report, false, false).is_empty());
        if round % 10 == 0 {
            assert_valid_report(&json);
        }
    }
    // The rule really ran both ways on this noise.
    assert!(
        findings > 0 && ruled_out > 0,
        "{findings} findings, {ruled_out} ruled out"
    );
}
