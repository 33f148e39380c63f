//! The time axis of a timeline drawing: times to x positions on a linear scale, and tick
//! labels whose unit suits the span (minutes for hours, days for weeks, years for decades).

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Utc};

/// At most this many ticks on an axis (labels stay apart on the narrowest page).
const MAX_TICKS: i64 = 8;

/// A drawing never spans less than this, so one event alone still gets an axis.
const MIN_SPAN_SECONDS: i64 = 600;

/// Tick spacings, finest first.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    Seconds(i64),
    Months(i64),
}

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

const STEPS: [Step; 18] = [
    Step::Seconds(MINUTE),
    Step::Seconds(5 * MINUTE),
    Step::Seconds(15 * MINUTE),
    Step::Seconds(30 * MINUTE),
    Step::Seconds(HOUR),
    Step::Seconds(3 * HOUR),
    Step::Seconds(6 * HOUR),
    Step::Seconds(12 * HOUR),
    Step::Seconds(DAY),
    Step::Seconds(2 * DAY),
    Step::Seconds(7 * DAY),
    Step::Months(1),
    Step::Months(3),
    Step::Months(6),
    Step::Months(12),
    Step::Months(24),
    Step::Months(60),
    Step::Months(120),
];

impl Step {
    fn approx_seconds(self) -> i64 {
        match self {
            Step::Seconds(s) => s,
            Step::Months(m) => m * 2_629_746, // a mean Gregorian month
        }
    }
}

/// Times from `start` to `end` mapped onto x from `x0` to `x1`.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    x0: f64,
    x1: f64,
}

