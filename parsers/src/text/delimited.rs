//! Delimited exports: Event Viewer's "Text (Tab delimited)" and "Text (Comma delimited)" (with
//! a header row on Vista and later, without one on NT/2000/XP/2003, where the columns are Date,
//! Time, Source, Type, Category, Event, User, Computer, Description), PowerShell `Export-Csv` of
//! `Get-EventLog` / `Get-WinEvent` objects (after a `#TYPE` line), and evtdoctor's own
//! `events --format csv`. Columns are found by their header names.
//!
//! Only evtdoctor's CSV carries the binary data (hex in a `data` column); PowerShell writes
//! `System.Byte[]` there and Event Viewer has no such column: those events have no data
//! (`None`), which later stages treat as unknown, not as empty.

use super::clock::Clock;
use super::fields;
use crate::event::{Event, Level};
use crate::{Item, Problem};

/// A quoted field may run over this many lines before it counts as unterminated: event
/// descriptions are far shorter, and the cap keeps a stray quote from swallowing the file.
const MAX_RECORD_LINES: usize = 1000;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Date,
    Time,
    DateTime,
    TimeWritten,
    Source,
    Level,
    Category,
    EventId,
    Qualifiers,
    User,
    Computer,
    Description,
    Log,
    Record,
    EventRecordId,
    Provider,
    Data,
    Strings,
    Ignored,
}

/// The column order of headerless NT-era exports.
const CLASSIC_COLUMNS: [Column; 9] = [
    Column::Date,
    Column::Time,
    Column::Source,
    Column::Level,
    Column::Category,
    Column::EventId,
    Column::User,
    Column::Computer,
    Column::Description,
];

/// A header name to its column; `None` for names no export uses.
fn column(name: &str) -> Option<Column> {
    let folded: String = name
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    Some(match folded.as_str() {
        "date" => Column::Date,
        "time" => Column::Time,
        "dateandtime" | "timegenerated" | "timecreated" => Column::DateTime,
        "timewritten" => Column::TimeWritten,
        "source" | "eventsource" | "providername" => Column::Source,
        "type" | "eventtype" | "entrytype" | "level" | "leveldisplayname" => Column::Level,
        "category" | "eventcategory" | "taskcategory" | "categorynumber" | "task" => {
            Column::Category
        }
        "event" | "eventid" | "id" | "instanceid" => Column::EventId,
        "qualifiers" => Column::Qualifiers,
        "user" | "username" | "userid" => Column::User,
        "computer" | "machinename" => Column::Computer,
        "description" | "message" | "" => Column::Description,
        "log" | "logname" => Column::Log,
        "record" | "recordnumber" | "recordid" | "index" => Column::Record,
        "eventrecordid" => Column::EventRecordId,
        "provider" => Column::Provider,
        "data" => Column::Data,
        "strings" => Column::Strings,
        "file"
        | "offset"
        | "recovered"
        | "version"
        | "opcode"
        | "keywords"
        | "processid"
        | "threadid"
        | "providerid"
        | "activityid"
        | "relatedactivityid"
        | "containerlog"
        | "matchedqueryids"
        | "bookmark"
        | "opcodedisplayname"
        | "taskdisplayname"
        | "keywordsdisplaynames"
        | "properties"
        | "replacementstrings"
        | "site"
        | "container" => Column::Ignored,
        _ => return None,
    })
}

/// One record of the file, with the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: u64,
    pub fields: Vec<String>,
}

