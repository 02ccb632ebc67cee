//! Retry and Catch: which error names a rule matches, the delay before each retry (backoff,
//! cap, full jitter), and what a Task state's failure leads to.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, PoisonError};

use infra::asl::{JitterStrategy, Retrier};
use serde_json::{Value, json};

use super::load::TaskStep;
use super::{
    STATES_ALL, STATES_RESULT_PATH_MATCH_FAILURE, STATES_RUNTIME, STATES_TASK_FAILED,
    STATES_TIMEOUT, TaskError,
};

/// What a Task state's failure leads to.
#[derive(Debug)]
pub(super) enum Handling {
    /// Retry after this many seconds (before the time scale): a retrier matched and had
    /// attempts left (its count is taken).
    Retry(f64),
    /// A catcher matched: go to `next` with this output (the state's input, the error placed
    /// at the catcher's `ResultPath`).
    Caught { next: String, output: Value },
    /// Nothing matched (or the catcher's `ResultPath` does not fit): the execution fails.
    Uncaught { error: String, cause: String },
}

/// Decides what `error` of `task` leads to, when its retriers have been used `used` times
/// each: the first retrier that matches decides (while it has attempts left), then the first
/// catcher that matches; `States.Runtime` is never retried or caught.
pub(super) fn handle(
    task: &TaskStep,
    used: &mut [u32],
    error: TaskError,
    input: &Value,
    jitter: &Mutex<Jitter>,
) -> Handling {
    if error.error == STATES_RUNTIME {
        return Handling::Uncaught {
            error: error.error,
            cause: error.cause,
        };
    }
    if let Some(index) = task
        .retry
        .iter()
        .position(|r| matches_error(&r.error_equals, &error.error))
    {
        let retrier = &task.retry[index];
        if used[index] < retrier.max_attempts {
            let delay = retry_delay(retrier, used[index], jitter);
            used[index] += 1;
            return Handling::Retry(delay);
        }
    }
    if let Some((catcher, result_path)) = task
        .catch
        .iter()
        .find(|(catcher, _)| matches_error(&catcher.error_equals, &error.error))
    {
        let caught = json!({ "Error": error.error, "Cause": error.cause });
        return match result_path.place(input.clone(), caught) {
            Ok(output) => Handling::Caught {
                next: catcher.next.clone(),
                output,
            },
            Err(placement) => Handling::Uncaught {
                error: STATES_RESULT_PATH_MATCH_FAILURE.to_owned(),
                cause: placement.0,
            },
        };
    }
    Handling::Uncaught {
        error: error.error,
        cause: error.cause,
    }
}

/// Whether an `ErrorEquals` list matches `error`.
pub(super) fn matches_error(error_equals: &[String], error: &str) -> bool {
    if error == STATES_RUNTIME {
        return false;
    }
    error_equals.iter().any(|name| {
        name == error
            || name == STATES_ALL
            || (name == STATES_TASK_FAILED && error != STATES_TIMEOUT)
    })
}

/// Seconds before the next retry of `retrier`, which has retried `done` times.
fn retry_delay(retrier: &Retrier, done: u32, jitter: &Mutex<Jitter>) -> f64 {
    let exponent = i32::try_from(done).unwrap_or(i32::MAX);
    let mut delay = retrier.interval_seconds as f64 * retrier.backoff_rate.powi(exponent);
    if let Some(max) = retrier.max_delay_seconds {
        delay = delay.min(max as f64);
    }
    if retrier.jitter_strategy == Some(JitterStrategy::Full) {
        delay *= jitter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next_fraction();
    }
    delay
}

/// A small seeded generator (SplitMix64) for `JitterStrategy: FULL`.
#[derive(Debug)]
pub(super) struct Jitter(u64);

impl Jitter {
    pub(super) fn seeded(seed: &str) -> Jitter {
        let mut hasher = DefaultHasher::new();
        seed.hash(&mut hasher);
        Jitter(hasher.finish())
    }

