//! Attempt limits shared by handlers: login attempts per client IP and email
//! ([`crate::session`]), and query runs started by a key per key
//! ([`crate::routes::query_results`]).
//!
//! [`AttemptLimiter`] is the seam: [`MemoryLimiter`] counts in this process's memory (the
//! default, right for a single server such as `cairn up`); a limiter shared by every replica
//! (the Redis one of `cairn server`) plugs in behind a [`FallbackLimiter`].
//!
//! # When the shared limiter fails
//! Neither fail-closed (a Redis blip would make logging in impossible) nor fail-open to no limit
//! (an attacker who can slow Redis down would get unlimited attempts). [`FallbackLimiter`]
//! answers from a per-process [`MemoryLimiter`] whenever the shared one errs or does not answer
//! within a short wait. That local limiter also records every attempt the shared one allowed, so
//! its counts are already warm when Redis goes away: during an outage the limit holds per
//! process (at most N times the limit over N servers, for the length of the outage only), and
//! back to one shared limit as soon as Redis answers again.

use crate::error::AppError;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What a limiter decided about one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Allowed, and recorded against every key.
    Allowed,
    /// Refused (nothing recorded): a key is at its limit until `retry_after` has passed.
    Refused {
        /// How long until the oldest attempt of the fullest key leaves the window.
        retry_after: Duration,
    },
}

/// A limiter that could not decide (its store did not answer).
#[derive(Debug, Clone, thiserror::Error)]
#[error("rate limiter unavailable: {0}")]
pub struct LimiterError(pub String);

/// The future an [`AttemptLimiter`] answers with.
pub type AttemptFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Attempt, LimiterError>> + Send + 'a>>;

/// Counts attempts per key in a window, and refuses one when any of its keys is full.
///
/// The method returns a boxed future (rather than being an `async fn`) so the trait can be used
/// as `dyn AttemptLimiter` and implemented in crates without `async-trait`.
pub trait AttemptLimiter: Send + Sync + Debug {
    /// Records an attempt against every key of `keys`, or refuses it (recording nothing) when
    /// any key is already at its limit.
    fn try_attempt<'a>(&'a self, keys: &'a [String]) -> AttemptFuture<'a>;
}

/// A sliding-window limit kept in this process's memory: at most `max` attempts per key in any
/// `window`. Memory is bounded by `max` instants per key seen within the window.
#[derive(Debug)]
pub struct MemoryLimiter {
    max: usize,
    window: Duration,
    attempts: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl MemoryLimiter {
    /// At most `max` attempts per key in any `window`.
    pub fn new(max: usize, window: Duration) -> MemoryLimiter {
        MemoryLimiter {
            max,
            window,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    /// [`AttemptLimiter::try_attempt`] at instant `now`.
    pub fn try_attempt_at(&self, keys: &[String], now: Instant) -> Attempt {
        let mut map = self
            .attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, times| {
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) >= self.window)
            {
                times.pop_front();
            }
            !times.is_empty()
        });
        let retry_after = keys
            .iter()
            .filter_map(|k| {
                let times = map.get(k);
                match times {
                    Some(t) if t.len() >= self.max => t
                        .front()
                        .map(|oldest| self.window.saturating_sub(now.duration_since(*oldest))),
                    None if self.max == 0 => Some(self.window),
                    _ => None,
                }
            })
            .max();
        if let Some(retry_after) = retry_after {
            return Attempt::Refused { retry_after };
        }
        for k in keys {
            map.entry(k.clone()).or_default().push_back(now);
        }
        Attempt::Allowed
    }
}

impl AttemptLimiter for MemoryLimiter {
    fn try_attempt<'a>(&'a self, keys: &'a [String]) -> AttemptFuture<'a> {
        let decision = self.try_attempt_at(keys, Instant::now());
        Box::pin(std::future::ready(Ok(decision)))
    }
}

/// A 429 answer with `message` (as `{"message": ...}`) and `Retry-After` in whole seconds,
/// rounded up (at least 1).
pub fn too_many(message: &str, retry_after: Duration) -> Response {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let mut resp = AppError::new(StatusCode::TOO_MANY_REQUESTS, message).into_response();
    resp.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
    resp
}