/// Splits `lines` into records. A field that starts with `"` is quoted: it may hold the
/// delimiter (ASCII), doubled quotes and line breaks.
pub fn records(lines: &[&str], delimiter: u8) -> Vec<Result<Record, Problem>> {
    let mut tokenizer = Tokenizer::new(delimiter);
    let mut out = Vec::new();
    let mut index = 0;
    while let Some(first) = lines.get(index) {
        let line = index as u64 + 1;
        let text = first.trim_end_matches('\r');
        if text.is_empty() {
            // csv-core passes over empty lines without a record, which would look like an
            // open quote here.
            index += 1;
            continue;
        }
        let mut closed = tokenizer.feed_line(text);
        let mut used = 1;
        let mut last = first;
        let mut damaged = false;
        while !closed {
            // Damage (NUL bytes, marked U+FFFD) may have taken the closing quote: the field
            // ends with the damaged line, so that the damage stays in this record.
            if last.contains(char::REPLACEMENT_CHARACTER) {
                damaged = true;
                break;
            }
            match lines.get(index + used) {
                Some(next) if used < MAX_RECORD_LINES => {
                    closed = tokenizer.feed_line(next.trim_end_matches('\r'));
                    used += 1;
                    last = next;
                }
                _ => break,
            }
        }
        let fields = if closed {
            Some(tokenizer.take_fields())
        } else if damaged {
            Some(tokenizer.finish_open())
        } else {
            tokenizer.restart();
            None
        };
        match fields {
            None => {
                out.push(Err(Problem::at_line(line, "unterminated quoted field")));
                used = 1; // go on with the next line
            }
            Some(fields) if used > 1 || !first.trim().is_empty() => {
                out.push(Ok(Record { line, fields }));
            }
            Some(_) => {}
        }
        index += used;
    }
    out
}

/// csv-core's reader, fed one line (and its line break) at a time, so that the caller
/// decides how far a quoted field may run.
struct Tokenizer {
    reader: csv_core::Reader,
    /// The unquoted bytes of the record being read, and where each of its fields ends.
    output: Vec<u8>,
    ends: Vec<usize>,
    output_len: usize,
    ends_len: usize,
}

impl Tokenizer {
    fn new(delimiter: u8) -> Tokenizer {
        let reader = csv_core::ReaderBuilder::new()
            .delimiter(delimiter)
            .terminator(csv_core::Terminator::Any(b'\n'))
            .quote(b'"')
            .double_quote(true)
            .escape(None)
            .comment(None)
            .quoting(true)
            .build();
        let mut tokenizer = Tokenizer {
            reader,
            output: vec![0; 1024],
            ends: vec![0; 32],
            output_len: 0,
            ends_len: 0,
        };
        tokenizer.restart();
        tokenizer
    }

    /// Forgets the record being read.
    fn restart(&mut self) {
        self.reader.reset();
        self.output_len = 0;
        self.ends_len = 0;
        // A fresh reader drops a UTF-8 BOM at the start of its input; these lines are
        // decoded text, where U+FEFF is a character. A blank line gets it past that check.
        self.feed(b"\n");
    }

    /// Feeds one line and its line break; `true` when that completed the record.
    fn feed_line(&mut self, line: &str) -> bool {
        // Empty input would mean the end of the input.
        if !line.is_empty() {
            self.feed(line.as_bytes());
        }
        self.feed(b"\n")
    }

    /// Feeds `input` (empty: the end of the input); `true` when that completed the record.
    fn feed(&mut self, mut input: &[u8]) -> bool {
        loop {
            let (result, read, written, ended) = self.reader.read_record(
                input,
                &mut self.output[self.output_len..],
                &mut self.ends[self.ends_len..],
            );
            input = &input[read..];
            self.output_len += written;
            self.ends_len += ended;
            match result {
                csv_core::ReadRecordResult::InputEmpty => return false,
                csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End => {
                    return true
                }
                csv_core::ReadRecordResult::OutputFull => {
                    self.output.resize(self.output.len() * 2, 0)
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    self.ends.resize(self.ends.len() * 2, 0)
                }
            }
        }
    }

    /// The fields of the record just completed.
    fn take_fields(&mut self) -> Vec<String> {
        let mut start = 0;
        let fields = self.ends[..self.ends_len]
            .iter()
            .map(|&end| {
                let bytes = self.output.get(start..end).unwrap_or_default();
                start = end;
                String::from_utf8_lossy(bytes).into_owned()
            })
            .collect();
        self.output_len = 0;
        self.ends_len = 0;
        fields
    }

