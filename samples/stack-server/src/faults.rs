//! Faults that tests switch on: failing responses and latency.

use std::time::Duration;

/// The pending faults. Every request takes one failure while some are left,
/// whatever its route, token or body.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    failures_left: usize,
    failure_status: u16,
    latency: Duration,
}

impl Faults {
    /// Makes the next `count` requests fail with `status`, replacing any
    /// failures still pending.
    pub(crate) fn fail_next(&mut self, count: usize, status: u16) {
        self.failures_left = count;
        self.failure_status = status;
    }

    /// Returns the status of the next failure and counts it, or `None` when
    /// no failure is pending.
    pub(crate) fn take_failure(&mut self) -> Option<u16> {
        if self.failures_left == 0 {
            return None;
        }
        self.failures_left -= 1;
        Some(self.failure_status)
    }

    pub(crate) fn set_latency(&mut self, latency: Duration) {
        self.latency = latency;
    }

    pub(crate) fn latency(&self) -> Duration {
        self.latency
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_run_out() {
        let mut faults = Faults::default();
        assert_eq!(faults.take_failure(), None);
        faults.fail_next(2, 503);
        assert_eq!(faults.take_failure(), Some(503));
        assert_eq!(faults.take_failure(), Some(503));
        assert_eq!(faults.take_failure(), None);
    }
}
