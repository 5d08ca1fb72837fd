//! The retransmission timer and the send window of an RMCP+ session: pure, no I/O.
//!
//! - [`Rto`] is RFC 6298's: a smoothed round-trip time and its variation from each timed
//!   reply, `RTO = SRTT + max(G, 4 * RTTVAR)`, bounded, doubled when it expires (the
//!   backed-off value is kept until the next sample, and a backoff goes no further than four
//!   times what the samples give). Every transmission carries its own
//!   IPMI request sequence number, which the reply echoes, so each sample is exact, even for
//!   a retransmitted request: Karn's ambiguity does not arise (as with TCP timestamps).
//! - [`Window`] is how many requests may be in flight: it starts at the configured window,
//!   halves when a transmission times out (a small BMC that drops a burst gets fewer at
//!   once) and grows by one per window of replies (AIMD, as TCP's congestion window).

use std::time::Duration;

/// How far a timer backs off beyond the one its samples give.
pub const BACKOFF_LIMIT: u32 = 4;

/// Clock granularity G of RFC 6298.
const GRANULARITY: Duration = Duration::from_millis(10);

/// The bounds of a retransmission timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtoBounds {
    /// Before any reply was timed (RFC 6298: 1 s).
    pub initial: Duration,
    /// The floor. RFC 6298 says 1 s for the Internet; a BMC on its management LAN answers in
    /// milliseconds, and a lost datagram should cost a fraction of a sweep, not a second.
    pub min: Duration,
    /// The ceiling (a backed-off timer stops doubling here).
    pub max: Duration,
}

impl Default for RtoBounds {
    fn default() -> Self {
        RtoBounds {
            initial: Duration::from_secs(1),
            min: Duration::from_millis(200),
            max: Duration::from_secs(3),
        }
    }
}

/// RFC 6298's retransmission timer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rto {
    bounds: RtoBounds,
    /// SRTT and RTTVAR in seconds, once a reply was timed.
    smoothed: Option<(f64, f64)>,
    rto: Duration,
}

impl Rto {
    /// A timer that has timed nothing yet.
    pub fn new(bounds: RtoBounds) -> Rto {
        Rto {
            bounds,
            smoothed: None,
            rto: bounds.initial.clamp(bounds.min, bounds.max),
        }
    }

    /// How long a transmission waits for its reply now.
    pub fn current(&self) -> Duration {
        self.rto
    }

    /// The smoothed round-trip time, once there is one.
    pub fn srtt(&self) -> Option<Duration> {
        self.smoothed.map(|(s, _)| Duration::from_secs_f64(s))
    }

    /// A reply came `r` after its transmission (RFC 6298 2.2, 2.3).
    pub fn sample(&mut self, r: Duration) {
        let r = r.as_secs_f64();
        let (srtt, rttvar) = match self.smoothed {
            None => (r, r / 2.0),
            Some((srtt, rttvar)) => {
                let rttvar = 0.75 * rttvar + 0.25 * (srtt - r).abs();
                (0.875 * srtt + 0.125 * r, rttvar)
            }
        };
        self.smoothed = Some((srtt, rttvar));
        self.rto = self.base();
    }

    /// The timer expired: it doubles (RFC 6298 5.5), up to its ceiling and, once replies were
    /// timed, to at most [`BACKOFF_LIMIT`] times the timer they give: on a lossy link a lost
    /// datagram is rarely congestion, and every reply (exactly timed, even a late one) sets
    /// the timer again.
    pub fn backoff(&mut self) {
        let limit = match self.smoothed {
            Some(_) => self.base().saturating_mul(BACKOFF_LIMIT),
            None => self.bounds.max,
        };
        self.rto = (self.rto * 2).min(limit).min(self.bounds.max);
    }

    /// The timer the samples give, without backoff.
    fn base(&self) -> Duration {
        match self.smoothed {
            None => self.bounds.initial,
            Some((srtt, rttvar)) => {
                let spread = (4.0 * rttvar).max(GRANULARITY.as_secs_f64());
                Duration::try_from_secs_f64(srtt + spread)
                    .unwrap_or(self.bounds.max)
                    .clamp(self.bounds.min, self.bounds.max)
            }
        }
    }
}

/// How many requests may be in flight (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    max: usize,
    now: usize,
    acked: usize,
}

impl Window {
    /// A window of at most `max` (at least 1).
    pub fn new(max: usize) -> Window {
        let max = max.max(1);
        Window {
            max,
            now: max,
            acked: 0,
        }
    }

    /// Requests that may be in flight now.
    pub fn size(&self) -> usize {
        self.now
    }

    /// A reply came.
    pub fn replied(&mut self) {
        self.acked += 1;
        if self.acked >= self.now {
            self.acked = 0;
            self.now = (self.now + 1).min(self.max);
        }
    }

