//! The BSP sender policy: classify a response, decide whether and when to retry, pace sends per
//! phone number. Pure: no I/O, no clock; randomness comes from a seeded RNG passed in.
//!
//! Outcome classes (the report's vocabulary):
//! - **ok**: HTTP 2xx.
//! - **throttled**: the platform asked the sender to slow down: Graph codes 130429 (throughput),
//!   131056 (pair rate limit), 4 (app call rate), 80007 (WABA rate), or HTTP 429 without one of
//!   them. Throttled is *not* failed: it is the rate limiter working.
//! - **refused**: a policy decision with a Graph error code (131047 outside the window, 132001
//!   unknown template, 131049, 368, …), counted per code.
//! - **failed**: the request did not get a policy answer: HTTP 5xx, transient server codes
//!   (1, 2, 131000, 131016, 133004), a non-2xx status without a Graph error body, timeouts,
//!   connection errors.

use rand::Rng;

use crate::clock::{Micros, SimTime, MICROS_PER_SEC};
use crate::traffic::spec::SenderPolicy;

/// Graph error codes that mean "slow down".
pub const THROTTLE_CODES: [i64; 4] = [130429, 131056, 4, 80007];
/// The pair rate limit: retried on the 4^n schedule.
pub const PAIR_LIMIT_CODE: i64 = 131056;
/// Graph codes that signal a server-side failure rather than a policy decision.
pub const SERVER_ERROR_CODES: [i64; 5] = [1, 2, 131000, 131016, 133004];

/// The four outcome classes, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    Ok = 0,
    Throttled = 1,
    Refused = 2,
    Failed = 3,
}

impl Class {
    pub const ALL: [Class; 4] = [Class::Ok, Class::Throttled, Class::Refused, Class::Failed];
    pub fn name(self) -> &'static str {
        match self {
            Class::Ok => "ok",
            Class::Throttled => "throttled",
            Class::Refused => "refused",
            Class::Failed => "failed",
        }
    }
}

/// Why a request failed without a policy answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailKind {
    /// A non-2xx HTTP status without a throttling or policy code (5xx, or 4xx without a Graph
    /// error body).
    Http(u16),
    /// A Graph code meaning the server itself had a problem.
    ServerCode(i64),
    /// No complete response within the sender's timeout.
    Timeout,
    /// Could not connect, or the connection broke.
    Connection,
    /// 2xx, but the body was not the expected `{"messages":[{"id":..}]}`.
    BadResponse,
}

/// The classification of one HTTP attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Ok,
    /// The Graph code, or 429 for a bare HTTP 429.
    Throttled(i64),
    /// The Graph code.
    Refused(i64),
    Failed(FailKind),
}

impl Outcome {
    pub fn class(self) -> Class {
        match self {
            Outcome::Ok => Class::Ok,
            Outcome::Throttled(_) => Class::Throttled,
            Outcome::Refused(_) => Class::Refused,
            Outcome::Failed(_) => Class::Failed,
        }
    }
}

/// Extracts `error.code` from a Graph error body without building a DOM.
pub fn graph_error_code(body: &[u8]) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Env {
        error: Inner,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        code: Option<i64>,
    }
    serde_json::from_slice::<Env>(body).ok()?.error.code
}

/// Classifies an HTTP response by status and body. Meta advises keying on the Graph code, not
/// the status, so the code wins whenever there is one; the status decides only when there is no
/// code (some deployments send throttling as 400, others as 429).
pub fn classify(status: u16, body: &[u8]) -> Outcome {
    if (200..300).contains(&status) {
        return Outcome::Ok;
    }
    match graph_error_code(body) {
        Some(code) if THROTTLE_CODES.contains(&code) => Outcome::Throttled(code),
        Some(code) if SERVER_ERROR_CODES.contains(&code) => {
            Outcome::Failed(FailKind::ServerCode(code))
        }
        Some(_) if status >= 500 => Outcome::Failed(FailKind::Http(status)),
        Some(code) => Outcome::Refused(code),
        None if status == 429 => Outcome::Throttled(429),
        None => Outcome::Failed(FailKind::Http(status)),
    }
}

/// Why a retry happened; the report counts retries by reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RetryReason {
    Throughput,
    PairLimit,
    ServerError,
    Timeout,
    Connection,
}