    /// Ends the record inside its open quoted field, which closes with the last line fed
    /// (without the line break fed after it).
    fn finish_open(&mut self) -> Vec<String> {
        self.feed(b"");
        let mut fields = self.take_fields();
        if let Some(last) = fields.last_mut() {
            if last.ends_with('\n') {
                last.pop();
            }
        }
        self.restart();
        fields
    }
}

/// How the first record says the file is laid out, if it is a delimited export at all.
pub fn layout(first: &[String]) -> Option<(Vec<Column>, bool)> {
    let named: Vec<Option<Column>> = first.iter().map(|f| column(f)).collect();
    let known = named
        .iter()
        .zip(first)
        .filter(|(c, f)| c.is_some_and(|c| c != Column::Ignored) && !f.trim().is_empty())
        .count();
    if known >= 3 {
        let mut columns: Vec<Column> = named
            .into_iter()
            .map(|c| c.unwrap_or(Column::Ignored))
            .collect();
        // Event Viewer's header names no description column; the text follows the last one.
        if !columns.contains(&Column::Description) {
            columns.push(Column::Description);
        }
        return Some((columns, true));
    }
    let classic = first.len() >= CLASSIC_COLUMNS.len()
        && first
            .first()
            .is_some_and(|d| Clock::new(None).read(d, None).ok().flatten().is_some())
        && first
            .get(5)
            .is_some_and(|id| fields::event_id(id).is_some());
    classic.then(|| (CLASSIC_COLUMNS.to_vec(), false))
}

/// Reads the records of a delimited export into events.
pub fn read_delimited(
    records: Vec<Result<Record, Problem>>,
    columns: &[Column],
    has_header: bool,
    delimiter: u8,
    clock: &mut Clock,
    sink: &mut dyn FnMut(Item),
) {
    for record in records.into_iter().skip(usize::from(has_header)) {
        match record {
            Ok(record) => read_row(&record, columns, delimiter, clock, sink),
            Err(problem) => sink(Err(problem)),
        }
    }
}

fn read_row(
    record: &Record,
    columns: &[Column],
    delimiter: u8,
    clock: &mut Clock,
    sink: &mut dyn FnMut(Item),
) {
    let line = record.line;
    let mut values: Vec<&str> = record.fields.iter().map(String::as_str).collect();
    // An unquoted description that holds the delimiter spills into extra fields.
    let spilled;
    if values.len() > columns.len() && columns.last() == Some(&Column::Description) {
        spilled = values[columns.len() - 1..].join(&char::from(delimiter).to_string());
        values.truncate(columns.len() - 1);
        values.push(&spilled);
    }
    let mut event = Event::new(String::new(), 0, Level::Information);
    event.origin.line = Some(line);
    let (mut date, mut time, mut written) = (None, None, None);
    let mut has_id = false;
    for (&column, &value) in columns.iter().zip(&values) {
        let value = value.trim_end_matches('\r');
        match column {
            Column::Date | Column::DateTime => date = Some(value),
            Column::Time => time = Some(value),
            Column::TimeWritten => written = Some(value),
            Column::Source => event.source = value.trim().to_owned(),
            Column::Level if !value.trim().is_empty() => event.level = fields::level(value),
            Column::Category => event.category = fields::category(value).or(event.category),
            Column::EventId => match fields::event_id(value) {
                Some((code, qualifiers)) => {
                    event.event_id = code;
                    event.qualifiers = qualifiers.or(event.qualifiers);
                    has_id = true;
                }
                None => {
                    sink(Err(Problem::at_line(
                        line,
                        format!("unreadable event ID {value:?}"),
                    )));
                    return;
                }
            },
            Column::Qualifiers => event.qualifiers = value.trim().parse().ok().or(event.qualifiers),
            Column::User => event.user = fields::account(value),
            Column::Computer => event.computer = fields::account(value),
            Column::Description => {
                event.message = (!value.trim().is_empty()).then(|| value.replace("\r\n", "\n"))
            }
            Column::Log => event.log = fields::account(value),
            Column::Record => event.record_number = value.trim().parse().ok(),
            Column::EventRecordId => event.event_record_id = value.trim().parse().ok(),
            Column::Provider => event.provider = (!value.is_empty()).then(|| value.to_owned()),
            Column::Data => match data(value) {
                Some(bytes) => event.data = bytes,
                None => {
                    sink(Err(Problem::at_line(
                        line,
                        format!("data column is not hex: {value:?}"),
                    )));
                    return;
                }
            },
            Column::Strings => event.strings = strings(value),
            Column::Level | Column::Ignored => {}
        }
    }
    if event.source.is_empty() && !has_id {
        sink(Err(Problem::at_line(
            line,
            "row without a source or an event ID",
        )));
        return;
    }
    if let Some(date) = date {
        match clock.read(date, time) {
            Ok(t) => event.time_generated = t,
            Err(error) => sink(Err(Problem::at_line(line, error.to_string()))),
        }
    }
    if let Some(written) = written {
        match clock.read(written, None) {
            Ok(t) => event.time_written = t,
            Err(error) => sink(Err(Problem::at_line(line, error.to_string()))),
        }
    }
    sink(Ok(event));
}

