//! Times as text exports write them: a date and a wall-clock time without a zone (the exporting
//! machine's local time), or RFC 3339 with one. Zone-less times are read with the offset the
//! user gives; without one they are taken as UTC and the read says so.
//!
//! Dates: `M/D/YYYY` (Event Viewer's US default; read as `D/M/YYYY` only when the first number
//! cannot be a month), `YYYY-MM-DD` or `YYYY/MM/DD`, `D.M.YYYY`. A day-first date whose day is
//! 12 or less cannot be told from a month-first one and is read month-first. Times: `H:MM[:SS[.fraction]]` with optional
//! `AM`/`PM`.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use serde::{Serialize, Serializer};

/// How the times of a text input were turned into UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBasis {
    /// Every time carried its zone (or there were no zone-less times).
    Utc,
    /// Zone-less times were read as UTC because no offset was given.
    AssumedUtc,
    /// Zone-less times were read with this offset.
    Offset(FixedOffset),
    /// Zone-less times were read with this offset, inferred from events a binary log also
    /// holds (no offset was given).
    Inferred(FixedOffset),
}

impl TimeBasis {
    /// `utc`, `assumed_utc`, the offset (`+02:00`) or the inferred one (`inferred +02:00`).
    pub fn label(&self) -> String {
        match self {
            TimeBasis::Utc => "utc".into(),
            TimeBasis::AssumedUtc => "assumed_utc".into(),
            TimeBasis::Offset(offset) => offset.to_string(),
            TimeBasis::Inferred(offset) => format!("inferred {offset}"),
        }
    }
}

impl Serialize for TimeBasis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.label())
    }
}

/// A `--tz` value that is no fixed offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("time zone {0:?}: give a fixed offset such as +02:00, -0500 or UTC")]
pub struct OffsetError(String);

