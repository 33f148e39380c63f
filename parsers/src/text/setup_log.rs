//! Setup logs of the Windows package installer (update.exe): `%windir%\svcpack.log` for
//! service packs, `KBnnnnnn.log` / `Qnnnnnn.log` for hotfixes. Every line is
//! `<seconds since the installer started>: <message>` (the decimal separator follows the
//! locale); each run appends a session that opens with the local start time
//! (`2003/06/30 22:14:05.093 (local)`) and, when the installer got that far, ends with
//! `Update.exe extended error code = 0x...` (0 is success). One session becomes one event:
//! log `Setup log`, source `Update.exe`, event id 0, strings
//! `[kind, package, outcome, command line, update.exe version, first error]`.

use super::clock::Clock;
use crate::{Event, Item, Level, Problem};
use chrono::Duration;

/// The log name and source every session event carries.
pub const SETUP_LOG: &str = "Setup log";
pub const SETUP_SOURCE: &str = "Update.exe";

/// Where a session's facts sit in [`Event::strings`].
pub mod field {
    pub const KIND: usize = 0;
    pub const PACKAGE: usize = 1;
    pub const OUTCOME: usize = 2;
    pub const COMMAND_LINE: usize = 3;
    pub const VERSION: usize = 4;
    pub const ERROR: usize = 5;
}

/// Whether a session event's run succeeded (`Some(false)`: failed; `None`: it did not finish),
/// as its level records it.
pub fn run_succeeded(event: &Event) -> Option<bool> {
    match event.level {
        Level::Information => Some(true),
        Level::Warning => None,
        _ => Some(false),
    }
}

/// How many of the first non-blank lines are sampled to recognise a setup log.
const SAMPLED_LINES: usize = 5;

/// True when most of the first non-blank lines carry the installer's elapsed-time prefix.
pub fn looks_like_setup_log(lines: &[&str]) -> bool {
    let sample: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.trim().is_empty())
        .take(SAMPLED_LINES)
        .collect();
    let stamped = sample.iter().filter(|l| stamped_line(l).is_some()).count();
    stamped >= 2 && stamped * 2 > sample.len()
}

/// `(elapsed seconds, message)` of a line with the installer's prefix.
fn stamped_line(line: &str) -> Option<(f64, &str)> {
    let line = line.trim_start();
    let (stamp, message) = line.split_once(':')?;
    let (whole, fraction) = stamp.split_once(['.', ','])?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) || !(message.is_empty() || message.starts_with(' ')) {
        return None;
    }
    let seconds = format!("{whole}.{fraction}").parse().ok()?;
    Some((seconds, message.trim()))
}

/// One installer run as the log tells it.
#[derive(Debug, Default)]
struct Session {
    /// 1-based line of the session's first line.
    line: u64,
    started: Option<chrono::DateTime<chrono::Utc>>,
    /// Elapsed seconds at the start line and at the last stamped line.
    first_elapsed: Option<f64>,
    last_elapsed: Option<f64>,
    kind: Option<String>,
    command_line: Option<String>,
    version: Option<String>,
    package: Option<String>,
    exit_code: Option<u32>,
    error: Option<String>,
}

/// Reads every session of a setup log, in file order.
pub fn read_setup_log(lines: &[&str], clock: &mut Clock, emit: &mut dyn FnMut(Item)) {
    let mut session: Option<Session> = None;
    for (index, raw) in lines.iter().enumerate() {
        let number = index as u64 + 1;
        let Some((elapsed, message)) = stamped_line(raw) else {
            continue; // a wrapped continuation or a separator: nothing to learn
        };
        if !message.is_empty() && message.bytes().all(|b| b == b'=') {
            // A run's banner: it ends the run before and opens the next one.
            match session.take() {
                Some(banner) if banner.says_nothing() => session = Some(banner),
                done => {
                    if let Some(done) = done {
                        emit(Ok(done.into_event()));
                    }
                    session = Some(Session {
                        line: number,
                        ..Session::default()
                    });
                }
            }
            continue;
        }
        if let Some(start) = start_time(message) {
            // A run's banner (`=====`) comes just before its start line: one session.
            let mut fresh = match session.take() {
                Some(banner) if banner.says_nothing() => banner,
                Some(done) => {
                    emit(Ok(done.into_event()));
                    Session {
                        line: number,
                        ..Session::default()
                    }
                }
                None => Session {
                    line: number,
                    ..Session::default()
                },
            };
            fresh.first_elapsed = Some(elapsed);
            match clock.read(start, None) {
                Ok(time) => fresh.started = time,
                Err(e) => emit(Err(Problem::at_line(number, format!("setup log: {e}")))),
            }
            session = Some(fresh);
        }
        let current = session.get_or_insert_with(|| Session {
            line: number,
            ..Session::default()
        });
        current.note(elapsed, message);
    }
    if let Some(done) = session {
        emit(Ok(done.into_event()));
    }
}

