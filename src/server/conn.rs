//! Connection hygiene: what keeps slow, idle or too many clients from taking the server down.
//!
//! - **Header and idle timeout.** hyper's HTTP/1 header-read timer starts whenever a connection
//!   waits for a request head, so one bound covers both a client trickling a header byte by
//!   byte (slowloris) and a keep-alive connection left idle: past it the connection is closed.
//! - **Connection cap.** At most `max_connections` are served at once. One more is answered at
//!   once with a Graph-shaped 503 (code 2, "Service temporarily unavailable") and closed, so a
//!   flood gets a clear answer instead of filling the kernel's backlog and starving everyone.
//! - **In-flight cap.** At most `max_in_flight` requests are handled at once; more get the same
//!   503 while the server catches up (load shedding). A client told to retry is better served
//!   than one left waiting on a queue with no bound.
//! - **Descriptors.** The soft `RLIMIT_NOFILE` is raised to the hard limit at start (a common
//!   soft limit of 1,024 would otherwise refuse sockets long before the cap), and the cap is
//!   lowered to fit what the process may open.
//! - **Accept errors** (out of descriptors, …) are logged at most once per second with a count,
//!   not once per failed accept.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The connection limits of `serve` (flags `--header-timeout`, `--max-connections`,
/// `--max-in-flight`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest wait for a complete request head, idle keep-alive time included.
    pub header_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Requests handled at once.
    pub max_in_flight: usize,
}

/// Defaults: long enough for any real client (the load generator drops pooled connections idle
/// for [`crate::load`]'s 30 s first), short enough that 5,000 idle sockets are gone within a
/// minute.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4_096;

/// Descriptors kept for everything that is not a client connection (listener, webhook
/// deliveries, files, the runtime).
const RESERVED_FDS: u64 = 256;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

impl Limits {
    /// Raises the soft descriptor limit to the hard one and lowers `max_connections` to fit
    /// under it. Returns the descriptor limit in force (`None` if it cannot be read).
    pub fn fit_descriptors(&mut self) -> Option<u64> {
        let limit = rlimit::increase_nofile_limit(u64::MAX).ok()?;
        let room = limit.saturating_sub(RESERVED_FDS).max(1);
        if (self.max_connections as u64) > room {
            tracing::warn!(
                "only {limit} file descriptors may be open: serving at most {room} connections \
                 (--max-connections {})",
                self.max_connections
            );
            self.max_connections = room as usize;
        }
        Some(limit)
    }
}

/// The answer to a client beyond a cap: Graph's error for a temporary outage.
pub const BUSY_BODY: &str = r#"{"error":{"message":"(#2) Service temporarily unavailable","type":"OAuthException","code":2,"error_data":{"details":"wabasim is at its connection or request limit; retry later"},"fbtrace_id":"AwabasimBusy"}}"#;

/// Answers a connection beyond the cap with a 503 and closes it, without reading its request
/// (a server may answer early); bounded in time so a client that does not read cannot hold it.
pub async fn refuse(mut stream: TcpStream) {
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json; charset=UTF-8\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        BUSY_BODY.len()
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(BUSY_BODY.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

/// Counts requests in flight; [`InFlight::enter`] says whether one more may be handled.
#[derive(Debug, Default)]
pub struct InFlight {
    now: AtomicUsize,
    /// Requests refused with 503 since the start.
    pub shed: AtomicU64,
}

/// A request being handled; leaves on drop.
pub struct Entered<'a>(&'a InFlight);

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::Relaxed);
    }
}

impl InFlight {
    /// One more request, unless `max` are already being handled (then it is counted as shed).
    pub fn enter(&self, max: usize) -> Option<Entered<'_>> {
        if self.now.fetch_add(1, Ordering::Relaxed) >= max {
            self.now.fetch_sub(1, Ordering::Relaxed);
            self.shed.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Some(Entered(self))
    }

    pub fn current(&self) -> usize {
        self.now.load(Ordering::Relaxed)
    }
}

/// Logs accept errors at most once per interval, with how many were not logged.
#[derive(Debug)]
pub struct AcceptLog {
    last: Option<Instant>,
    suppressed: u64,
    interval: Duration,
}

impl Default for AcceptLog {
    fn default() -> Self {
        AcceptLog {
            last: None,
            suppressed: 0,
            interval: Duration::from_secs(1),
        }
    }
}

impl AcceptLog {
    /// Records an accept error at `now`; returns the line to log, if one is due.
    pub fn error(&mut self, now: Instant, e: &std::io::Error) -> Option<String> {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.interval)
        {
            self.suppressed += 1;
            return None;
        }
        let line = if self.suppressed > 0 {
            format!(
                "accept failed: {e} ({} more accept errors in the last interval)",
                self.suppressed
            )
        } else {
            format!("accept failed: {e}")
        };
        self.last = Some(now);
        self.suppressed = 0;
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_sheds_past_the_cap_and_leaves_on_drop() {
        let f = InFlight::default();
        let a = f.enter(2).unwrap();
        let b = f.enter(2).unwrap();
        assert!(f.enter(2).is_none(), "the third is shed");
        assert_eq!(f.shed.load(Ordering::Relaxed), 1);
        drop(a);
        let _c = f.enter(2).expect("room again");
        drop(b);
        assert_eq!(f.current(), 1);
    }

    #[test]
    fn accept_errors_are_logged_once_per_interval() {
        let mut log = AcceptLog::default();
        let e = std::io::Error::other("Too many open files");
        let t = Instant::now();
        assert!(log.error(t, &e).is_some());
        for i in 1..100 {
            assert!(log.error(t + Duration::from_millis(i), &e).is_none());
        }
        let line = log.error(t + Duration::from_secs(2), &e).unwrap();
        assert!(line.contains("99 more accept errors"), "{line}");
    }

    #[test]
    fn the_cap_fits_the_descriptor_limit() {
        let mut l = Limits {
            max_connections: usize::MAX,
            ..Limits::default()
        };
        let limit = l.fit_descriptors().expect("linux has RLIMIT_NOFILE");
        assert_eq!(l.max_connections as u64, limit - RESERVED_FDS);
        let mut small = Limits {
            max_connections: 10,
            ..Limits::default()
        };
        small.fit_descriptors();
        assert_eq!(small.max_connections, 10, "a cap under the limit stays");
    }

    #[test]
    fn the_busy_body_is_a_graph_error() {
        let v: serde_json::Value = serde_json::from_str(BUSY_BODY).unwrap();
        assert_eq!(v["error"]["code"], 2);
    }
}
