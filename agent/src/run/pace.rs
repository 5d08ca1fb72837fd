//! The loop's pace: each turn's time budget for reading its source (issue 33).
//!
//! A BMC or Redfish service that answers slowly must not stretch the loop's turns: the
//! watchdog is fed only while the loop turns, and the protection (the temperatures that can
//! call for a thermal shutdown) must be read on time. Each turn gets [`Pace::budget`]
//! (10 s, or a third of systemd's `WatchdogSec` when that is shorter): the protection is read
//! first; what the source does not answer within the budget is unread this turn and read
//! first at the next (Redfish: every request ends by the budget, [`Budget`]; IPMI: the
//! BMC's other items wait for the next sweep). Confirming reads and the thermal action are
//! not cut by it. A source that keeps overrunning is said once, and its recovery once.

use envmon_sensors::redfish::http::Budget;
use std::time::{Duration, Instant};

/// A turn's budget without a watchdog.
pub const TURN_BUDGET: Duration = Duration::from_secs(10);
/// The least budget a turn gets, however short the watchdog.
pub const MIN_TURN_BUDGET: Duration = Duration::from_secs(1);

/// A turn's budget: [`TURN_BUDGET`], or a third of `WATCHDOG_USEC` when that is shorter
/// (never under [`MIN_TURN_BUDGET`]).
pub fn turn_budget(watchdog_usec: Option<Duration>) -> Duration {
    watchdog_usec
        .map_or(TURN_BUDGET, |w| TURN_BUDGET.min(w / 3))
        .max(MIN_TURN_BUDGET)
}

/// The loop's pace: the turn budget, and what the last turns left.
#[derive(Debug, Default)]
pub struct Pace {
    /// Each turn's budget (zero: none).
    pub budget: Duration,
    /// The Redfish client's shared budget (none: no service).
    pub redfish: Option<Budget>,
    /// The last sweep left the BMC's items after the protection unread: this one reads
    /// them whatever the budget (so every item is read at least every other sweep).
    ipmi_left: bool,
    /// A turn overran its budget and it has been said (until one keeps it again).
    said: bool,
    /// The last turn spent its budget before the figures and event logs: this one reads
    /// them with a budget of their own.
    extras_left: bool,
}

impl Pace {
    /// A pace of `budget` per turn.
    pub fn new(budget: Duration) -> Pace {
        Pace {
            budget,
            ..Pace::default()
        }
    }

    /// Starts a turn: its end (none without a budget), set on the Redfish client.
    pub fn start(&self) -> Option<Instant> {
        let until = (!self.budget.is_zero()).then(|| Instant::now() + self.budget);
        self.hold(until);
        until
    }

    /// The end to give the IPMI sweep: none when the last one left items behind.
    pub fn for_ipmi(&self, until: Option<Instant>) -> Option<Instant> {
        until.filter(|_| !self.ipmi_left)
    }

    /// Sets (or lifts) the end of every Redfish request.
    pub fn hold(&self, until: Option<Instant>) {
        if let Some(b) = &self.redfish {
            b.set(until);
        }
    }

    /// Whether the figures and event logs are read this turn (the Redfish client then held
    /// to the end they get): within what is left of the turn ending at `until` when that is
    /// half its budget or more, or, when the last turn left them, with a budget of their
    /// own; otherwise they wait a turn (never two).
    pub fn extras(&mut self, until: Option<Instant>) -> bool {
        let room =
            until.is_none_or(|u| u.saturating_duration_since(Instant::now()) >= self.budget / 2);
        let end = if room {
            until
        } else if self.extras_left {
            Some(Instant::now() + self.budget)
        } else {
            self.extras_left = true;
            return false;
        };
        self.extras_left = false;
        self.hold(end);
        true
    }

    /// After a sweep that left `left` reads for the next (`ipmi`: the BMC's items): the line
    /// to log, once per overrunning stretch and once when the source keeps the pace again.
    pub fn after_sweep(&mut self, left: usize, ipmi: bool) -> Option<String> {
        self.ipmi_left = left > 0 && ipmi;
        match (left > 0, self.said) {
            (true, false) => {
                self.said = true;
                Some(format!(
                    "the source is slow: a sweep's time budget of {} ms ran out with {left} \
                     reads left; they are read first at the next sweep (the protection is \
                     always read first)",
                    self.budget.as_millis()
                ))
            }
            (false, true) => {
                self.said = false;
                Some("the source answers within the sweep's time budget again".into())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_ten_seconds_or_a_third_of_the_watchdog() {
        assert_eq!(turn_budget(None), TURN_BUDGET);
        assert_eq!(
            turn_budget(Some(Duration::from_secs(30))),
            Duration::from_secs(10)
        );
        assert_eq!(
            turn_budget(Some(Duration::from_secs(9))),
            Duration::from_secs(3)
        );
        assert_eq!(
            turn_budget(Some(Duration::from_millis(200))),
            MIN_TURN_BUDGET
        );
    }

    #[test]
    fn an_overrun_is_said_once_and_its_end_once() {
        let mut p = Pace::new(Duration::from_secs(3));
        assert_eq!(p.after_sweep(0, false), None);
        let said = p.after_sweep(4, true).unwrap();
        assert!(
            said.contains("3000 ms") && said.contains("4 reads left"),
            "{said}"
        );
        assert!(
            p.for_ipmi(Some(Instant::now())).is_none(),
            "the rest is read next"
        );
        assert_eq!(p.after_sweep(2, false), None, "said once");
        assert!(p.for_ipmi(Some(Instant::now())).is_some());
        assert!(p.after_sweep(0, false).unwrap().contains("again"));
        assert_eq!(p.after_sweep(0, false), None);
    }

    #[test]
    fn the_extras_wait_at_most_one_turn() {
        let mut p = Pace::new(Duration::from_secs(3));
        let spent = Some(Instant::now());
        let later = Some(Instant::now() + Duration::from_secs(60));
        let little = Some(Instant::now() + Duration::from_millis(500));
        assert!(p.extras(later) && p.extras(None));
        assert!(!p.extras(spent), "left for the next turn");
        assert!(p.extras(spent), "read then, whatever this turn spent");
        assert!(
            !p.extras(little),
            "less than half the budget left: the next turn"
        );
        assert!(p.extras(little));
    }
}