/// The date and time of a session's start line, without the `(local)` marker.
fn start_time(message: &str) -> Option<&str> {
    let stamp = message.strip_suffix("(local)")?.trim();
    let looks_dated = stamp.len() >= 19
        && stamp.as_bytes().get(4) == Some(&b'/')
        && stamp.bytes().take(4).all(|b| b.is_ascii_digit());
    looks_dated.then_some(stamp)
}

impl Session {
    /// Nothing learned yet (only banner lines): the next start line continues it.
    fn says_nothing(&self) -> bool {
        self.started.is_none()
            && self.first_elapsed.is_none()
            && self.kind.is_none()
            && self.version.is_none()
            && self.package.is_none()
            && self.exit_code.is_none()
            && self.error.is_none()
    }

    fn note(&mut self, elapsed: f64, message: &str) {
        self.last_elapsed = Some(elapsed);
        let lower = message.to_ascii_lowercase();
        if let Some(at) = lower.find(" started with following command line:") {
            self.kind
                .get_or_insert_with(|| message[..at].trim().to_owned());
            let rest = &message[at + " started with following command line:".len()..];
            self.command_line
                .get_or_insert_with(|| rest.trim().to_owned());
        } else if let Some(version) = installer_version(&lower, message) {
            self.version.get_or_insert(version);
        } else if let Some(code) = lower.strip_prefix("update.exe extended error code =") {
            self.exit_code = parse_code(code.trim());
        } else if is_error_line(&lower) {
            self.error.get_or_insert_with(|| message.to_owned());
        }
        if self.package.is_none() {
            self.package = package_name(message);
        }
    }

    fn into_event(self) -> Event {
        let outcome = match (self.exit_code, &self.error) {
            (Some(0), _) => "succeeded (extended error code 0x0)".to_owned(),
            (Some(code), _) => format!("failed (extended error code {code:#x})"),
            (None, Some(_)) => "failed (no exit code logged)".to_owned(),
            (None, None) => "did not finish (no exit code logged)".to_owned(),
        };
        let level = match (self.exit_code, &self.error) {
            (Some(0), _) => Level::Information,
            (Some(_), _) | (None, Some(_)) => Level::Error,
            (None, None) => Level::Warning,
        };
        let kind = self.kind.unwrap_or_else(|| "Update".to_owned());
        let mut event = Event::new(SETUP_SOURCE, 0, level);
        event.log = Some(SETUP_LOG.to_owned());
        event.time_generated = self.started;
        event.time_written = match (self.started, self.first_elapsed, self.last_elapsed) {
            (Some(start), Some(first), Some(last)) if last >= first => {
                Duration::try_milliseconds(((last - first) * 1000.0).round() as i64)
                    .and_then(|d| start.checked_add_signed(d))
            }
            _ => None,
        };
        event.message = Some(format!(
            "{kind} setup{}{}: {outcome}",
            self.package
                .as_deref()
                .map(|p| format!(" of {p}"))
                .unwrap_or_default(),
            self.version
                .as_deref()
                .map(|v| format!(" by update.exe {v}"))
                .unwrap_or_default(),
        ));
        event.strings = vec![
            kind,
            self.package.unwrap_or_default(),
            outcome,
            self.command_line.unwrap_or_default(),
            self.version.unwrap_or_default(),
            self.error.unwrap_or_default(),
        ];
        event.data = None;
        event.origin.line = Some(self.line);
        event
    }
}

/// `...\update\update.exe (version 5.4.16.0)`.
fn installer_version(lower: &str, message: &str) -> Option<String> {
    let at = lower.find("update.exe (version ")?;
    let rest = &message[at + "update.exe (version ".len()..];
    let version = rest.split(')').next()?.trim();
    (!version.is_empty()).then(|| version.to_owned())
}

fn parse_code(text: &str) -> Option<u32> {
    let hex = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))?;
    u32::from_str_radix(hex.split_whitespace().next()?, 16).ok()
}

/// Lines by which the installer reports a failure to the user or gives up.
fn is_error_line(lower: &str) -> bool {
    [
        "setup encountered an error",
        "installation did not complete",
        "message displayed to the user:",
    ]
    .iter()
    .any(|marker| lower.contains(marker))
}

