//! Timestamps, held at microsecond precision: the finest both backends store,
//! so a value reads back exactly as it was written.

use chrono::{DateTime, SubsecRound, Utc};

/// An instant in UTC, truncated to whole microseconds.
pub type Timestamp = DateTime<Utc>;

/// The current time, truncated to microseconds.
pub fn now() -> Timestamp {
    Utc::now().trunc_subsecs(6)
}
