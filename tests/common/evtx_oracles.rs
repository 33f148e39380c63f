//! The independent .evtx readers as the writer tests and the sample tests use them: python-evtx
//! (checksums and every field) and the XML lines libevtx's `evtxexport -f xml` prints.

use super::{oracle, success_stdout};
use chrono::{DateTime, Utc};
use evtdoctor_parsers::{Event, Level};
use serde_json::Value;
use std::path::Path;

/// What python-evtx sees: header and chunk checksums, chunk record ranges, and the System and
/// EventData fields of the records whose numbers are listed (or all of them).
const PYTHON_EVTX_DUMP: &str = r#"
import sys, json, base64, xml.etree.ElementTree as ET
import Evtx.Evtx as evtx
NS = '{http://schemas.microsoft.com/win/2004/08/events/event}'
wanted = None if sys.argv[2] == 'all' else {int(n) for n in sys.argv[2].split(',')}
out = {'records': [], 'count': 0}
with evtx.Evtx(sys.argv[1]) as log:
    header = log.get_file_header()
    out['header_valid'] = header.verify()
    out['chunks'] = [[c.verify(), c.log_first_record_number(), c.log_last_record_number()]
                     for c in header.chunks()]
    for record in log.records():
        out['count'] += 1
        if wanted is not None and record.record_num() not in wanted:
            continue
        event = ET.fromstring(record.xml())
        system = event.find(NS + 'System')
        field = lambda tag: system.find(NS + tag)
        data = event.find(NS + 'EventData')
        binary = data.find(NS + 'Binary')
        out['records'].append({
            'record_num': record.record_num(),
            'written': record.timestamp().strftime('%Y-%m-%d %H:%M:%S'),
            'provider': field('Provider').get('Name'),
            'event_id': int(field('EventID').text),
            'qualifiers': field('EventID').get('Qualifiers'),
            'level': int(field('Level').text),
            'task': int(field('Task').text),
            'keywords': field('Keywords').text,
            'time_created': field('TimeCreated').get('SystemTime')[:19],
            'record_id': int(field('EventRecordID').text),
            'channel': field('Channel').text,
            'computer': field('Computer').text,
            'user': field('Security').get('UserID'),
            'strings': [d.text or '' for d in data.findall(NS + 'Data')],
            'binary': base64.b64decode(binary.text or '').hex() if binary is not None else '',
        })
print(json.dumps(out))
"#;

pub fn python_evtx(path: &Path, records: &str) -> Value {
    let output = oracle(
        "python3",
        &["-c", PYTHON_EVTX_DUMP, path.to_str().unwrap(), records],
    );
    serde_json::from_str(&success_stdout(output)).unwrap()
}

/// `<Level>` as Windows writes it for the levels the tests write.
pub fn evtx_level(level: Level) -> u8 {
    match level {
        Level::Error => 2,
        Level::Warning => 3,
        Level::Information => 4,
        other => panic!("sample uses {other:?}"),
    }
}

/// The fields python-evtx must report for `e` (times to the second: it rounds through floats).
pub fn python_view(e: &Event) -> Value {
    serde_json::json!({
        "record_num": e.record_number.unwrap(),
        "written": e.time_written.unwrap().format("%Y-%m-%d %H:%M:%S").to_string(),
        "provider": e.source,
        "event_id": e.event_id,
        "qualifiers": e.qualifiers.map_or(String::new(), |q| q.to_string()),
        "level": evtx_level(e.level),
        "task": e.category.unwrap(),
        "keywords": "0x0080000000000000",
        "time_created": e.time_generated.unwrap().format("%Y-%m-%d %H:%M:%S").to_string(),
        "record_id": e.record_number.unwrap(),
        "channel": e.log,
        "computer": e.computer,
        "user": e.user.clone().unwrap_or_default(),
        "strings": e.strings,
        "binary": hex::encode(e.data.as_deref().unwrap()),
    })
}

/// libevtx's XML escaping of text.
fn xml_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The lines `evtxexport -f xml` prints for `e`. `None` stands for a `<Data>` line whose
/// text has characters beyond U+FFFF, which the libevtx 20181227 build mangles.
pub fn libevtx_xml(e: &Event) -> Vec<Option<String>> {
    let time = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string();
    let mut lines = vec![
        r#"<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event">"#.to_string(),
        "<System>".into(),
        format!(r#"<Provider Name="{}"/>"#, e.source),
        match e.qualifiers {
            Some(q) => format!(r#"<EventID Qualifiers="{q}">{}</EventID>"#, e.event_id),
            None => format!("<EventID>{}</EventID>", e.event_id),
        },
        format!("<Level>{}</Level>", evtx_level(e.level)),
        format!("<Task>{}</Task>", e.category.unwrap()),
        "<Keywords>0x0080000000000000</Keywords>".into(),
        format!(
            r#"<TimeCreated SystemTime="{}"/>"#,
            time(e.time_generated.unwrap())
        ),
        format!(
            "<EventRecordID>{}</EventRecordID>",
            e.record_number.unwrap()
        ),
        format!("<Channel>{}</Channel>", e.log.as_deref().unwrap()),
        format!("<Computer>{}</Computer>", e.computer.as_deref().unwrap()),
        match &e.user {
            Some(sid) => format!(r#"<Security UserID="{sid}"/>"#),
            None => "<Security/>".into(),
        },
        "</System>".into(),
    ];
    let data = e.data.as_deref().unwrap();
    if e.strings.is_empty() && data.is_empty() {
        lines.push("<EventData/>".into());
    } else {
        lines.push("<EventData>".into());
        for s in &e.strings {
            lines.push(match s.as_str() {
                "" => "<Data/>".into(),
                s if s.chars().any(|c| c > '\u{ffff}') => String::new(),
                s => format!("<Data>{}</Data>", xml_text(s)),
            });
        }
        if !data.is_empty() {
            lines.push(format!("<Binary>{}</Binary>", hex::encode_upper(data)));
        }
        lines.push("</EventData>".into());
    }
    lines.push("</Event>".into());
    lines
        .into_iter()
        .map(|l| (!l.is_empty()).then_some(l))
        .collect()
}
