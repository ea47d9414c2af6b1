//! The loop's timers: consensus timeouts and the start of the next height (§16.6: a node
//! waits `block_interval_ms` after deciding). Pure: deadlines are `Instant`s given in.

use std::collections::BTreeMap;
use std::time::Instant;

use clp_consensus::Timeout;

/// What a timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerEvent {
    /// Call the consensus core's `on_timeout`.
    Consensus(Timeout),
    /// Start deciding this height.
    StartHeight(u64),
}

impl TimerEvent {
    fn height(&self) -> u64 {
        match self {
            TimerEvent::Consensus(t) => t.height,
            TimerEvent::StartHeight(h) => *h,
        }
    }
}

/// Pending timers by deadline (ties in scheduling order).
#[derive(Debug, Default)]
pub struct Timers {
    queue: BTreeMap<(Instant, u64), TimerEvent>,
    seq: u64,
}

impl Timers {
    pub fn schedule(&mut self, at: Instant, event: TimerEvent) {
        self.seq += 1;
        self.queue.insert((at, self.seq), event);
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.keys().next().map(|(at, _)| *at)
    }

    /// Removes and returns the timers due at `now`, earliest first.
    pub fn take_due(&mut self, now: Instant) -> Vec<TimerEvent> {
        let mut out = Vec::new();
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            out.push(entry.remove());
        }
        out
    }

    /// Forgets every timer of a height below `height` (decided: they can do nothing).
    pub fn drop_below(&mut self, height: u64) {
        self.queue.retain(|_, e| e.height() >= height);
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clp_consensus::TimeoutKind;
    use std::time::Duration;

    fn timeout(height: u64) -> TimerEvent {
        TimerEvent::Consensus(Timeout {
            kind: TimeoutKind::Propose,
            height,
            round: 0,
            duration_ms: 1,
        })
    }

    #[test]
    fn timers_fire_in_deadline_order_and_only_when_due() {
        let mut t = Timers::default();
        let t0 = Instant::now();
        t.schedule(t0 + Duration::from_millis(20), TimerEvent::StartHeight(2));
        t.schedule(t0 + Duration::from_millis(10), timeout(1));
        t.schedule(t0 + Duration::from_millis(10), timeout(1));
        assert_eq!(t.next_deadline(), Some(t0 + Duration::from_millis(10)));
        assert!(t.take_due(t0).is_empty());
        assert_eq!(
            t.take_due(t0 + Duration::from_millis(15)),
            vec![timeout(1), timeout(1)]
        );
        assert_eq!(
            t.take_due(t0 + Duration::from_millis(30)),
            vec![TimerEvent::StartHeight(2)]
        );
        assert!(t.is_empty());
    }

    #[test]
    fn decided_heights_lose_their_timers() {
        let mut t = Timers::default();
        let t0 = Instant::now();
        t.schedule(t0, timeout(1));
        t.schedule(t0, timeout(2));
        t.schedule(t0, TimerEvent::StartHeight(2));
        t.drop_below(2);
        assert_eq!(t.len(), 2);
        assert_eq!(t.take_due(t0), vec![timeout(2), TimerEvent::StartHeight(2)]);
    }
}
