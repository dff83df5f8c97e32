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

/// Where `now` comes from for the real-time doors (`serve`, `run`).
///
/// - `Wall`: the wall clock, optionally sped up: simulated time advances `scale` times faster
///   than real time from the instant the clock was made.
/// - `Manual`: time stands still until [`Clock::advance`] is called (control API), so
///   integration tests are deterministic.
///
/// This is an I/O edge (it reads `Instant::now`); the engine never sees it, only the instants
/// it produces.
pub struct Clock {
    mode: ClockMode,
    start_sim: SimTime,
    start_wall: std::time::Instant,
    scale: f64,
    /// Manual mode: current simulated time.
    manual: std::sync::atomic::AtomicU64,
    /// Woken whenever a manual clock advances.
    advanced: tokio::sync::Notify,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum ClockMode {
    Wall,
    Manual,
}

impl Clock {
    /// A clock starting at `start` (simulated), advancing `scale` times real speed in wall mode.
    pub fn new(mode: ClockMode, start: SimTime, scale: f64) -> Clock {
        Clock {
            mode,
            start_sim: start,
            start_wall: std::time::Instant::now(),
            scale: if scale.is_finite() && scale > 0.0 {
                scale
            } else {
                1.0
            },
            manual: std::sync::atomic::AtomicU64::new(start.0),
            advanced: tokio::sync::Notify::new(),
        }
    }

    /// The wall clock's current Unix time as a [`SimTime`].
    pub fn system_now() -> SimTime {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        SimTime(d.as_micros() as u64)
    }

    pub fn mode(&self) -> ClockMode {
        self.mode
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    pub fn now(&self) -> SimTime {
        match self.mode {
            ClockMode::Manual => SimTime(self.manual.load(std::sync::atomic::Ordering::Acquire)),
            ClockMode::Wall => {
                let real = self.start_wall.elapsed().as_micros() as f64;
                self.start_sim.plus((real * self.scale) as u64)
            }
        }
    }

    /// Moves a manual clock forward. Returns the new time, or `None` on a wall clock.
    pub fn advance(&self, by: Micros) -> Option<SimTime> {
        if self.mode != ClockMode::Manual {
            return None;
        }
        // Saturating, so no advance can wrap the clock back to the epoch.
        let ordering = std::sync::atomic::Ordering::AcqRel;
        let old = self
            .manual
            .fetch_update(ordering, std::sync::atomic::Ordering::Acquire, |t| {
                Some(t.saturating_add(by))
            })
            .unwrap_or_else(|t| t);
        let new = old.saturating_add(by);
        self.advanced.notify_waiters();
        Some(SimTime(new))
    }

    /// Waits until simulated time reaches `at` (or `wake` is notified, whichever comes first).
    /// On a manual clock this waits for an `advance` past `at`.
    pub async fn sleep_until(&self, at: SimTime, wake: &tokio::sync::Notify) {
        loop {
            let now = self.now();
            if now >= at {
                return;
            }
            match self.mode {
                ClockMode::Wall => {
                    let real = (at.since(now) as f64 / self.scale).ceil() as u64;
                    let d = std::time::Duration::from_micros(real.max(1));
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = wake.notified() => return,
                    }
                }
                ClockMode::Manual => {
                    let adv = self.advanced.notified();
                    tokio::pin!(adv);
                    adv.as_mut().enable();
                    if self.now() >= at {
                        return;
                    }
                    tokio::select! {
                        _ = adv => {}
                        _ = wake.notified() => return,
                    }
                }
            }
        }
    }

    /// Waits for the next `advance` of a manual clock (never returns on a wall clock).
    pub async fn advanced(&self) {
        self.advanced.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_stands_still_until_advanced() {
        let c = Clock::new(ClockMode::Manual, SimTime::from_secs(100), 1.0);
        assert_eq!(c.now(), SimTime::from_secs(100));
        assert_eq!(c.advance(5 * MICROS_PER_SEC), Some(SimTime::from_secs(105)));
        assert_eq!(c.now(), SimTime::from_secs(105));
    }

    #[test]
    fn wall_clock_cannot_be_advanced_and_moves_forward() {
        let c = Clock::new(ClockMode::Wall, SimTime::from_secs(100), 3600.0);
        assert_eq!(c.advance(1), None);
        let a = c.now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(c.now() > a);
    }
}