impl Scale {
    /// A scale over the span, widened to [`MIN_SPAN_SECONDS`] around its middle when shorter,
    /// with `pad` (a fraction of the span) added on both sides so edge marks stay whole.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>, pad: f64, x0: f64, x1: f64) -> Scale {
        let (start, end) = if end < start {
            (end, start)
        } else {
            (start, end)
        };
        let span = (end - start).num_seconds();
        let (start, end) = if span < MIN_SPAN_SECONDS {
            let widen = Duration::seconds((MIN_SPAN_SECONDS - span) / 2 + 1);
            (start - widen, end + widen)
        } else {
            (start, end)
        };
        let margin = Duration::seconds(((end - start).num_seconds() as f64 * pad) as i64);
        Scale {
            start: start - margin,
            end: end + margin,
            x0,
            x1,
        }
    }

    pub fn seconds(&self) -> i64 {
        (self.end - self.start).num_seconds().max(1)
    }

    pub fn contains(&self, time: DateTime<Utc>) -> bool {
        self.start <= time && time <= self.end
    }

    /// The x of a time (outside the span, beyond the plot's ends).
    pub fn x(&self, time: DateTime<Utc>) -> f64 {
        let fraction = (time - self.start).num_seconds() as f64 / self.seconds() as f64;
        self.x0 + fraction * (self.x1 - self.x0)
    }

    pub fn x_range(&self) -> (f64, f64) {
        (self.x0, self.x1)
    }

    /// Tick times and their labels, in the zone given.
    pub fn ticks(&self, zone: FixedOffset) -> Vec<(DateTime<Utc>, String)> {
        let span = self.seconds();
        let step = STEPS
            .into_iter()
            .find(|step| span / step.approx_seconds() <= MAX_TICKS)
            .unwrap_or_else(|| {
                // Centuries and beyond (a damaged timestamp): whole powers of ten of years.
                let mut months = 1200;
                while span / Step::Months(months).approx_seconds() > MAX_TICKS {
                    months *= 10;
                }
                Step::Months(months)
            });
        let format = match step {
            Step::Seconds(s) if s < DAY && span <= DAY => "%H:%M",
            Step::Seconds(s) if s < DAY => "%m-%d %H:%M",
            Step::Seconds(_) => "%Y-%m-%d",
            Step::Months(m) if m < 12 => "%Y-%m",
            Step::Months(_) => "%Y",
        };
        let times = match step {
            Step::Seconds(s) => self.fixed_ticks(s, zone),
            Step::Months(m) => self.month_ticks(m, zone),
        };
        times
            .into_iter()
            .map(|t| (t, t.with_timezone(&zone).format(format).to_string()))
            .collect()
    }

    /// Multiples of `step` seconds of local time (so days start at local midnight).
    fn fixed_ticks(&self, step: i64, zone: FixedOffset) -> Vec<DateTime<Utc>> {
        let shift = i64::from(zone.local_minus_utc());
        let first = (self.start.timestamp() + shift).div_euclid(step) * step + step;
        (0..=MAX_TICKS * 2)
            .map(|i| first + i * step - shift)
            .filter_map(|secs| DateTime::from_timestamp(secs, 0))
            .take_while(|t| *t <= self.end)
            .collect()
    }

    /// The first day of every `months`-th month (of every `months / 12`-th year), local time.
    fn month_ticks(&self, months: i64, zone: FixedOffset) -> Vec<DateTime<Utc>> {
        let local = self.start.with_timezone(&zone);
        let index = i64::from(local.year()) * 12 + i64::from(local.month0());
        let first = index.div_euclid(months) * months + months;
        (0..=MAX_TICKS * 2)
            .map(|i| first + i * months)
            .filter_map(|index| {
                let year = i32::try_from(index.div_euclid(12)).ok()?;
                let month = u32::try_from(index.rem_euclid(12)).ok()? + 1;
                let midnight = NaiveDate::from_ymd_opt(year, month, 1)?.and_hms_opt(0, 0, 0)?;
                zone.from_local_datetime(&midnight)
                    .single()
                    .map(|t| t.with_timezone(&Utc))
            })
            .take_while(|t| *t <= self.end)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn labels(start: &str, end: &str, zone: FixedOffset) -> Vec<String> {
        Scale::new(utc(start), utc(end), 0.0, 0.0, 100.0)
            .ticks(zone)
            .into_iter()
            .map(|(_, label)| label)
            .collect()
    }

    #[test]
    fn hours_get_minute_labels_in_the_zone_given() {
        let plus2 = FixedOffset::east_opt(2 * 3600).unwrap();
        assert_eq!(
            labels("2003-07-01T21:29:00Z", "2003-07-01T21:55:00Z", plus2),
            ["23:30", "23:35", "23:40", "23:45", "23:50", "23:55"]
        );
    }

    #[test]
    fn a_month_gets_weekly_day_labels_and_decades_get_years() {
        let utc_zone = FixedOffset::east_opt(0).unwrap();
        let month = labels("2003-06-02T07:58:12Z", "2003-07-01T21:52:10Z", utc_zone);
        assert_eq!(month.len(), 4);
        assert!(month
            .iter()
            .all(|l| l.len() == 10 && l.starts_with("2003-0")));
        assert_eq!(
            labels("1999-03-01T00:00:00Z", "2012-01-01T00:00:00Z", utc_zone),
            ["2000", "2002", "2004", "2006", "2008", "2010", "2012"]
        );
    }

    #[test]
    fn positions_are_linear_and_one_instant_still_has_a_span() {
        let t = utc("2003-07-01T21:52:10Z");
        let scale = Scale::new(t, t, 0.0, 100.0, 200.0);
        assert_eq!(scale.seconds(), MIN_SPAN_SECONDS + 2);
        assert!((scale.x(t) - 150.0).abs() < 0.01);
        assert!(!scale.ticks(FixedOffset::east_opt(0).unwrap()).is_empty());
    }

    #[test]
    fn a_damaged_timestamp_far_in_the_future_keeps_few_ticks() {
        let ticks = Scale::new(
            utc("1601-01-01T00:00:00Z"),
            utc("9999-01-01T00:00:00Z"),
            0.0,
            0.0,
            100.0,
        )
        .ticks(FixedOffset::east_opt(0).unwrap());
        assert!((1..=MAX_TICKS as usize).contains(&ticks.len()), "{ticks:?}");
    }
}