    /// A number in [0, 1].
    pub(super) fn next_fraction(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_matching_follows_the_wildcards() {
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(matches_error(&names(&["A", "B"]), "B"));
        assert!(!matches_error(&names(&["A"]), "B"));
        assert!(matches_error(&names(&[STATES_ALL]), STATES_TIMEOUT));
        assert!(!matches_error(&names(&[STATES_ALL]), STATES_RUNTIME));
        assert!(matches_error(
            &names(&[STATES_TASK_FAILED]),
            "Lambda.ServiceException"
        ));
        assert!(!matches_error(
            &names(&[STATES_TASK_FAILED]),
            STATES_TIMEOUT
        ));
        assert!(!matches_error(&names(&[STATES_RUNTIME]), STATES_RUNTIME));
    }

    #[test]
    fn retry_delays_back_off_and_cap() {
        let retrier = Retrier {
            error_equals: vec!["E".into()],
            interval_seconds: 2,
            max_attempts: 6,
            backoff_rate: 2.0,
            max_delay_seconds: Some(60),
            jitter_strategy: None,
        };
        let jitter = std::sync::Mutex::new(Jitter::seeded("x"));
        let delays: Vec<f64> = (0..6).map(|n| retry_delay(&retrier, n, &jitter)).collect();
        assert_eq!(delays, [2.0, 4.0, 8.0, 16.0, 32.0, 60.0]);
        let full = Retrier {
            jitter_strategy: Some(JitterStrategy::Full),
            ..retrier
        };
        let jittered: Vec<f64> = (0..6).map(|n| retry_delay(&full, n, &jitter)).collect();
        for (jittered, cap) in jittered.iter().zip(delays) {
            assert!((0.0..=cap).contains(jittered), "{jittered} > {cap}");
        }
        assert!(
            jittered
                .windows(2)
                .any(|w| (w[0] - w[1]).abs() > f64::EPSILON)
        );
        let again = std::sync::Mutex::new(Jitter::seeded("x"));
        let first = retry_delay(&full, 0, &again);
        let replay = std::sync::Mutex::new(Jitter::seeded("x"));
        assert!((first - retry_delay(&full, 0, &replay)).abs() < f64::EPSILON);
    }

    #[test]
    fn full_jitter_spreads_the_capped_delay_over_all_of_it() {
        // The 10th retry: 1 * 2^9 = 512 s uncapped, 120 s with the cap; full jitter draws
        // uniformly below the capped delay, not below the uncapped one, nor near it only.
        let retrier = Retrier {
            error_equals: vec!["E".into()],
            interval_seconds: 1,
            max_attempts: 20,
            backoff_rate: 2.0,
            max_delay_seconds: Some(120),
            jitter_strategy: Some(JitterStrategy::Full),
        };
        let jitter = std::sync::Mutex::new(Jitter::seeded("arn:aws:states:r:1:execution:m:n"));
        let draws: Vec<f64> = (0..2_000)
            .map(|_| retry_delay(&retrier, 9, &jitter))
            .collect();
        assert!(draws.iter().all(|d| (0.0..=120.0).contains(d)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((55.0..65.0).contains(&mean), "mean {mean}");
        for quarter in 0..4 {
            let low = f64::from(quarter) * 30.0;
            let share = draws
                .iter()
                .filter(|d| (low..low + 30.0).contains(*d))
                .count();
            assert!(
                (400..600).contains(&share),
                "{share} in [{low}, {})",
                low + 30.0
            );
        }
        // Executions draw apart: two ARNs, two sequences.
        let other = std::sync::Mutex::new(Jitter::seeded("arn:aws:states:r:1:execution:m:o"));
        let first: Vec<f64> = (0..5).map(|_| retry_delay(&retrier, 0, &other)).collect();
        let again = std::sync::Mutex::new(Jitter::seeded("arn:aws:states:r:1:execution:m:n"));
        let second: Vec<f64> = (0..5).map(|_| retry_delay(&retrier, 0, &again)).collect();
        assert_ne!(first, second);
    }
}
