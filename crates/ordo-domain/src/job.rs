//! Background jobs as data: what is queued, its state, its attempts, and
//! the retry policy (exponential backoff with full jitter).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::time::Timestamp;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for its `run_at` and a worker.
    Available,
    /// Held by a worker under a lease.
    Running,
    /// Failed its last attempt; kept until retried or discarded.
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Available => "available",
            JobState::Running => "running",
            JobState::Dead => "dead",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [JobState::Available, JobState::Running, JobState::Dead].into_iter().find(|s| s.as_str() == value)
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub id: Uuid,
    pub queue: String,
    /// The job type's name, which picks its handler.
    pub name: String,
    pub payload: Value,
    /// Higher runs first.
    pub priority: i16,
    pub max_attempts: i32,
    pub run_at: Timestamp,
    /// While a job with the same name and key is pending, enqueueing
    /// another is a no-op.
    pub unique_key: Option<String>,
    /// The W3C `traceparent` of the work that enqueued the job, so its run
    /// joins that trace.
    pub trace_parent: Option<String>,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct JobRecord {
    pub id: Uuid,
    pub queue: String,
    pub name: String,
    pub payload: Value,
    pub priority: i16,
    pub state: JobState,
    /// Attempts started so far.
    pub attempt: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    /// The current attempt's fencing token: only its holder may finish it.
    pub attempt_id: Option<Uuid>,
    pub locked_by: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub unique_key: Option<String>,
    /// The W3C `traceparent` of the work that enqueued the job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_parent: Option<String>,
    pub progress_percent: Option<i16>,
    pub progress_message: Option<String>,
    pub last_error: Option<String>,
    pub cancel_requested: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One finished attempt of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct JobAttempt {
    pub job_id: Uuid,
    pub attempt: i32,
    pub attempt_id: Uuid,
    pub worker: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `failed` or `lease_expired`.
    pub outcome: String,
    pub error: Option<String>,
}

/// Queue depth for one queue and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct QueueStat {
    pub queue: String,
    pub state: JobState,
    pub count: i64,
    /// For `available`: the oldest due job's `run_at`.
    pub oldest_run_at: Option<DateTime<Utc>>,
}

/// The delay before retry number `attempt` (1-based): a uniformly random
/// duration between zero and `min(cap, base × 2^(attempt-1))` ("full
/// jitter"), so retries of many failed jobs spread out instead of
/// stampeding. `unit` is a random number in `[0, 1)`.
pub fn backoff(attempt: i32, base: Duration, cap: Duration, unit: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).clamp(0, 30) as u32;
    let ceiling = base.saturating_mul(1u32 << exponent).min(cap);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_under_a_cap_with_full_jitter() {
        let base = Duration::from_secs(1);
        let cap = Duration::from_secs(60);
        assert_eq!(backoff(1, base, cap, 0.999_999).as_secs(), 0);
        assert_eq!(backoff(3, base, cap, 0.5), Duration::from_secs(2));
        assert_eq!(backoff(4, base, cap, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(30, base, cap, 1.0), cap);
        assert_eq!(backoff(1000, base, cap, 1.0), cap);
        assert_eq!(backoff(5, base, cap, 0.0), Duration::ZERO);
    }
}