/// Records an attempt against `keys` in `limiter`; the answer to send instead when it is not
/// allowed: 429 with `message` and `Retry-After` past the limit, 503 when the limiter cannot
/// decide (only a shared limiter without a [`FallbackLimiter`] can fail). `what` names the
/// limit in logs.
pub async fn refusal(
    limiter: &dyn AttemptLimiter,
    keys: &[String],
    what: &str,
    message: &str,
) -> Option<Response> {
    match limiter.try_attempt(keys).await {
        Ok(Attempt::Allowed) => None,
        Ok(Attempt::Refused { retry_after }) => {
            tracing::warn!(limit = what, ?retry_after, "rate limit reached");
            Some(too_many(message, retry_after))
        }
        Err(e) => {
            tracing::error!(limit = what, error = %e, "rate limit unavailable");
            Some(
                AppError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("{message} The rate limit cannot be checked right now; try again."),
                )
                .into_response(),
            )
        }
    }
}

/// How long [`FallbackLimiter`] waits for the shared limiter before deciding locally.
pub const SHARED_WAIT: Duration = Duration::from_secs(1);

/// A shared limiter with a per-process fallback; see the module docs for the policy.
#[derive(Debug)]
pub struct FallbackLimiter {
    shared: Arc<dyn AttemptLimiter>,
    local: MemoryLimiter,
    wait: Duration,
    /// Whether the last decision was local because the shared limiter failed (logged once per
    /// outage, not per attempt).
    degraded: AtomicBool,
}

impl FallbackLimiter {
    /// `shared`, falling back to an in-memory `max` per `window` when it fails or takes longer
    /// than `wait`.
    pub fn new(
        shared: Arc<dyn AttemptLimiter>,
        max: usize,
        window: Duration,
        wait: Duration,
    ) -> FallbackLimiter {
        FallbackLimiter {
            shared,
            local: MemoryLimiter::new(max, window),
            wait,
            degraded: AtomicBool::new(false),
        }
    }

    async fn decide(&self, keys: &[String]) -> Attempt {
        let answer = tokio::time::timeout(self.wait, self.shared.try_attempt(keys)).await;
        let now = Instant::now();
        let failure = match answer {
            Ok(Ok(decision)) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!("shared rate limiter answers again");
                }
                if decision == Attempt::Allowed {
                    // Keep the local counts warm for the next outage; the shared answer rules.
                    self.local.try_attempt_at(keys, now);
                }
                return decision;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {:?}", self.wait),
        };
        if !self.degraded.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                error = %failure,
                "shared rate limiter failed; limiting per process until it answers"
            );
        }
        self.local.try_attempt_at(keys, now)
    }
}

