//! The engine's timer queue: a calendar queue ordered by `(at, seq)`.
//!
//! Why not one binary heap: a number sending at 1,000 msg/s keeps hundreds of thousands of
//! timers pending (delivered, read, reactions up to hours later). A heap that size pays a
//! cache miss per level on every push and pop (19 levels at 500k entries). Past a few thousand
//! pending timers they are dropped unsorted into slots of about 4 s; the earliest slot becomes
//! a small heap (built in linear time) that takes the pops and the timers due within it.
//! Pushing elsewhere is an append, and only the slot index (a B-tree over slots, which stays in
//! cache) is searched. Below that size the queue is one heap, which is cheaper there.
//!
//! Order is exactly `(at, seq)`, as with the heap, so simulations stay byte-identical.

use crate::clock::SimTime;
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap};

/// Slot width: 2^22 µs (about 4 s).
const SLOT_SHIFT: u32 = 22;

/// Up to this many pending timers the queue is one plain heap (`active_slot` = `u64::MAX`):
/// a small heap stays in cache, and slots would only cost an allocation each.
const SMALL: usize = 4_096;

fn slot_of(at: SimTime) -> u64 {
    at.as_micros() >> SLOT_SHIFT
}

/// One pending timer.
#[derive(Debug)]
pub struct Timed<T> {
    pub at: SimTime,
    /// Tie-breaker: insertion order among timers due at the same instant.
    pub seq: u64,
    pub item: T,
}

impl<T> Timed<T> {
    /// `(at, seq)` as one number: the heap compares on every level of every push and pop, and
    /// one 128-bit comparison is cheaper than a tuple's two with a branch between.
    fn key(&self) -> u128 {
        ((self.at.as_micros() as u128) << 64) | self.seq as u128
    }
}

impl<T> PartialEq for Timed<T> {
    fn eq(&self, o: &Self) -> bool {
        self.key() == o.key()
    }
}
impl<T> Eq for Timed<T> {}
impl<T> PartialOrd for Timed<T> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Timed<T> {
    fn cmp(&self, o: &Self) -> Ordering {
        self.key().cmp(&o.key())
    }
}

/// Timers ordered by `(at, seq)`.
#[derive(Debug)]
pub struct TimerQueue<T> {
    /// Every timer of slot `active_slot` or earlier.
    active: BinaryHeap<Reverse<Timed<T>>>,
    active_slot: u64,
    /// Later slots, unsorted within a slot. Invariant: every key is `> active_slot`.
    later: BTreeMap<u64, Vec<Timed<T>>>,
    /// Emptied slot vectors, reused so a steady load does not allocate.
    spare: Vec<Vec<Timed<T>>>,
    len: usize,
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        TimerQueue {
            // Room for the first timers: growing the heap copies it.
            active: BinaryHeap::with_capacity(1024),
            active_slot: u64::MAX,
            later: BTreeMap::new(),
            spare: Vec::new(),
            len: 0,
        }
    }
}