    /// A transmission timed out.
    pub fn timed_out(&mut self) {
        self.now = (self.now / 2).max(1);
        self.acked = 0;
    }
}

/// The share of round trips the link loses, as seen (an exponentially weighted average of
/// replies and timeouts while the BMC answers): above [`LossMeter::DUPLICATE_ABOVE`] each
/// transmission goes twice. Random loss is not congestion: a window or timer that shrinks
/// for it only slows everything; two copies make a lost round trip rare (at 35% loss each
/// way a round trip fails 58% of the time, two copies 34%).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LossMeter {
    share: f64,
}

impl LossMeter {
    /// The share of lost round trips above which each transmission is sent twice.
    pub const DUPLICATE_ABOVE: f64 = 0.25;
    /// The weight of each new observation.
    const WEIGHT: f64 = 0.1;

    /// A reply came.
    pub fn replied(&mut self) {
        self.share *= 1.0 - Self::WEIGHT;
    }

    /// A transmission timed out while the BMC answered others (a loss, not silence).
    pub fn lost(&mut self) {
        self.share = self.share * (1.0 - Self::WEIGHT) + Self::WEIGHT;
    }

    /// Whether transmissions go twice now.
    pub fn duplicate(&self) -> bool {
        self.share > Self::DUPLICATE_ABOVE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_lossy_link_gets_two_copies_and_a_clean_one_one() {
        let mut m = LossMeter::default();
        assert!(!m.duplicate());
        // One round trip in ten lost (5% each way): never duplicated.
        for k in 0..200 {
            if k % 10 == 0 {
                m.lost();
            } else {
                m.replied();
            }
            assert!(!m.duplicate(), "at {k}");
        }
        // Three in five lost (35% each way): duplicated within a few losses.
        for k in 0..20 {
            if k % 5 < 3 {
                m.lost();
            } else {
                m.replied();
            }
        }
        assert!(m.duplicate());
        // The link heals: single copies again after a dozen replies.
        for _ in 0..12 {
            m.replied();
        }
        assert!(!m.duplicate());
    }

    #[test]
    fn the_timer_follows_rfc_6298() {
        let mut t = Rto::new(RtoBounds::default());
        assert_eq!(t.current(), ms(1000), "1 s before any sample");
        // First sample R: SRTT = R, RTTVAR = R/2, RTO = R + 4 * R/2 = 3R.
        t.sample(ms(300));
        assert_eq!(t.srtt(), Some(ms(300)));
        assert_eq!(t.current(), ms(900));
        // Second: RTTVAR = 3/4 * 150 + 1/4 * |300 - 500| = 162.5; SRTT = 325.
        t.sample(ms(500));
        assert_eq!(t.current(), ms(325 + 650));
        // Loopback replies pull it down to the floor, not below.
        for _ in 0..50 {
            t.sample(ms(1));
        }
        assert_eq!(t.current(), ms(200));
        // Expiry doubles it, up to four times what the samples give; a sample recomputes it.
        t.backoff();
        assert_eq!(t.current(), ms(400));
        for _ in 0..10 {
            t.backoff();
        }
        assert_eq!(t.current(), ms(800));
        t.sample(ms(1));
        assert_eq!(t.current(), ms(200));
        // Before any sample, up to the ceiling.
        let mut fresh = Rto::new(RtoBounds::default());
        for _ in 0..10 {
            fresh.backoff();
        }
        assert_eq!(fresh.current(), ms(3000));
    }

    #[test]
    fn a_slow_link_gets_a_timer_above_its_round_trips() {
        // 100-300 ms each way: round trips of 200-600 ms. No reply within its RTT range
        // would be sent again once a few were timed.
        let mut t = Rto::new(RtoBounds::default());
        for r in [400, 250, 580, 210, 600, 330, 470, 200, 560, 390] {
            t.sample(ms(r));
        }
        assert!(t.current() > ms(600), "{:?}", t.current());
        assert!(t.current() <= ms(3000));
    }

    #[test]
    fn the_window_halves_on_loss_and_grows_back() {
        let mut w = Window::new(8);
        assert_eq!(w.size(), 8);
        w.timed_out();
        assert_eq!(w.size(), 4);
        w.timed_out();
        w.timed_out();
        w.timed_out();
        assert_eq!(w.size(), 1, "never below one");
        for _ in 0..1 + 2 + 3 {
            w.replied();
        }
        assert_eq!(w.size(), 4, "one more per window of replies");
        for _ in 0..100 {
            w.replied();
        }
        assert_eq!(w.size(), 8, "never above the configured window");
        assert_eq!(Window::new(0).size(), 1);
    }
}
