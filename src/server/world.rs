//! How the server holds a world: each portfolio behind its own mutex.
//!
//! Requests for different portfolios never wait for each other; requests for one portfolio
//! are serialised, which costs nothing at the platform's own rates (a portfolio's numbers send
//! at most thousands of messages per second, a core decision takes well under a microsecond).
//! A lock is held for one core call and never across an await or another portfolio's lock,
//! except by the world-wide reads (snapshot, cost), which take them in index order.

use crate::engine::{Portfolio, PortfolioCell, Portfolios};
use parking_lot::{Mutex, MutexGuard};

/// The server's world.
pub type SharedWorld = Portfolios<Mutex<Portfolio>>;

impl PortfolioCell for Mutex<Portfolio> {
    type Guard<'a> = MutexGuard<'a, Portfolio>;
    fn new(p: Portfolio) -> Self {
        Mutex::new(p)
    }
    fn lock(&self) -> MutexGuard<'_, Portfolio> {
        Mutex::lock(self)
    }
}
