//! The record filters of `events`: event ids, sources, levels and a time window.

use crate::cli::{FilterArgs, LevelArg};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use evtdoctor_parsers::{Event, Level};

/// The record filters of `events`, parsed once.
pub struct EventFilter {
    ids: Vec<u16>,
    sources: Vec<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    levels: Vec<Level>,
}

impl EventFilter {
    pub fn from_args(args: &FilterArgs) -> Result<EventFilter, TimeError> {
        Ok(EventFilter {
            ids: args.ids.clone(),
            sources: args.source.iter().map(|s| s.to_lowercase()).collect(),
            since: args.since.as_deref().map(parse_time).transpose()?,
            until: args.until.as_deref().map(parse_time).transpose()?,
            levels: args.level.iter().map(|l| level_of(*l)).collect(),
        })
    }

    pub fn matches(&self, event: &Event) -> bool {
        if !self.ids.is_empty() && !self.ids.contains(&event.event_id) {
            return false;
        }
        let named = |name: &str| self.sources.contains(&name.to_lowercase());
        if !self.sources.is_empty()
            && !named(&event.source)
            && !event.provider.as_deref().is_some_and(named)
        {
            return false;
        }
        if !self.levels.is_empty() && !self.levels.contains(&event.level) {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(time) = event.time() else {
                return false;
            };
            if self.since.is_some_and(|since| time < since) {
                return false;
            }
            if self.until.is_some_and(|until| time >= until) {
                return false;
            }
        }
        true
    }
}

fn level_of(level: LevelArg) -> Level {
    match level {
        LevelArg::Critical => Level::Critical,
        LevelArg::Error => Level::Error,
        LevelArg::Warning => Level::Warning,
        LevelArg::Information => Level::Information,
        LevelArg::Verbose => Level::Verbose,
        LevelArg::AuditSuccess => Level::AuditSuccess,
        LevelArg::AuditFailure => Level::AuditFailure,
    }
}

/// A `--since`/`--until` time in none of the accepted forms.
#[derive(Debug, thiserror::Error)]
#[error("cannot read time {0:?}: use RFC 3339, `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD`")]
pub struct TimeError(String);

/// RFC 3339, `YYYY-MM-DD HH:MM[:SS]` (UTC) or `YYYY-MM-DD` (its midnight, UTC).
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, TimeError> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for pattern in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, pattern) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(TimeError(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_time_forms() {
        let want = "2003-07-01T10:00:00+00:00";
        for text in [
            "2003-07-01T10:00:00Z",
            "2003-07-01T12:00:00+02:00",
            "2003-07-01 10:00:00",
            "2003-07-01 10:00",
        ] {
            assert_eq!(parse_time(text).unwrap().to_rfc3339(), want, "{text}");
        }
        assert_eq!(
            parse_time("2003-07-01").unwrap().to_rfc3339(),
            "2003-07-01T00:00:00+00:00"
        );
        assert!(parse_time("July 1st").is_err());
    }

    #[test]
    fn filter_combines_all_conditions() {
        let args = FilterArgs {
            ids: vec![5085],
            source: vec!["msexchangekms".into()],
            since: Some("2003-07-01".into()),
            until: None,
            level: vec![LevelArg::Error],
        };
        let filter = EventFilter::from_args(&args).unwrap();
        let mut event = Event::new("MSExchangeKMS", 5085, Level::Error);
        event.time_generated = Some(parse_time("2003-07-02").unwrap());
        assert!(filter.matches(&event));
        event.time_generated = Some(parse_time("2003-06-30").unwrap());
        assert!(!filter.matches(&event));
        event.time_generated = None;
        assert!(!filter.matches(&event));
        let other = Event::new("MSExchangeKMS", 5057, Level::Error);
        assert!(!filter.matches(&other));
    }
}
