//! Simulated time.
//!
//! The engine never reads a clock: every call takes a [`SimTime`]. The doors decide where `now`
//! comes from: the wall clock (optionally sped up), a manual clock advanced through the control
//! API, or the virtual-time event loop of the simulator.

use std::fmt;

/// An instant in simulated time: microseconds since the Unix epoch.
///
/// Microseconds (not milliseconds) because the throughput limiter works at 1,000 msg/s and
/// above, where a millisecond grid would round every emission interval to zero or one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

/// A span of simulated time in microseconds.
pub type Micros = u64;

pub const MICROS_PER_MS: u64 = 1_000;
pub const MICROS_PER_SEC: u64 = 1_000_000;
pub const MICROS_PER_HOUR: u64 = 3_600 * MICROS_PER_SEC;
pub const MICROS_PER_DAY: u64 = 24 * MICROS_PER_HOUR;

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);

    pub fn from_secs(s: u64) -> Self {
        SimTime(s * MICROS_PER_SEC)
    }
    pub fn from_millis(ms: u64) -> Self {
        SimTime(ms * MICROS_PER_MS)
    }
    pub fn as_micros(self) -> u64 {
        self.0
    }
    /// Whole Unix seconds, the unit of every timestamp the Graph API sends.
    pub fn unix_secs(self) -> u64 {
        self.0 / MICROS_PER_SEC
    }
    pub fn plus(self, d: Micros) -> Self {
        SimTime(self.0.saturating_add(d))
    }
    pub fn minus(self, d: Micros) -> Self {
        SimTime(self.0.saturating_sub(d))
    }
    /// Microseconds from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: SimTime) -> Micros {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:06}",
            self.0 / MICROS_PER_SEC,
            self.0 % MICROS_PER_SEC
        )
    }
}