/// Hex data (`Some(Some(bytes))`); PowerShell's type name for data it did not write
/// (`Some(None)`); `None` for anything else.
fn data(value: &str) -> Option<Option<Vec<u8>>> {
    let value = value.trim();
    if value.starts_with("System.") {
        return Some(None);
    }
    let digits: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(digits).ok().map(Some)
}

/// evtdoctor's CSV writes insertion strings as a JSON array (its first releases joined them
/// with U+001F, still read); PowerShell writes a type name.
fn strings(value: &str) -> Vec<String> {
    if value.is_empty() || value.starts_with("System.") {
        return Vec::new();
    }
    match serde_json::from_str(value) {
        Ok(strings) => strings,
        Err(_) => value.split('\u{1f}').map(str::to_owned).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, delimiter: u8) -> Vec<Item> {
        let lines: Vec<&str> = text.lines().collect();
        let records = records(&lines, delimiter);
        let first = records[0].as_ref().unwrap().fields.clone();
        let (columns, header) = layout(&first).expect("delimited layout");
        let mut items = Vec::new();
        let mut clock = Clock::new(None);
        read_delimited(records, &columns, header, delimiter, &mut clock, &mut |i| {
            items.push(i)
        });
        items
    }

    fn fields(text: &str) -> Vec<Result<(u64, Vec<String>), u64>> {
        let lines: Vec<&str> = text.lines().collect();
        records(&lines, b',')
            .into_iter()
            .map(|r| match r {
                Ok(record) => Ok((record.line, record.fields)),
                Err(problem) => Err(problem.line.unwrap()),
            })
            .collect()
    }

    fn ok(line: u64, fields: &[&str]) -> Result<(u64, Vec<String>), u64> {
        Ok((line, fields.iter().map(|f| f.to_string()).collect()))
    }

    #[test]
    fn quotes_doubled_literal_and_after_closing() {
        assert_eq!(
            fields("\"a \"\"b\"\"\",x\"y\"z,\"q\"tail,\"\"\r\n\n  \n"),
            [ok(1, &["a \"b\"", "x\"y\"z", "qtail", ""])]
        );
    }

    #[test]
    fn quoted_field_spans_lines_keeping_blank_ones() {
        assert_eq!(
            fields("a,\"one, \r\n\ntwo\"\"\",b\nc,d\n"),
            [ok(1, &["a", "one, \n\ntwo\"", "b"]), ok(4, &["c", "d"])]
        );
    }

    #[test]
    fn damaged_line_ends_an_open_quoted_field() {
        assert_eq!(
            fields("a,\"one\nt\u{fffd}o\nb,c\n"),
            [ok(1, &["a", "one\nt\u{fffd}o"]), ok(3, &["b", "c"])]
        );
    }

    #[test]
    fn unterminated_quote_is_reported_at_its_line() {
        let mut text = String::from("a,b\nc,\"open\n");
        text.push_str(&"d,e\n".repeat(MAX_RECORD_LINES));
        let got = fields(&text);
        assert_eq!(got.len(), MAX_RECORD_LINES + 2);
        assert_eq!(got[..3], [ok(1, &["a", "b"]), Err(2), ok(3, &["d", "e"])]);
        assert_eq!(
            got[MAX_RECORD_LINES + 1],
            ok(MAX_RECORD_LINES as u64 + 2, &["d", "e"])
        );
        // Within the cap the quote closes on a later line.
        let mut text = String::from("c,\"open\n");
        text.push_str(&"x\n".repeat(MAX_RECORD_LINES - 2));
        text.push_str("end\",f\n");
        let got = fields(&text);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].as_ref().unwrap().1.len(), 3);
        // At the last line it does not.
        assert_eq!(
            fields("a\n\"open\nmore"),
            [ok(1, &["a"]), Err(2), ok(3, &["more"])]
        );
    }

    #[test]
    fn a_byte_order_mark_inside_the_text_stays() {
        assert_eq!(
            fields("\"x\nunclosed\n\u{feff}a,b\n"),
            [Err(1), ok(2, &["unclosed"]), ok(3, &["\u{feff}a", "b"])]
        );
    }

    #[test]
    fn many_long_fields_grow_the_buffers() {
        let long = "y".repeat(5000);
        let line = vec![long.as_str(); 100].join(",");
        let got = fields(&line);
        assert_eq!(got, [Ok((1, vec![long.clone(); 100]))]);
    }

    #[test]
    fn headerless_classic_tab_export() {
        let text = "7/1/2003\t10:00:05 AM\tMSExchangeKMS\tError\tNone\t5085\tN/A\tEXCH01\tKMS can not mount\r\n";
        let items = read(text, b'\t');
        let e = items[0].as_ref().unwrap();
        assert_eq!(
            (e.source.as_str(), e.event_id, e.level),
            ("MSExchangeKMS", 5085, Level::Error)
        );
        assert_eq!(e.category, Some(0));
        assert_eq!(e.computer.as_deref(), Some("EXCH01"));
        assert_eq!(e.message.as_deref(), Some("KMS can not mount"));
        assert_eq!(e.data, None);
        assert_eq!(
            e.time_generated.unwrap().to_rfc3339(),
            "2003-07-01T10:00:05+00:00"
        );
    }

    #[test]
    fn vista_csv_with_quoted_multiline_description() {
        let text = "Level,Date and Time,Source,Event ID,Task Category\n\
Error,7/1/2003 10:00:05 AM,MSExchangeKMS,5085,None,\"KMS can not mount, \"\"really\"\".\nSecond line.\"\n\
Information,7/1/2003 10:01:00 AM,EventLog,6005,None,The Event log service was started.\n";
        let items = read(text, b',');
        assert_eq!(items.len(), 2, "{items:?}");
        let first = items[0].as_ref().unwrap();
        assert_eq!(
            first.message.as_deref(),
            Some("KMS can not mount, \"really\".\nSecond line.")
        );
        let second = items[1].as_ref().unwrap();
        assert_eq!((second.event_id, second.origin.line), (6005, Some(4)));
    }

    #[test]
    fn powershell_get_eventlog_columns() {
        let text = "\"EventID\",\"MachineName\",\"Data\",\"Index\",\"Category\",\"CategoryNumber\",\"EntryType\",\"Message\",\"Source\",\"ReplacementStrings\",\"InstanceId\",\"TimeGenerated\",\"TimeWritten\",\"UserName\"\n\
\"5085\",\"EXCH01\",\"System.Byte[]\",\"42\",\"(0)\",\"0\",\"Error\",\"KMS can not mount\",\"MSExchangeKMS\",\"System.String[]\",\"3221230557\",\"7/1/2003 10:00:05 AM\",\"7/1/2003 10:00:06 AM\",\"\"\n";
        let items = read(text, b',');
        let e = items[0].as_ref().unwrap();
        assert_eq!(
            (e.event_id, e.qualifiers, e.record_number),
            (5085, Some(0xc000), Some(42))
        );
        assert_eq!(
            (e.data.clone(), e.strings.len(), e.user.clone()),
            (None, 0, None)
        );
        assert_eq!(
            e.time_written.unwrap().to_rfc3339(),
            "2003-07-01T10:00:06+00:00"
        );
    }

    #[test]
    fn powershell_get_winevent_columns() {
        let text = "\"Message\",\"Id\",\"Version\",\"Qualifiers\",\"Level\",\"Task\",\"Opcode\",\"Keywords\",\"RecordId\",\"ProviderName\",\"ProviderId\",\"LogName\",\"ProcessId\",\"ThreadId\",\"MachineName\",\"UserId\",\"TimeCreated\",\"LevelDisplayName\",\"TaskDisplayName\",\"Properties\"\n\
\"The session setup failed.\nSecond line.\",\"5805\",\"0\",\"0\",\"2\",\"0\",\"0\",\"36028797018963968\",\"63221\",\"NETLOGON\",\"\",\"System\",\"0\",\"0\",\"dc01\",\"S-1-5-18\",\"9/15/2020 7:28:49 PM\",\"Error\",\"None\",\"System.Collections.Generic.List`1[System.Diagnostics.Eventing.Reader.EventProperty]\"\n";
        let items = read(text, b',');
        assert_eq!(items.len(), 1, "{items:?}");
        let e = items[0].as_ref().unwrap();
        assert_eq!(
            (e.source.as_str(), e.event_id, e.level),
            ("NETLOGON", 5805, Level::Error)
        );
        assert_eq!(
            (e.qualifiers, e.category, e.record_number),
            (Some(0), Some(0), Some(63221))
        );
        assert_eq!(
            (e.log.as_deref(), e.computer.as_deref()),
            (Some("System"), Some("dc01"))
        );
        assert_eq!(e.user.as_deref(), Some("S-1-5-18"));
        assert_eq!(
            e.message.as_deref(),
            Some("The session setup failed.\nSecond line.")
        );
        assert_eq!((e.data.clone(), e.strings.len()), (None, 0));
        assert_eq!(
            e.time_generated.unwrap().to_rfc3339(),
            "2020-09-15T19:28:49+00:00"
        );
    }

    #[test]
    fn evtdoctor_csv_columns() {
        let text =
            "file,log,record_number,event_record_id,event_id,level,source,provider,strings\n\
x,System,7,9,6009,Information,EventLog,Microsoft-Windows-EventLog,\"[\"\"a,b\"\",\"\"\"\"]\"\n\
x,System,8,,6005,Information,EventLog,,old\u{1f}joined\n";
        let items = read(text, b',');
        let e = items[0].as_ref().unwrap();
        assert_eq!((e.record_number, e.event_record_id), (Some(7), Some(9)));
        assert_eq!(e.provider.as_deref(), Some("Microsoft-Windows-EventLog"));
        assert_eq!(e.strings, ["a,b", ""]);
        let e = items[1].as_ref().unwrap();
        assert_eq!((e.event_record_id, e.provider.as_deref()), (None, None));
        assert_eq!(e.strings, ["old", "joined"]);
    }

    #[test]
    fn bad_rows_are_reported_and_good_ones_kept() {
        let text = "Source,Event ID,Data,Level\nA,1,4142,Error\nB,x,41,Error\nC,3,zz,Error\n\"D,4\nE,5,,Warning\n";
        let items = read(text, b',');
        let lines: Vec<Result<u64, u64>> = items
            .iter()
            .map(|i| match i {
                Ok(e) => Ok(e.origin.line.unwrap()),
                Err(p) => Err(p.line.unwrap()),
            })
            .collect();
        assert_eq!(lines, [Ok(2), Err(3), Err(4), Err(5), Ok(6)]);
        assert_eq!(items[0].as_ref().unwrap().data.as_deref(), Some(&b"AB"[..]));
        assert_eq!(items[4].as_ref().unwrap().data.as_deref(), Some(&b""[..]));
    }
}