/// Reads `+02:00`, `-0500`, `+2`, `UTC` or `Z` as a fixed offset.
pub fn parse_offset(text: &str) -> Result<FixedOffset, OffsetError> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("utc") || text.eq_ignore_ascii_case("z") {
        return Ok(FixedOffset::east_opt(0).expect("zero offset is valid"));
    }
    let invalid = || OffsetError(text.to_owned());
    let (sign, digits) = match (text.strip_prefix('+'), text.strip_prefix('-')) {
        (Some(digits), _) => (1, digits),
        (_, Some(digits)) => (-1, digits),
        _ => return Err(invalid()),
    };
    let (hours, minutes) = match digits.split_once(':') {
        Some((h, m)) => (h, m),
        None if digits.len() == 4 => digits.split_at(2),
        None => (digits, "0"),
    };
    let number = |part: &str| -> Option<i32> {
        (!part.is_empty() && part.len() <= 2 && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    let (Some(h), Some(m)) = (number(hours), number(minutes)) else {
        return Err(invalid());
    };
    if h > 14 || m > 59 {
        return Err(invalid());
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(invalid)
}

/// An export's date or time field with digits in no known form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    #[error("unreadable date {0:?}")]
    Date(String),
    #[error("unreadable time {0:?}")]
    Time(String),
}

/// Turns export times into UTC and remembers whether any of them had no zone.
#[derive(Debug, Clone)]
pub struct Clock {
    offset: Option<FixedOffset>,
    read_local: bool,
}

impl Clock {
    pub fn new(offset: Option<FixedOffset>) -> Clock {
        Clock {
            offset,
            read_local: false,
        }
    }

    pub fn basis(&self) -> TimeBasis {
        match (self.read_local, self.offset) {
            (false, _) => TimeBasis::Utc,
            (true, None) => TimeBasis::AssumedUtc,
            (true, Some(offset)) => TimeBasis::Offset(offset),
        }
    }

    /// A date and an optional separate time field (`Date:` / `Time:`), or one field holding
    /// both. `Ok(None)` for placeholders without digits (`Date: Date`, empty); `Err` for text
    /// with digits that is no known form.
    pub fn read(
        &mut self,
        date: &str,
        time: Option<&str>,
    ) -> Result<Option<DateTime<Utc>>, ClockError> {
        let date = date.trim();
        if !date.bytes().any(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        if time.is_none() {
            if let Ok(zoned) = DateTime::parse_from_rfc3339(date) {
                return Ok(Some(zoned.with_timezone(&Utc)));
            }
        }
        let (date_part, inline_time) =
            match date.split_once(|c: char| c.is_whitespace() || c == 'T') {
                Some((d, t)) => (d, Some(t.trim())),
                None => (date, None),
            };
        let day = parse_date(date_part).ok_or_else(|| ClockError::Date(date.to_owned()))?;
        let clock_text = match time.map(str::trim) {
            Some(t) if t.bytes().any(|b| b.is_ascii_digit()) => Some(t),
            _ => inline_time,
        };
        let wall = match clock_text {
            Some(t) => parse_time(t).ok_or_else(|| ClockError::Time(t.to_owned()))?,
            None => NaiveTime::MIN,
        };
        Ok(Some(self.local_to_utc(day.and_time(wall))))
    }

    fn local_to_utc(&mut self, local: NaiveDateTime) -> DateTime<Utc> {
        self.read_local = true;
        match self.offset {
            Some(offset) => match offset.from_local_datetime(&local).single() {
                Some(t) => t.with_timezone(&Utc),
                None => local.and_utc(),
            },
            None => local.and_utc(),
        }
    }
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    let separator = [b'/', b'-', b'.']
        .into_iter()
        .find(|&s| text.as_bytes().contains(&s))?;
    let parts: Vec<&str> = text.split(char::from(separator)).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    let number = |p: &str| -> Option<u32> {
        (!p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse().ok())
            .flatten()
    };
    let (a, b, c) = (number(a)?, number(b)?, number(c)?);
    let full_year = |y: u32| {
        if y < 100 {
            if y < 70 {
                2000 + y
            } else {
                1900 + y
            }
        } else {
            y
        }
    };
    let (year, month, day) = match separator {
        _ if a > 31 => (a, b, c),
        b'.' => (full_year(c), b, a),
        b'/' if a > 12 => (full_year(c), b, a),
        b'/' => (full_year(c), a, b),
        _ => return None,
    };
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
}

fn parse_time(text: &str) -> Option<NaiveTime> {
    let upper = text.trim().to_ascii_uppercase();
    let (clock, meridiem) = if let Some(rest) = upper.strip_suffix("AM") {
        (rest.trim(), Some(false))
    } else if let Some(rest) = upper.strip_suffix("PM") {
        (rest.trim(), Some(true))
    } else {
        (upper.as_str(), None)
    };
    let mut parts = clock.split(':');
    let hour: u32 = parts.next()?.parse().ok()?;
    let minute: u32 = parts.next()?.parse().ok()?;
    let (second, nanos) = match parts.next() {
        Some(s) => parse_seconds(s)?,
        None => (0, 0),
    };
    if parts.next().is_some() {
        return None;
    }
    let hour = match meridiem {
        Some(_) if !(1..=12).contains(&hour) => return None,
        Some(false) => hour % 12,
        Some(true) => hour % 12 + 12,
        None => hour,
    };
    NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
}

/// `05` or `05.1234567` (up to 9 fraction digits).
fn parse_seconds(text: &str) -> Option<(u32, u32)> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || fraction.len() > 9 {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos = if fraction.is_empty() {
        0
    } else {
        fraction.parse::<u32>().ok()? * 10u32.pow(9 - fraction.len() as u32)
    };
    Some((whole.parse().ok()?, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(clock: &mut Clock, date: &str, time: Option<&str>) -> String {
        clock.read(date, time).unwrap().unwrap().to_rfc3339()
    }

    #[test]
    fn reads_export_forms_as_utc_by_default() {
        let mut clock = Clock::new(None);
        assert_eq!(clock.basis(), TimeBasis::Utc);
        let want = "2003-07-01T22:00:05+00:00";
        assert_eq!(utc(&mut clock, "7/1/2003", Some("10:00:05 PM")), want);
        assert_eq!(utc(&mut clock, "7/1/2003 10:00:05 PM", None), want);
        assert_eq!(utc(&mut clock, "2003-07-01 22:00:05", None), want);
        assert_eq!(utc(&mut clock, "01.07.2003", Some("22:00:05")), want);
        assert_eq!(utc(&mut clock, "2003/07/01", Some("22:00:05")), want);
        assert_eq!(
            utc(&mut clock, "13/7/2003", Some("12:00:00 AM")),
            "2003-07-13T00:00:00+00:00"
        );
        assert_eq!(clock.basis(), TimeBasis::AssumedUtc);
    }

    #[test]
    fn offsets_shift_local_times_and_zoned_times_stay() {
        let mut clock = Clock::new(Some(parse_offset("+02:00").unwrap()));
        assert_eq!(
            utc(&mut clock, "2003-07-01T10:00:05Z", None),
            "2003-07-01T10:00:05+00:00"
        );
        assert_eq!(clock.basis(), TimeBasis::Utc);
        assert_eq!(
            utc(&mut clock, "7/1/2003", Some("10:00:05 AM")),
            "2003-07-01T08:00:05+00:00"
        );
        assert_eq!(clock.basis().label(), "+02:00");
    }

    #[test]
    fn placeholders_are_no_time_and_junk_is_an_error() {
        let mut clock = Clock::new(None);
        assert_eq!(clock.read("Date", Some("Time")), Ok(None));
        assert_eq!(clock.read("", None), Ok(None));
        let mut error = |date, time| clock.read(date, time).unwrap_err().to_string();
        assert_eq!(error("13/13/2003", None), "unreadable date \"13/13/2003\"");
        assert_eq!(
            error("7/1/2003", Some("25:00:00")),
            "unreadable time \"25:00:00\""
        );
        assert_eq!(
            error("7/1/2003", Some("13:00 PM")),
            "unreadable time \"13:00 PM\""
        );
        assert_eq!(clock.basis(), TimeBasis::Utc);
    }

    #[test]
    fn offsets_parse_in_their_usual_spellings() {
        assert_eq!(parse_offset("-0500").unwrap().local_minus_utc(), -5 * 3600);
        assert_eq!(
            parse_offset("+5:30").unwrap().local_minus_utc(),
            5 * 3600 + 1800
        );
        assert_eq!(parse_offset("+2").unwrap().local_minus_utc(), 7200);
        assert_eq!(parse_offset("utc").unwrap().local_minus_utc(), 0);
        assert_eq!(
            parse_offset("Europe/Berlin").unwrap_err().to_string(),
            "time zone \"Europe/Berlin\": give a fixed offset such as +02:00, -0500 or UTC"
        );
        assert!(parse_offset("+25:00").is_err());
    }
}