/// The first hotfix (`KB123456`, `Q123456`) or service pack (`Service Pack 4`) a line names.
fn package_name(message: &str) -> Option<String> {
    for word in message.split(|c: char| !c.is_ascii_alphanumeric()) {
        let upper = word.to_ascii_uppercase();
        let number = upper.strip_prefix("KB").or_else(|| upper.strip_prefix('Q'));
        if number
            .is_some_and(|n| (5..=7).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
        {
            return Some(upper);
        }
    }
    let lower = message.to_ascii_lowercase();
    let at = lower.find("service pack ")?;
    let number: String = message[at + "service pack ".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!number.is_empty()).then(|| format!("Service Pack {number}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::clock::TimeBasis;

    const LOG: &str = "\
0.000: ========================================================================
0.000: 2003/06/30 22:14:05.093 (local)
0.000: c:\\sp4\\i386\\update\\update.exe (version 5.4.16.0)
0.010: Service Pack started with following command line: -q -z
12.500: Installing Windows 2000 Service Pack 4
611.984: Update.exe extended error code = 0x0
0.000: 2003/07/02 08:01:10.500 (local)
0,000: d:\\q823182\\update\\update.exe (version 5.4.16.0)
0,015: Hotfix started with following command line: /m
3,250: Q823182 Setup encountered an error: The update.ver file is not correct.
   (wrapped continuation)
4,000: Update.exe extended error code = 0xf01e
";

    fn read(text: &str, clock: &mut Clock) -> Vec<Item> {
        let lines: Vec<&str> = text.lines().collect();
        let mut items = Vec::new();
        read_setup_log(&lines, clock, &mut |i| items.push(i));
        items
    }

    #[test]
    fn each_run_is_one_event_with_its_outcome() {
        let lines: Vec<&str> = LOG.lines().collect();
        assert!(looks_like_setup_log(&lines));
        let mut clock = Clock::new(None);
        let items = read(LOG, &mut clock);
        assert_eq!(clock.basis(), TimeBasis::AssumedUtc);
        let events: Vec<Event> = items.into_iter().map(Result::unwrap).collect();
        assert_eq!(events.len(), 2);
        let sp = &events[0];
        assert_eq!(
            sp.strings,
            [
                "Service Pack",
                "Service Pack 4",
                "succeeded (extended error code 0x0)",
                "-q -z",
                "5.4.16.0",
                ""
            ]
        );
        assert_eq!(sp.level, Level::Information);
        assert_eq!(sp.origin.line, Some(1));
        assert_eq!(
            sp.time_generated.unwrap().to_rfc3339(),
            "2003-06-30T22:14:05.093+00:00"
        );
        assert_eq!(
            sp.time_written.unwrap().to_rfc3339(),
            "2003-06-30T22:24:17.077+00:00"
        );
        assert_eq!(
            sp.message.as_deref(),
            Some("Service Pack setup of Service Pack 4 by update.exe 5.4.16.0: succeeded (extended error code 0x0)")
        );
        let hotfix = &events[1];
        assert_eq!(hotfix.strings[field::PACKAGE], "Q823182");
        assert_eq!(
            hotfix.strings[field::OUTCOME],
            "failed (extended error code 0xf01e)"
        );
        assert_eq!(
            hotfix.strings[field::ERROR],
            "Q823182 Setup encountered an error: The update.ver file is not correct."
        );
        assert_eq!(hotfix.level, Level::Error);
        assert_eq!(hotfix.origin.line, Some(7));
    }

    #[test]
    fn a_cut_off_run_did_not_finish_and_odd_dates_are_problems() {
        let text = "0.000: 2003/13/45 22:14:05.093 (local)\n0.010: Hotfix started with following command line: \n";
        let items = read(text, &mut Clock::new(None));
        assert_eq!(items.len(), 2);
        let problem = items[0].as_ref().unwrap_err();
        assert_eq!(problem.line, Some(1));
        let event = items[1].as_ref().unwrap();
        assert_eq!(event.time_generated, None);
        assert_eq!(
            event.strings[field::OUTCOME],
            "did not finish (no exit code logged)"
        );
        assert_eq!(event.level, Level::Warning);
    }

    #[test]
    fn other_text_is_not_a_setup_log() {
        assert!(!looks_like_setup_log(&[
            "Event Type: Error",
            "Event ID: 5085"
        ]));
        assert!(!looks_like_setup_log(&["10:00: lunch", "nothing"]));
        assert!(!looks_like_setup_log(&["1.5:no space", "2.5:again"]));
    }
}
