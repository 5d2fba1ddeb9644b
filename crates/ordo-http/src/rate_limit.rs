//! Rate limits per API key: a token bucket (GCRA, via `governor`) whose
//! size and refill rate depend on the key's role.
//!
//! Limits are kept per process: with N instances behind a load balancer a
//! key gets up to N times its limit. [`RateLimiter`] is the seam for a
//! shared implementation (PostgreSQL or Redis) later.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter as Governor};
use ordo_domain::auth::{ApiKeyId, Role};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    /// The bucket's size (requests in a burst).
    pub limit: u32,
    /// Requests left in the bucket.
    pub remaining: u32,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
    /// When refused: seconds until one request is allowed.
    pub retry_after_secs: u64,
}

impl RateDecision {
    /// Allowed, with no limit to announce: no `RateLimit-*` headers.
    pub const UNLIMITED: Self =
        Self { allowed: true, limit: u32::MAX, remaining: u32::MAX, reset_secs: 0, retry_after_secs: 0 };

    pub fn is_unlimited(&self) -> bool {
        self.limit == u32::MAX
    }
}

/// Decides whether a key may make one more request now.
pub trait RateLimiter: Send + Sync {
    fn check(&self, key: ApiKeyId, role: Role) -> RateDecision;
}

/// A role's limit: `per_second` sustained, bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleLimit {
    pub per_second: u32,
    pub burst: u32,
}

type KeyedGovernor = Governor<ApiKeyId, DefaultKeyedStateStore<ApiKeyId>, DefaultClock, StateInformationMiddleware>;

/// Per-process token buckets, one set per role.
pub struct InProcessRateLimiter {
    buckets: Vec<(Role, RoleLimit, KeyedGovernor)>,
    clock: DefaultClock,
}

impl std::fmt::Debug for InProcessRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessRateLimiter").finish_non_exhaustive()
    }
}

impl InProcessRateLimiter {
    /// Builds buckets from each role's limit; `limits` must name every role.
    pub fn new(limits: impl IntoIterator<Item = (Role, RoleLimit)>) -> Self {
        let clock = DefaultClock::default();
        let buckets = limits
            .into_iter()
            .map(|(role, limit)| {
                let per_second = NonZeroU32::new(limit.per_second.max(1)).unwrap_or(NonZeroU32::MIN);
                let burst = NonZeroU32::new(limit.burst.max(1)).unwrap_or(NonZeroU32::MIN);
                let quota = Quota::per_second(per_second).allow_burst(burst);
                let governor =
                    Governor::dashmap_with_clock(quota, clock.clone()).with_middleware::<StateInformationMiddleware>();
                (role, limit, governor)
            })
            .collect();
        Self { buckets, clock }
    }
}

impl RateLimiter for InProcessRateLimiter {
    fn check(&self, key: ApiKeyId, role: Role) -> RateDecision {
        let Some((_, limit, governor)) = self.buckets.iter().find(|(r, _, _)| *r == role) else {
            return RateDecision::UNLIMITED;
        };
        let refill = |missing: u32| u64::from(missing).div_ceil(u64::from(limit.per_second.max(1)));
        match governor.check_key(&key) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                RateDecision {
                    allowed: true,
                    limit: limit.burst,
                    remaining,
                    reset_secs: refill(limit.burst.saturating_sub(remaining)),
                    retry_after_secs: 0,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                RateDecision {
                    allowed: false,
                    limit: limit.burst,
                    remaining: 0,
                    reset_secs: refill(limit.burst),
                    retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                }
            }
        }
    }
}

/// No limits: for tools and tests that must not be throttled.
#[derive(Debug, Default)]
pub struct Unlimited;

impl RateLimiter for Unlimited {
    fn check(&self, _key: ApiKeyId, _role: Role) -> RateDecision {
        RateDecision::UNLIMITED
    }
}
