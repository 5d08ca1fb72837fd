//! RMCP+'s replay window: a reply is new only when its session sequence number was not seen
//! and is not older than the last [`SEQ_WINDOW`].

/// How far back (in the BMC's session sequence numbers) a reply may arrive out of order.
pub const SEQ_WINDOW: u32 = 32;

/// The session sequence numbers of the BMC's messages seen lately (IPMI v2.0 section
/// 6.12.13: each side discards a message whose number it has seen or that is older than its
/// window). Pure; one per session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqWindow {
    /// The highest number taken (0: none yet).
    highest: u32,
    /// Bit `i`: `highest - i` was taken.
    seen: u32,
}

impl SeqWindow {
    /// Whether a message numbered `seq` is new; if so it is recorded. 0 is never valid in
    /// an authenticated session.
    pub fn accept(&mut self, seq: u32) -> bool {
        if seq == 0 {
            return false;
        }
        if seq > self.highest {
            let ahead = seq - self.highest;
            self.seen = if ahead >= SEQ_WINDOW {
                0
            } else {
                self.seen << ahead
            };
            self.seen |= 1;
            self.highest = seq;
            return true;
        }
        let back = self.highest - seq;
        if back >= SEQ_WINDOW || self.seen & (1 << back) != 0 {
            return false;
        }
        self.seen |= 1 << back;
        true
    }
}
