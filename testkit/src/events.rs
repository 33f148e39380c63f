//! Single events for the diagnosis tests: what a Windows 2000 / Exchange 2000 server logs
//! around the KB 818952 failure, its look-alikes and its fix, one builder per event (the
//! sample bundles' whole histories are in [`crate::logwriter::scenarios`]).

use crate::logwriter::scenarios::{kms_5085_data, EXCHANGE_2000_SP3, KMS_SERVICE};
use evtdoctor_parsers::{Event, Level};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const COMPUTER: &str = "EXCH01";

fn event(log: &str, record: u64, time: &str, source: &str, id: u16, level: Level) -> Event {
    let mut e = Event::new(source, id, level);
    e.log = Some(log.to_owned());
    e.record_number = Some(record);
    e.time_generated = Some(time.parse().expect("scenario time is RFC 3339"));
    e.computer = Some(COMPUTER.to_owned());
    e.data = Some(Vec::new());
    e
}

fn with_strings(mut e: Event, strings: &[&str]) -> Event {
    e.strings = strings.iter().map(|s| s.to_string()).collect();
    e
}

/// EventLog 6009 of a Windows 2000 boot at the given service pack ("" for none).
pub fn boot(record: u64, time: &str, service_pack: &str) -> Event {
    os_boot(record, time, "5.00.", "2195", service_pack)
}

pub fn os_boot(record: u64, time: &str, version: &str, build: &str, sp: &str) -> Event {
    let e = event("System", record, time, "EventLog", 6009, Level::Information);
    with_strings(e, &[version, build, sp, "Uniprocessor Free"])
}

pub fn event_log_started(record: u64, time: &str) -> Event {
    event("System", record, time, "EventLog", 6005, Level::Information)
}

pub fn clean_shutdown(record: u64, time: &str) -> Event {
    event("System", record, time, "EventLog", 6006, Level::Information)
}

pub fn unexpected_shutdown(record: u64, time: &str) -> Event {
    let e = event("System", record, time, "EventLog", 6008, Level::Error);
    with_strings(e, &["3:12:01 AM", "7/5/2003"])
}

/// NtServicePack 4371: `os` `installed` replacing `replaced`.
pub fn service_pack_install(
    record: u64,
    time: &str,
    os: &str,
    installed: &str,
    replaced: &str,
) -> Event {
    let e = event(
        "System",
        record,
        time,
        "NtServicePack",
        4371,
        Level::Information,
    );
    with_strings(e, &[os, installed, replaced])
}

/// MSExchangeKMS 5085 with the KB's binary data naming `build`.
pub fn kms_failure(record: u64, time: &str, build: &str) -> Event {
    let mut e = event(
        "Application",
        record,
        time,
        "MSExchangeKMS",
        5085,
        Level::Error,
    );
    e.data = Some(kms_5085_data(build));
    e
}

pub fn kms_bad_password(record: u64, time: &str) -> Event {
    event(
        "Application",
        record,
        time,
        "MSExchangeKMS",
        5057,
        Level::Error,
    )
}

/// An event of Exchange's database engine (source ESE98, as Exchange 2000 logs it).
pub fn ese_event(record: u64, time: &str, id: u16, strings: &[&str]) -> Event {
    let e = event("Application", record, time, "ESE98", id, Level::Warning);
    with_strings(e, strings)
}

/// Service Control Manager 7036: the KMS service entered the running state.
pub fn kms_running(record: u64, time: &str) -> Event {
    let e = event(
        "System",
        record,
        time,
        "Service Control Manager",
        7036,
        Level::Information,
    );
    with_strings(e, &[KMS_SERVICE, "running"])
}

/// The KB text pasted alone: no time, no record number, computer "ComputerName".
pub fn kb_paste() -> Event {
    let mut e = Event::new("MSExchangeKMS", 5085, Level::Error);
    e.computer = Some("ComputerName".to_owned());
    e.message = Some(
        "KMS can not mount the key database. Either the database is missing or it is corrupted."
            .to_owned(),
    );
    e.data = Some(kms_5085_data(EXCHANGE_2000_SP3));
    e
}

/// SP3 boot, clean restart into SP4, then the KMS failure with the KB payload.
pub fn positive() -> Vec<Event> {
    vec![
        boot(100, "2003-07-01T08:00:00Z", "Service Pack 3"),
        clean_shutdown(101, "2003-07-05T07:55:00Z"),
        event_log_started(102, "2003-07-05T08:10:00Z"),
        boot(103, "2003-07-05T08:10:05Z", "Service Pack 4"),
        kms_failure(500, "2003-07-05T08:11:00Z", "6.0.6249.0"),
    ]
}

