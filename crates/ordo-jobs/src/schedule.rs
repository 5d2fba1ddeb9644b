//! When a periodic job runs: on a fixed period, or on a cron expression.
//!
//! Both name their runs by a *tick*, the latest time the schedule fired at
//! or before now. Every process computes the same ticks (periods are aligned
//! to the Unix epoch, cron expressions are read in UTC), and each tick is
//! claimed in the database before its job is enqueued, so a tick runs once
//! however many workers there are. A worker that starts after a tick it
//! never saw runs that latest tick, once: a missed nightly job runs when
//! the workers come back, not a day late.
//!
//! Cron expressions are parsed by `croner`: five fields (minute, hour, day
//! of month, month, day of week) or six with seconds first, with ranges,
//! steps, lists, names (`MON`, `JAN`), `L`, `W`, `#` and the `@daily`
//! style nicknames.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use ordo_domain::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A periodic job's schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Every so often, aligned to the Unix epoch.
    Every(Duration),
    /// Whenever the cron expression matches, in UTC.
    Cron(Box<croner::Cron>),
}

/// Why a cron expression was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("`{expression}` is not a cron expression: {reason}")]
    Invalid { expression: String, reason: String },
    #[error("`{0}` never fires")]
    NeverFires(String),
}

impl Schedule {
    /// Parses `expression` as a cron expression (read in UTC), refusing one
    /// that parses but never fires (the 30th of February).
    pub fn cron(expression: &str) -> Result<Self, ScheduleError> {
        let cron = croner::Cron::from_str(expression)
            .map_err(|e| ScheduleError::Invalid { expression: expression.to_owned(), reason: e.to_string() })?;
        let now = chrono::Utc::now();
        if cron.find_next_occurrence(&now, false).is_err() && cron.find_previous_occurrence(&now, true).is_err() {
            return Err(ScheduleError::NeverFires(expression.to_owned()));
        }
        Ok(Self::Cron(Box::new(cron)))
    }

    /// The latest time the schedule fired at or before `now`, or `None` if
    /// it has never fired (a cron expression for a date still to come).
    pub fn tick(&self, now: Timestamp) -> Option<Timestamp> {
        match self {
            Self::Every(every) => {
                let every = every.as_micros().clamp(1, i64::MAX as u128) as i64;
                let micros = now.timestamp_micros();
                chrono::DateTime::from_timestamp_micros(micros - micros.rem_euclid(every))
            }
            Self::Cron(cron) => cron.find_previous_occurrence(&now, true).ok(),
        }
    }

    /// The first time the schedule fires after `after`, or `None` if it
    /// never fires again.
    pub fn next(&self, after: Timestamp) -> Option<Timestamp> {
        match self {
            Self::Every(every) => {
                let tick = self.tick(after)?;
                tick.checked_add_signed(chrono::Duration::from_std(*every).ok()?)
            }
            Self::Cron(cron) => cron.find_next_occurrence(&after, false).ok(),
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Every(every) => write!(f, "every {} ms", every.as_millis()),
            Self::Cron(cron) => f.write_str(cron.as_str()),
        }
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(expression: &str) -> Result<Self, Self::Err> {
        Self::cron(expression)
    }
}

/// In configuration a schedule is its cron expression.
impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let expression = String::deserialize(deserializer)?;
        Self::cron(&expression).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn a_period_ticks_on_multiples_of_itself_since_the_epoch() {
        let every = Schedule::Every(Duration::from_secs(600));
        assert_eq!(every.tick(at("2026-12-04T13:47:12.5Z")), Some(at("2026-12-04T13:40:00Z")));
        assert_eq!(every.tick(at("2026-12-04T13:40:00Z")), Some(at("2026-12-04T13:40:00Z")));
        assert_eq!(every.next(at("2026-12-04T13:47:12Z")), Some(at("2026-12-04T13:50:00Z")));
    }

    #[test]
    fn a_cron_expression_ticks_at_its_latest_match_in_utc() {
        let nightly = Schedule::cron("0 3 * * *").unwrap();
        assert_eq!(nightly.tick(at("2026-12-04T13:00:00Z")), Some(at("2026-12-04T03:00:00Z")));
        assert_eq!(nightly.tick(at("2026-12-04T02:59:59Z")), Some(at("2026-12-03T03:00:00Z")));
        assert_eq!(nightly.tick(at("2026-12-04T03:00:00Z")), Some(at("2026-12-04T03:00:00Z")), "inclusive");
        assert_eq!(nightly.next(at("2026-12-04T03:00:00Z")), Some(at("2026-12-05T03:00:00Z")));

        let monthly = Schedule::cron("30 6 1 * *").unwrap();
        assert_eq!(monthly.tick(at("2026-12-04T13:00:00Z")), Some(at("2026-12-01T06:30:00Z")));
        assert_eq!(monthly.next(at("2026-12-04T13:00:00Z")), Some(at("2027-01-01T06:30:00Z")));

        let weekdays = Schedule::cron("0 18 * * MON-FRI").unwrap();
        // 2026-12-06 is a Sunday: the latest run was Friday's.
        assert_eq!(weekdays.tick(at("2026-12-06T12:00:00Z")), Some(at("2026-12-04T18:00:00Z")));

        let seconds = Schedule::cron("*/15 * * * * *").unwrap();
        assert_eq!(seconds.tick(at("2026-12-04T13:00:14.9Z")), Some(at("2026-12-04T13:00:00Z")));
        assert_eq!(seconds.next(at("2026-12-04T13:00:00Z")), Some(at("2026-12-04T13:00:15Z")));
    }

    #[test]
    fn bad_and_impossible_expressions_are_refused() {
        for bad in ["", "every day", "61 * * * *", "* * *", "0 25 * * *"] {
            assert!(matches!(Schedule::cron(bad), Err(ScheduleError::Invalid { .. })), "{bad:?} was accepted");
        }
        assert!(
            matches!(Schedule::cron("0 0 30 2 *"), Err(ScheduleError::NeverFires(_))),
            "the 30th of February was accepted"
        );
    }

    #[test]
    fn a_schedule_reads_and_writes_as_its_expression() {
        let schedule: Schedule = serde_json::from_str("\"0 3 * * *\"").unwrap();
        assert_eq!(serde_json::to_string(&schedule).unwrap(), "\"0 3 * * *\"");
        let refused = serde_json::from_str::<Schedule>("\"0 3 * *\"").unwrap_err().to_string();
        assert!(refused.contains("not a cron expression"), "{refused}");
    }
}