impl AttemptLimiter for FallbackLimiter {
    fn try_attempt<'a>(&'a self, keys: &'a [String]) -> AttemptFuture<'a> {
        Box::pin(async move { Ok(self.decide(keys).await) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn limiter_counts_per_key_within_the_window() {
        let l = MemoryLimiter::new(2, Duration::from_secs(3600));
        let t = Instant::now();
        let a = keys(&["ip:1", "email:a"]);
        let b = keys(&["ip:1", "email:b"]);
        assert_eq!(l.try_attempt_at(&a, t), Attempt::Allowed);
        assert_eq!(
            l.try_attempt_at(&a, t + Duration::from_secs(600)),
            Attempt::Allowed
        );
        assert_eq!(
            l.try_attempt_at(&a, t + Duration::from_secs(1200)),
            Attempt::Refused {
                retry_after: Duration::from_secs(2400)
            },
            "third attempt for the same email and ip"
        );
        assert!(
            matches!(l.try_attempt_at(&b, t), Attempt::Refused { .. }),
            "the ip is at its limit too"
        );
        assert_eq!(
            l.try_attempt_at(&b, t + Duration::from_secs(3600)),
            Attempt::Allowed,
            "the first attempt left the window"
        );
        assert!(matches!(
            l.try_attempt_at(&a, t + Duration::from_secs(3600)),
            Attempt::Refused { .. }
        ));
        assert_eq!(
            l.try_attempt_at(&a, t + Duration::from_secs(4200)),
            Attempt::Allowed,
            "window passed"
        );
    }

    #[test]
    fn refused_attempts_are_not_counted() {
        let l = MemoryLimiter::new(1, Duration::from_secs(60));
        let t = Instant::now();
        assert_eq!(l.try_attempt_at(&keys(&["x", "y"]), t), Attempt::Allowed);
        for _ in 0..5 {
            assert!(matches!(
                l.try_attempt_at(&keys(&["y", "z"]), t),
                Attempt::Refused { .. }
            ));
        }
        assert_eq!(
            l.try_attempt_at(&keys(&["z"]), t),
            Attempt::Allowed,
            "z was never recorded by the refused attempts"
        );
    }

    #[test]
    fn a_zero_limit_refuses_everything() {
        let l = MemoryLimiter::new(0, Duration::from_secs(60));
        assert_eq!(
            l.try_attempt_at(&keys(&["x"]), Instant::now()),
            Attempt::Refused {
                retry_after: Duration::from_secs(60)
            }
        );
    }

    /// A shared limiter whose store can be taken down.
    #[derive(Debug)]
    struct Switch {
        store: MemoryLimiter,
        down: AtomicBool,
    }

    impl Switch {
        fn new(max: usize, down: bool) -> Arc<Switch> {
            Arc::new(Switch {
                store: MemoryLimiter::new(max, Duration::from_secs(60)),
                down: AtomicBool::new(down),
            })
        }
    }

    impl AttemptLimiter for Switch {
        fn try_attempt<'a>(&'a self, keys: &'a [String]) -> AttemptFuture<'a> {
            if self.down.load(Ordering::Relaxed) {
                Box::pin(std::future::ready(Err(LimiterError(
                    "connection refused".into(),
                ))))
            } else {
                self.store.try_attempt(keys)
            }
        }
    }

    /// A shared limiter that never answers.
    #[derive(Debug)]
    struct Hung;

    impl AttemptLimiter for Hung {
        fn try_attempt<'a>(&'a self, _keys: &'a [String]) -> AttemptFuture<'a> {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test]
    async fn a_failing_shared_limiter_falls_back_to_the_local_limit() {
        let l = FallbackLimiter::new(
            Switch::new(2, true),
            2,
            Duration::from_secs(60),
            SHARED_WAIT,
        );
        let k = keys(&["ip:1"]);
        assert_eq!(l.try_attempt(&k).await.unwrap(), Attempt::Allowed);
        assert_eq!(l.try_attempt(&k).await.unwrap(), Attempt::Allowed);
        assert!(matches!(
            l.try_attempt(&k).await.unwrap(),
            Attempt::Refused { .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_shared_limiter_falls_back_after_the_wait() {
        let l = FallbackLimiter::new(Arc::new(Hung), 1, Duration::from_secs(60), SHARED_WAIT);
        let k = keys(&["ip:1"]);
        assert_eq!(l.try_attempt(&k).await.unwrap(), Attempt::Allowed);
        assert!(matches!(
            l.try_attempt(&k).await.unwrap(),
            Attempt::Refused { .. }
        ));
    }

    #[tokio::test]
    async fn attempts_the_shared_limiter_allowed_count_locally_too() {
        let shared = Switch::new(3, false);
        let l = FallbackLimiter::new(shared.clone(), 3, Duration::from_secs(60), SHARED_WAIT);
        let k = keys(&["ip:1"]);
        for _ in 0..3 {
            assert_eq!(l.try_attempt(&k).await.unwrap(), Attempt::Allowed);
        }
        assert!(matches!(
            l.try_attempt(&k).await.unwrap(),
            Attempt::Refused { .. }
        ));
        shared.down.store(true, Ordering::Relaxed);
        assert!(
            matches!(l.try_attempt(&k).await.unwrap(), Attempt::Refused { .. }),
            "an outage does not reset the count"
        );
        assert_eq!(
            l.try_attempt(&keys(&["ip:2"])).await.unwrap(),
            Attempt::Allowed,
            "other keys still get in during the outage"
        );
        shared.down.store(false, Ordering::Relaxed);
        assert_eq!(
            l.try_attempt(&keys(&["ip:3"])).await.unwrap(),
            Attempt::Allowed
        );
        assert!(
            matches!(
                shared.store.try_attempt_at(&k, Instant::now()),
                Attempt::Refused { .. }
            ),
            "the shared store decides again"
        );
    }
}
