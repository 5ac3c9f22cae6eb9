//! What to do after a failed call, and how long to wait: exponential back-off with full
//! jitter that honours `Retry-After`. Which class a failure is in is decided from the error's
//! variant, never its text, by the error's owner (`host::CallError::retry_class`).

use std::time::Duration;

use rand::Rng;

use crate::config::{Jitter, RetryPolicy};

/// The retry class of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Worth trying again after back-off (or after the vendor's `Retry-After`).
    Retry {
        /// What the vendor asked for, if anything.
        after: Option<Duration>,
    },
    /// Trying again cannot help: dead-letter now.
    Permanent,
}

/// The wait before attempt `n + 1` after `n` failed attempts (n >= 1): a draw from
/// `[0, min(max, initial * 2^(n-1))]` with full jitter, never shorter than `Retry-After`.
pub fn backoff(
    policy: &RetryPolicy,
    failed_attempts: u32,
    retry_after: Option<Duration>,
) -> Duration {
    let exp = policy.initial.saturating_mul(
        1u32.checked_shl(failed_attempts.saturating_sub(1).min(30))
            .unwrap_or(u32::MAX),
    );
    let ceiling = exp.min(policy.max);
    let wait = match policy.jitter {
        Jitter::Full => {
            Duration::from_millis(rand::rng().random_range(0..=ceiling.as_millis().max(1) as u64))
        }
        Jitter::None => ceiling,
    };
    wait.max(retry_after.unwrap_or(Duration::ZERO))
}

/// The longest wait between two looks at a write still settling (a job, a read-back).
pub const MAX_CHECK_INTERVAL: Duration = Duration::from_secs(30);

/// How long to wait before looking again at a write that is still settling (an async job
/// still pending, a read-back that does not show the write yet), `elapsed` after it started:
/// half the time waited so far, at least `interval` and at most [`MAX_CHECK_INTERVAL`], and
/// never sooner than the vendor's `Retry-After`. Looks start at the route's interval and thin
/// out geometrically (x1.5 per look), so a write that takes minutes costs a dozen reads, not
/// one every interval.
pub fn check_after(
    interval: Duration,
    elapsed: Duration,
    retry_after: Option<Duration>,
) -> Duration {
    (elapsed / 2)
        .clamp(interval, MAX_CHECK_INTERVAL.max(interval))
        .max(retry_after.unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_thin_out_geometrically_and_honour_retry_after() {
        let interval = Duration::from_millis(500);
        assert_eq!(check_after(interval, Duration::ZERO, None), interval);
        assert_eq!(
            check_after(interval, Duration::from_secs(4), None),
            Duration::from_secs(2)
        );
        assert_eq!(
            check_after(interval, Duration::from_secs(600), None),
            MAX_CHECK_INTERVAL
        );
        // A vendor that says "Retry-After: 1" is not asked again after 0.5 s.
        assert_eq!(
            check_after(interval, Duration::ZERO, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        // Over a two-minute window at a 1 s interval: a handful of looks, not 120.
        let (mut t, mut looks) = (Duration::ZERO, 0);
        while t < Duration::from_secs(120) {
            t += check_after(Duration::from_secs(1), t, None);
            looks += 1;
        }
        assert!(looks <= 15, "{looks} looks in two minutes");
    }

    const POLICY: RetryPolicy = RetryPolicy {
        attempts: 5,
        initial: Duration::from_secs(1),
        max: Duration::from_secs(10),
        jitter: Jitter::None,
    };

    #[test]
    fn backoff_doubles_up_to_the_cap_and_honours_retry_after() {
        let waits: Vec<u64> = (1..=6)
            .map(|n| backoff(&POLICY, n, None).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 10, 10]);
        assert_eq!(
            backoff(&POLICY, 1, Some(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
        let full = RetryPolicy {
            jitter: Jitter::Full,
            ..POLICY
        };
        for _ in 0..100 {
            assert!(backoff(&full, 3, None) <= Duration::from_secs(4));
        }
    }
}