impl RetryReason {
    pub const ALL: [RetryReason; 5] = [
        RetryReason::Throughput,
        RetryReason::PairLimit,
        RetryReason::ServerError,
        RetryReason::Timeout,
        RetryReason::Connection,
    ];
    pub fn name(self) -> &'static str {
        match self {
            RetryReason::Throughput => "throughput",
            RetryReason::PairLimit => "pair_limit",
            RetryReason::ServerError => "server_error",
            RetryReason::Timeout => "timeout",
            RetryReason::Connection => "connection",
        }
    }
    /// Which retry reason an outcome falls under, if it is retryable at all.
    pub fn of(outcome: Outcome) -> Option<RetryReason> {
        match outcome {
            Outcome::Ok | Outcome::Refused(_) => None,
            Outcome::Throttled(PAIR_LIMIT_CODE) => Some(RetryReason::PairLimit),
            Outcome::Throttled(_) => Some(RetryReason::Throughput),
            Outcome::Failed(FailKind::Timeout) => Some(RetryReason::Timeout),
            Outcome::Failed(FailKind::Connection) => Some(RetryReason::Connection),
            Outcome::Failed(FailKind::Http(s)) if s >= 500 => Some(RetryReason::ServerError),
            Outcome::Failed(FailKind::ServerCode(_)) => Some(RetryReason::ServerError),
            // A 4xx without a Graph body or a malformed 2xx will not get better by retrying.
            Outcome::Failed(_) => None,
        }
    }
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Final outcome reached (ok, refused, or a non-retryable failure).
    Done,
    /// Retry after this many µs.
    Retry { after: Micros, reason: RetryReason },
    /// Retryable, but the retry budget is spent.
    GiveUp { reason: RetryReason },
}

/// Decides the next step for a message whose attempt number `retries_done` (0 for the first
/// attempt) ended with `outcome`.
///
/// Exponential backoff: `backoff_base × 2^n` capped at `backoff_max`; for the pair limit
/// (131056) Meta's advice `pair_backoff_base × 4^n` capped at `pair_backoff_max`; both then
/// multiplied by a uniform factor in [1 − jitter, 1 + jitter] so senders that were throttled
/// together do not retry together.
pub fn decide<R: Rng>(
    policy: &SenderPolicy,
    outcome: Outcome,
    retries_done: u32,
    rng: &mut R,
) -> Decision {
    let Some(reason) = RetryReason::of(outcome) else {
        return Decision::Done;
    };
    let enabled = match reason {
        RetryReason::Throughput => policy.retry_on.throughput,
        RetryReason::PairLimit => policy.retry_on.pair_limit,
        RetryReason::ServerError => policy.retry_on.server_error,
        RetryReason::Timeout => policy.retry_on.timeout,
        RetryReason::Connection => policy.retry_on.connection,
    };
    if !enabled {
        return Decision::Done;
    }
    if retries_done >= policy.max_retries {
        return Decision::GiveUp { reason };
    }
    let (base, factor, cap) = match reason {
        RetryReason::PairLimit => (policy.pair_backoff_base.0, 4u64, policy.pair_backoff_max.0),
        _ => (policy.backoff_base.0, 2u64, policy.backoff_max.0),
    };
    let raw = factor
        .checked_pow(retries_done)
        .and_then(|m| base.checked_mul(m))
        .unwrap_or(u64::MAX)
        .min(cap);
    let after = apply_jitter(raw, policy.jitter, rng).min(cap);
    Decision::Retry { after, reason }
}

fn apply_jitter<R: Rng>(us: Micros, jitter: f64, rng: &mut R) -> Micros {
    if jitter <= 0.0 || us == 0 {
        return us;
    }
    let f = 1.0 + jitter * (2.0 * rng.gen::<f64>() - 1.0);
    (us as f64 * f.max(0.0)).round() as Micros
}

/// Per-phone-number pacing: a BSP-side limiter spacing sends at least `1/rate` apart.
///
/// A reservation scheduler rather than a token bucket: each caller gets the next free slot, so
/// concurrent senders for one number are serialised fairly and the slot can be in the future
/// (the caller sleeps until it).
#[derive(Clone, Debug)]
pub struct Pacer {
    interval: Micros,
    next_free: SimTime,
}

impl Pacer {
    pub fn new(rate_per_sec: f64) -> Pacer {
        let interval = if rate_per_sec > 0.0 {
            (MICROS_PER_SEC as f64 / rate_per_sec).round() as Micros
        } else {
            0
        };
        Pacer {
            interval,
            next_free: SimTime::ZERO,
        }
    }