/// [`positive`] plus the fix: KMS running again after the last 5085, and no 5085 since.
pub fn resolved() -> Vec<Event> {
    let mut events = positive();
    events.push(kms_failure(501, "2003-07-06T09:00:00Z", "6.0.6249.0"));
    events.push(kms_running(140, "2003-07-07T10:00:00Z"));
    events
}

/// The Event XML file [`write_xml`] puts an event in: `System.xml`, `Application.xml`.
pub fn file_name(event: &Event) -> String {
    format!("{}.xml", event.log.as_deref().unwrap_or("Pasted"))
}

/// Writes the events as Event XML files in `dir`, one per log (the form `wevtutil qe /f:xml`
/// gives), and returns the file names.
pub fn write_xml(dir: &Path, events: &[Event]) -> Vec<PathBuf> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for e in events {
        files
            .entry(file_name(e))
            .or_insert_with(|| "<Events>\n".to_owned())
            .push_str(&event_xml(e));
    }
    files
        .into_iter()
        .map(|(name, mut xml)| {
            xml.push_str("</Events>\n");
            std::fs::write(dir.join(&name), xml).expect("scenario file written");
            PathBuf::from(name)
        })
        .collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn event_xml(e: &Event) -> String {
    let level = match e.level {
        Level::Error => 2,
        Level::Warning => 3,
        _ => 4,
    };
    let mut xml = format!(
        "<Event><System><Provider Name=\"{}\"/><EventID Qualifiers=\"{}\">{}</EventID><Level>{level}</Level>",
        escape(&e.source),
        e.qualifiers.unwrap_or(0),
        e.event_id
    );
    if let Some(t) = e.time_generated {
        xml.push_str(&format!("<TimeCreated SystemTime=\"{}\"/>", t.to_rfc3339()));
    }
    if let Some(n) = e.record_number {
        xml.push_str(&format!("<EventRecordID>{n}</EventRecordID>"));
    }
    if let Some(log) = &e.log {
        xml.push_str(&format!("<Channel>{}</Channel>", escape(log)));
    }
    if let Some(c) = &e.computer {
        xml.push_str(&format!("<Computer>{}</Computer>", escape(c)));
    }
    xml.push_str("</System><EventData>");
    for s in &e.strings {
        xml.push_str(&format!("<Data>{}</Data>", escape(s)));
    }
    if let Some(data) = e.data.as_ref().filter(|d| !d.is_empty()) {
        xml.push_str(&format!("<Binary>{}</Binary>", hex::encode_upper(data)));
    }
    xml.push_str("</EventData>");
    if let Some(m) = &e.message {
        xml.push_str(&format!(
            "<RenderingInfo Culture=\"en-US\"><Message>{}</Message></RenderingInfo>",
            escape(m)
        ));
    }
    xml.push_str("</Event>\n");
    xml
}

/// An Application-log event of any source, with its strings.
pub fn app_event(record: u64, time: &str, source: &str, id: u16, strings: &[&str]) -> Event {
    with_strings(
        event("Application", record, time, source, id, Level::Error),
        strings,
    )
}

/// ESE98 474 for `file`, its strings laid out as the event's message numbers them (%1 process,
/// %2 id, %3 instance, %4 file, %5 offset, %6 length, %7 error, %8/%9 checksums).
pub fn page_checksum_failure(record: u64, time: &str, file: &str) -> Event {
    let strings = [
        "KMServer",
        "1234",
        "",
        file,
        "2121728",
        "4096",
        "-1018 (0xfffffc06)",
        "0x1a2b3c4d",
        "0x1a2b3c4e",
    ];
    let e = event("Application", record, time, "ESE98", 474, Level::Error);
    with_strings(e, &strings)
}

/// MSExchangeIS 9518: a storage group did not start with `code` (0xfffffdda is -550).
pub fn storage_group_start_error(record: u64, time: &str, code: &str) -> Event {
    app_event(
        record,
        time,
        "MSExchangeIS",
        9518,
        &[code, "CN=First Storage Group,CN=InformationStore,CN=EXCH01"],
    )
}

/// ESE98 172: index cleanup of `database` after the Windows version changed.
pub fn index_cleanup(record: u64, time: &str, database: &str) -> Event {
    ese_event(
        record,
        time,
        172,
        &[
            "MSExchangeIS",
            "298",
            database,
            "5.0.2195 SP3",
            "5.0.2195 SP4",
        ],
    )
}
