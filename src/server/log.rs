//! The decision log behind `GET /_sim/events`: every decision the core reports, numbered in
//! the order requests committed them, kept up to `log_capacity_per_number` per phone number.
//! Older lines are dropped and counted (`evicted`), never silently lost.

use crate::engine::events::Decision;
use crate::engine::ids::{IdMap, PhoneNumberId};
use serde::Serialize;
use std::collections::VecDeque;

/// One line of the log.
#[derive(Clone, Debug, Serialize)]
pub struct LogLine {
    /// Order of decisions, across every number.
    pub seq: u64,
    #[serde(flatten)]
    pub decision: Decision,
}

#[derive(Debug, Default)]
struct NumberLog {
    lines: VecDeque<LogLine>,
    evicted: u64,
}

#[derive(Debug)]
pub struct DecisionLog {
    capacity: usize,
    next_seq: u64,
    numbers: IdMap<PhoneNumberId, NumberLog>,
}

/// `GET /_sim/events`: one page of the log.
#[derive(Clone, Debug, Serialize)]
pub struct EventLogPage {
    /// Pass as `since` to get the next page.
    pub next: u64,
    /// More entries are available after this page.
    pub more: bool,
    /// Entries dropped from memory because a number's log was full.
    pub evicted: u64,
    pub events: Vec<LogLine>,
}

impl DecisionLog {
    pub fn new(capacity_per_number: usize) -> DecisionLog {
        DecisionLog {
            capacity: capacity_per_number,
            next_seq: 0,
            numbers: IdMap::default(),
        }
    }

    pub fn push(&mut self, decision: Decision) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let log = self.numbers.entry(decision.phone_number_id).or_default();
        if log.lines.len() >= self.capacity {
            log.evicted += 1;
            if log.lines.pop_front().is_none() {
                return; // capacity 0: nothing is kept
            }
        }
        log.lines.push_back(LogLine { seq, decision });
    }

    /// Lines no longer kept for `phone`.
    pub fn evicted(&self, phone: PhoneNumberId) -> u64 {
        self.numbers.get(&phone).map_or(0, |l| l.evicted)
    }

    /// Entries with `seq >= since`, oldest first, at most `limit`.
    pub fn page(&self, since: u64, limit: usize) -> EventLogPage {
        let mut all: Vec<LogLine> = self
            .numbers
            .values()
            .flat_map(|l| l.lines.iter().filter(|e| e.seq >= since).cloned())
            .collect();
        all.sort_by_key(|e| e.seq);
        let more = all.len() > limit;
        all.truncate(limit);
        EventLogPage {
            next: all.last().map_or(since, |e| e.seq + 1),
            more,
            evicted: self.numbers.values().map(|l| l.evicted).sum(),
            events: all,
        }
    }

    /// The kept lines matching `keep`, in commit order, at most `limit` (the newest of them),
    /// and whether more matched.
    pub fn matching(&self, limit: usize, keep: impl Fn(&Decision) -> bool) -> (Vec<LogLine>, bool) {
        let mut all: Vec<LogLine> = self
            .numbers
            .values()
            .flat_map(|l| l.lines.iter().filter(|e| keep(&e.decision)).cloned())
            .collect();
        all.sort_by_key(|e| e.seq);
        let more = all.len() > limit;
        let cut = all.len().saturating_sub(limit);
        all.drain(..cut);
        (all, more)
    }

    /// The newest `n` lines over every number, oldest first, without copying the rest.
    pub fn recent(&self, n: usize) -> Vec<LogLine> {
        let mut all: Vec<LogLine> = self
            .numbers
            .values()
            .flat_map(|l| l.lines.iter().rev().take(n).cloned())
            .collect();
        all.sort_by_key(|e| e.seq);
        let cut = all.len().saturating_sub(n);
        all.drain(..cut);
        all
    }

    /// Lines no longer kept, over every number.
    pub fn evicted_total(&self) -> u64 {
        self.numbers.values().map(|l| l.evicted).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SimTime;
    use crate::engine::events::Rule;

    fn decision(phone: u64) -> Decision {
        Decision {
            at: SimTime::from_secs(1_760_000_000),
            phone_number_id: PhoneNumberId(phone),
            recipient: None,
            rule: Rule::Accepted,
            code: None,
            wamid: None,
            detail: None,
        }
    }

    #[test]
    fn log_is_bounded_per_number_and_counts_evictions() {
        let mut log = DecisionLog::new(3);
        for _ in 0..5 {
            log.push(decision(1));
        }
        log.push(decision(2));
        let page = log.page(0, 100);
        assert_eq!((page.events.len(), page.evicted), (4, 2));
        assert_eq!(
            (log.evicted(PhoneNumberId(1)), log.evicted(PhoneNumberId(2))),
            (2, 0)
        );
        // Oldest kept first, numbered in commit order across numbers.
        let seqs: Vec<u64> = page.events.iter().map(|l| l.seq).collect();
        assert_eq!(seqs, vec![2, 3, 4, 5]);
    }

    #[test]
    fn matching_keeps_the_newest_lines_that_match() {
        let mut log = DecisionLog::new(10);
        for p in [1, 2, 1, 1] {
            log.push(decision(p));
        }
        let (lines, more) = log.matching(2, |d| d.phone_number_id == PhoneNumberId(1));
        assert_eq!(lines.iter().map(|l| l.seq).collect::<Vec<_>>(), vec![2, 3]);
        assert!(more);
        let (lines, more) = log.matching(10, |d| d.phone_number_id == PhoneNumberId(3));
        assert!(lines.is_empty() && !more);
        let recent: Vec<u64> = log.recent(3).iter().map(|l| l.seq).collect();
        assert_eq!(recent, vec![1, 2, 3]);
        assert_eq!(log.recent(10).len(), 4);
    }

    #[test]
    fn pages_follow_the_cursor_and_capacity_zero_keeps_nothing() {
        let mut log = DecisionLog::new(10);
        for p in 0..4 {
            log.push(decision(p));
        }
        let first = log.page(0, 3);
        assert!(first.more);
        let rest = log.page(first.next, 3);
        assert_eq!((rest.events.len(), rest.more), (1, false));
        let mut none = DecisionLog::new(0);
        none.push(decision(1));
        let page = none.page(0, 10);
        assert_eq!((page.events.len(), page.evicted), (0, 1));
    }
}