    /// Reserves a send slot at or after `now`; returns when the send may go.
    pub fn reserve(&mut self, now: SimTime) -> SimTime {
        let slot = self.next_free.max(now);
        self.next_free = slot.plus(self.interval);
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::spec::Dur;
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    fn err(code: i64) -> Vec<u8> {
        format!(r#"{{"error":{{"message":"(#{code}) x","type":"OAuthException","code":{code},"fbtrace_id":"A"}}}}"#).into_bytes()
    }

    #[test]
    fn classification_follows_the_code() {
        assert_eq!(
            classify(200, br#"{"messages":[{"id":"wamid.x"}]}"#),
            Outcome::Ok
        );
        assert_eq!(classify(429, &err(130429)), Outcome::Throttled(130429));
        assert_eq!(classify(400, &err(130429)), Outcome::Throttled(130429));
        assert_eq!(classify(400, &err(131056)), Outcome::Throttled(131056));
        assert_eq!(classify(429, &err(4)), Outcome::Throttled(4));
        assert_eq!(classify(429, &err(80007)), Outcome::Throttled(80007));
        assert_eq!(classify(429, b"slow down"), Outcome::Throttled(429));
        assert_eq!(classify(400, &err(131047)), Outcome::Refused(131047));
        assert_eq!(classify(403, &err(368)), Outcome::Refused(368));
        assert_eq!(classify(401, &err(190)), Outcome::Refused(190));
        assert_eq!(classify(503, b""), Outcome::Failed(FailKind::Http(503)));
        assert_eq!(
            classify(500, &err(100)),
            Outcome::Failed(FailKind::Http(500))
        );
        assert_eq!(
            classify(400, &err(2)),
            Outcome::Failed(FailKind::ServerCode(2))
        );
        assert_eq!(
            classify(500, &err(131000)),
            Outcome::Failed(FailKind::ServerCode(131000))
        );
        assert_eq!(
            classify(404, b"<html>"),
            Outcome::Failed(FailKind::Http(404))
        );
    }

    fn exact() -> SenderPolicy {
        SenderPolicy {
            jitter: 0.0,
            max_retries: 5,
            ..SenderPolicy::default()
        }
    }

    #[test]
    fn exponential_backoff_doubles_and_caps() {
        let p = SenderPolicy {
            backoff_max: Dur::from_secs(1),
            ..exact()
        };
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let waits: Vec<Decision> = (0..6)
            .map(|n| decide(&p, Outcome::Throttled(130429), n, &mut rng))
            .collect();
        let r = |after| Decision::Retry {
            after,
            reason: RetryReason::Throughput,
        };
        assert_eq!(
            waits,
            vec![
                r(250_000),
                r(500_000),
                r(1_000_000),
                r(1_000_000),
                r(1_000_000),
                Decision::GiveUp {
                    reason: RetryReason::Throughput
                }
            ]
        );
    }

    #[test]
    fn pair_limit_uses_four_to_the_x() {
        let p = exact();
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let waits: Vec<Micros> = (0..5)
            .map(
                |n| match decide(&p, Outcome::Throttled(131056), n, &mut rng) {
                    Decision::Retry { after, reason } => {
                        assert_eq!(reason, RetryReason::PairLimit);
                        after
                    }
                    d => panic!("{d:?}"),
                },
            )
            .collect();
        assert_eq!(
            waits,
            vec![1_000_000, 4_000_000, 16_000_000, 64_000_000, 256_000_000]
        );
    }

    #[test]
    fn jitter_stays_in_band_and_is_seeded() {
        let p = SenderPolicy {
            jitter: 0.5,
            ..exact()
        };
        let draw = |seed| {
            let mut rng = Pcg64Mcg::seed_from_u64(seed);
            (0..200)
                .map(
                    |_| match decide(&p, Outcome::Failed(FailKind::Http(503)), 2, &mut rng) {
                        Decision::Retry { after, .. } => after,
                        d => panic!("{d:?}"),
                    },
                )
                .collect::<Vec<_>>()
        };
        let a = draw(3);
        assert_eq!(a, draw(3));
        assert!(a.iter().all(|&w| (500_000..=1_500_000).contains(&w)));
        assert!(a.iter().any(|&w| w < 900_000) && a.iter().any(|&w| w > 1_100_000));
    }

    #[test]
    fn non_retryable_and_disabled() {
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let p = exact();
        assert_eq!(decide(&p, Outcome::Ok, 0, &mut rng), Decision::Done);
        assert_eq!(
            decide(&p, Outcome::Refused(131047), 0, &mut rng),
            Decision::Done
        );
        assert_eq!(
            decide(&p, Outcome::Failed(FailKind::Http(404)), 0, &mut rng),
            Decision::Done
        );
        let mut p2 = exact();
        p2.retry_on.timeout = false;
        assert_eq!(
            decide(&p2, Outcome::Failed(FailKind::Timeout), 0, &mut rng),
            Decision::Done
        );
        assert!(matches!(
            decide(&p2, Outcome::Failed(FailKind::Connection), 0, &mut rng),
            Decision::Retry {
                reason: RetryReason::Connection,
                ..
            }
        ));
        let p0 = SenderPolicy {
            max_retries: 0,
            ..exact()
        };
        assert_eq!(
            decide(&p0, Outcome::Throttled(4), 0, &mut rng),
            Decision::GiveUp {
                reason: RetryReason::Throughput
            }
        );
    }

    #[test]
    fn pacer_spaces_sends() {
        let mut p = Pacer::new(80.0);
        let t0 = SimTime::from_secs(1);
        let slots: Vec<u64> = (0..4).map(|_| p.reserve(t0).0 - t0.0).collect();
        assert_eq!(slots, vec![0, 12_500, 25_000, 37_500]);
        // After a quiet period the next send goes at once.
        assert_eq!(p.reserve(SimTime::from_secs(5)), SimTime::from_secs(5));
        let mut off = Pacer::new(0.0);
        assert_eq!(off.reserve(t0), t0);
        assert_eq!(off.reserve(t0), t0);
    }
}