impl<T> TimerQueue<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, at: SimTime, seq: u64, item: T) {
        self.len += 1;
        if self.len > SMALL && self.active_slot == u64::MAX {
            self.spread();
        }
        let t = Timed { at, seq, item };
        let slot = slot_of(at);
        if slot <= self.active_slot {
            self.active.push(Reverse(t));
        } else {
            let spare = &mut self.spare;
            self.later
                .entry(slot)
                .or_insert_with(|| spare.pop().unwrap_or_default())
                .push(t);
        }
    }

    /// Leaves the one-heap mode: the earliest timer's slot stays in the heap, later ones move
    /// to their slots.
    fn spread(&mut self) {
        let Some(first) = self.active.peek().map(|Reverse(t)| slot_of(t.at)) else {
            return;
        };
        let all = std::mem::take(&mut self.active).into_vec();
        self.active_slot = first;
        let mut keep = Vec::new();
        for Reverse(t) in all {
            let slot = slot_of(t.at);
            if slot <= first {
                keep.push(Reverse(t));
            } else {
                self.later.entry(slot).or_default().push(t);
            }
        }
        self.active = BinaryHeap::from(keep);
    }

    /// Makes sure the earliest timer, if any, is in `active`.
    fn settle(&mut self) {
        if !self.active.is_empty() {
            return;
        }
        let Some((slot, v)) = self.later.pop_first() else {
            return;
        };
        // `Reverse` is a transparent wrapper: rewrap in place, then heapify in O(k).
        let v: Vec<Reverse<Timed<T>>> = v.into_iter().map(Reverse).collect();
        let old = std::mem::replace(&mut self.active, BinaryHeap::from(v));
        let old: Vec<Timed<T>> = old.into_vec().into_iter().map(|Reverse(t)| t).collect();
        if old.capacity() > 0 && self.spare.len() < 64 {
            self.spare.push(old);
        }
        self.active_slot = slot;
    }

    /// When the earliest timer is due.
    pub fn next_at(&mut self) -> Option<SimTime> {
        self.settle();
        self.active.peek().map(|Reverse(t)| t.at)
    }

    /// Removes and returns the earliest timer if it is due at or before `now`.
    pub fn pop_due(&mut self, now: SimTime) -> Option<Timed<T>> {
        self.settle();
        if self.active.peek()?.0.at > now {
            return None;
        }
        self.len -= 1;
        if self.len == 0 {
            // Empty again: back to the one-heap mode.
            self.active_slot = u64::MAX;
        }
        self.active.pop().map(|Reverse(t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pops in exactly the order of a binary heap on `(at, seq)`, whatever the interleaving
    /// of pushes (into the active slot, later slots, far slots) and pops, in both modes and
    /// across the switches between them (`rounds` drains the queue in between).
    #[test]
    fn same_order_as_a_heap() {
        let mut q = TimerQueue::default();
        let mut h = BinaryHeap::new();
        let mut x = 99u64;
        let mut now = 1_000_000_000u64;
        let mut seq = 0;
        let mut popped = 0;
        let mut most = 0;
        for step in 0..60_000 {
            if step % 20_000 == 0 {
                // Drain: the queue goes back to one heap.
                while let Some(t) = q.pop_due(SimTime(u64::MAX)) {
                    let Reverse(e) = h.pop().expect("same length");
                    assert_eq!((t.at, t.seq, t.item), e);
                }
                assert!(h.is_empty() && q.is_empty());
                assert_eq!(q.active_slot, u64::MAX);
            }
            x = crate::engine::audience::splitmix(x);
            if !x.is_multiple_of(3) {
                // Delays from 0 to ~2 h, biased short, sometimes exactly `now`.
                let delay = match x % 5 {
                    0 => 0,
                    1 => (x >> 8) % 1_000,
                    2 => (x >> 8) % 3_000_000,
                    _ => (x >> 8) % 7_200_000_000,
                };
                seq += 1;
                let at = SimTime(now + delay);
                q.push(at, seq, step);
                h.push(Reverse((at, seq, step)));
            } else {
                now += (x >> 16) % 400_000;
                let limit = SimTime(now);
                loop {
                    let a = q.pop_due(limit).map(|t| (t.at, t.seq, t.item));
                    let b = match h.peek() {
                        Some(Reverse(e)) if e.0 <= limit => h.pop().map(|Reverse(e)| e),
                        _ => None,
                    };
                    assert_eq!(a, b, "step {step}");
                    if a.is_none() {
                        break;
                    }
                    popped += 1;
                }
            }
            assert_eq!(q.len(), h.len());
            assert_eq!(q.next_at(), h.peek().map(|Reverse(e)| e.0));
            most = most.max(q.len());
        }
        assert!(popped > 10_000);
        assert!(most > SMALL, "the calendar mode was exercised ({most})");
    }

    #[test]
    fn empty_queue() {
        let mut q: TimerQueue<()> = TimerQueue::default();
        assert!(q.is_empty());
        assert_eq!(q.next_at(), None);
        assert!(q.pop_due(SimTime(u64::MAX)).is_none());
    }
}
