//! FILETIME: 100-nanosecond ticks since 1601-01-01 UTC, the time stamp of .evtx records, BinXML
//! values and some ESE columns.

use chrono::{DateTime, Utc};
use std::fmt::Write;

/// Seconds from 1970 back to 1601-01-01, the FILETIME epoch.
pub const EPOCH_SECONDS: i64 = -11_644_473_600;
/// Ticks (100 ns) per second.
pub const TICKS_PER_SECOND: u64 = 10_000_000;

/// `ticks` as seconds and nanoseconds since 1970; `None` past what seconds can hold.
#[inline]
pub fn to_unix(ticks: u64) -> Option<(i64, u32)> {
    let seconds = i64::try_from(ticks / TICKS_PER_SECOND).ok()? + EPOCH_SECONDS;
    // Below 10^7 ticks, times 100: below 10^9 nanoseconds.
    Some((seconds, (ticks % TICKS_PER_SECOND) as u32 * 100))
}

/// `ticks` as a UTC time; zero means "not set" and gives `None`.
#[inline]
pub fn to_utc(ticks: u64) -> Option<DateTime<Utc>> {
    if ticks == 0 {
        return None;
    }
    let (seconds, nanos) = to_unix(ticks)?;
    DateTime::from_timestamp(seconds, nanos)
}

/// A UTC time as FILETIME ticks (below 100 ns dropped); `None` before 1601 or past the year
/// 60056.
pub fn from_utc(time: DateTime<Utc>) -> Option<u64> {
    let seconds = time.timestamp().checked_sub(EPOCH_SECONDS)?;
    // Leap-second instants carry nanoseconds past 999,999,999.
    let sub_ticks = u64::from(time.timestamp_subsec_nanos().min(999_999_999) / 100);
    u64::try_from(seconds)
        .ok()?
        .checked_mul(TICKS_PER_SECOND)?
        .checked_add(sub_ticks)
}

/// Appends `time` as `YYYY-MM-DDTHH:MM:SS.fffffffZ`: all seven digits of its ticks.
pub fn push_text(text: &mut String, time: DateTime<Utc>) -> Option<()> {
    write!(text, "{}", time.format("%Y-%m-%dT%H:%M:%S"))
        .and_then(|_| write!(text, ".{:07}Z", time.timestamp_subsec_nanos() / 100))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIX_EPOCH_TICKS: u64 = 116_444_736_000_000_000;

    #[test]
    fn ticks_count_from_1601() {
        let unix_epoch = DateTime::from_timestamp(0, 0).unwrap();
        assert_eq!(to_utc(UNIX_EPOCH_TICKS), Some(unix_epoch));
        assert_eq!(to_unix(1), Some((EPOCH_SECONDS, 100)));
        assert_eq!(to_unix(u64::MAX).map(|(s, _)| s), Some(1_833_029_933_770));
        // Zero is "not set"; the largest tick count is in the year 60056.
        assert_eq!(to_utc(0), None);
        let last = to_utc(u64::MAX).unwrap();
        assert_eq!(last.to_rfc3339(), "+60056-05-28T05:36:10.955161500+00:00");
        assert_eq!(from_utc(last), Some(u64::MAX));
    }

    #[test]
    fn times_round_trip() {
        for ticks in [
            1,
            UNIX_EPOCH_TICKS,
            132_767_929_493_700_000,
            2_650_467_743_999_999_999,
        ] {
            assert_eq!(to_utc(ticks).and_then(from_utc), Some(ticks));
        }
        let with_fraction = DateTime::from_timestamp(1, 123_456_789).unwrap();
        assert_eq!(from_utc(with_fraction), Some(UNIX_EPOCH_TICKS + 11_234_567));
        let before_1601 = DateTime::from_timestamp(EPOCH_SECONDS - 1, 0).unwrap();
        assert_eq!(from_utc(before_1601), None);
        let first = DateTime::from_timestamp(EPOCH_SECONDS, 0).unwrap();
        assert_eq!(from_utc(first), Some(0));
    }

    #[test]
    fn text_shows_every_tick() {
        let mut text = String::from(">");
        push_text(&mut text, to_utc(132_767_929_493_700_001).unwrap()).unwrap();
        assert_eq!(text, ">2021-09-22T14:02:29.3700001Z");
    }
}
