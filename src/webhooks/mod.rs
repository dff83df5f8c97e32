//! Webhooks: engine events → Meta-shaped, signed POSTs, delivered with retries.
//!
//! - [`payload`]: pure rendering of one event into a change `value`, and of a batch into the
//!   `{"object":"whatsapp_business_account","entry":[…]}` envelope.
//! - [`json`]: serialisation with every non-ASCII character escaped (`\uXXXX`), as Meta does.
//! - [`signer`]: `X-Hub-Signature-256` (HMAC-SHA256 of the exact body bytes, app secret as key).
//! - [`client`]: URL rules, the POST, and the `hub.challenge` verification handshake.
//! - [`dispatcher`]: the tokio task that serialises, signs, sends and retries on the simulated
//!   clock.
//! - [`stats`]: counters that account for every event (delivered, expired, dropped, pending).
//!
//! The request hot path only calls [`Outbox::push`]: a few atomic additions and a channel send
//! per event. Rendering, serialising and signing happen in the dispatcher task.
//!
//! See `docs/webhooks.md` for the shapes, the retry schedule and the decisions taken where Meta
//! publishes nothing.

pub mod breaker;
mod client;
pub mod dispatcher;
pub mod json;
pub mod payload;
pub mod signer;
pub mod stats;

pub use json::to_ascii_json;
pub use payload::{envelope, render_change};
pub use signer::signature;
pub use stats::WebhookStats;

use crate::clock::Clock;
use crate::engine::events::Event;
use crate::engine::ids::WabaId;
use stats::Counters;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

/// Where a durable outbox (`serve --state-dir`) keeps what became of its events. Every event
/// pushed gets a number, in push order (the order of the server's journal, so a replay numbers
/// the same events the same way); an event is *settled* once delivered, expired, dropped or
/// undeliverable. A settled event is not queued again when a restart replays the world.
pub trait SettleLog: Send + Sync {
    /// Whether event `n` was settled before this process started.
    fn was_settled(&self, n: u64) -> bool;
    /// Events `ns` are settled (delivered, expired, dropped or without a URL).
    fn settle(&self, ns: &[u64]);
}

/// An event and its number (see [`SettleLog`]).
pub(crate) type Numbered = (u64, Event);

/// Where and how webhooks are delivered.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://host:port/path`. `None`: no delivery; pushed events are counted as `no_url`
    /// (undeliverable) instead of being queued forever. https:// is refused by [`validate`].
    ///
    /// [`validate`]: WebhookConfig::validate
    pub url: Option<String>,
    /// HMAC key of `X-Hub-Signature-256` (the Meta app secret).
    pub app_secret: String,
    /// Expected by the receiver in the `hub.verify_token` of the handshake.
    pub verify_token: String,
    /// Graph API version whose webhook shapes are produced, e.g. `"v23.0"`. v23 and older put
    /// `conversation` on `sent` and `delivered`; v24+ omit it unless the message is in a free
    /// entry point window.
    pub api_version: String,
    /// Changes per POST (same WABA and field only). 1 = one change per POST.
    pub batch_max: usize,
    /// Concurrent POSTs.
    pub max_in_flight: usize,
    /// Simulated seconds before the second retry; the first retry is immediate, then the delay
    /// doubles. Must be ≥ 1.
    pub retry_initial_s: u64,
    /// Cap of the backoff, simulated seconds.
    pub retry_max_s: u64,
    /// A body still unacknowledged this long (simulated) after its first attempt is dropped and
    /// counted as `expired`. Meta: 7 days.
    pub horizon_s: u64,
    /// Real-time limit of one POST (connect + answer), milliseconds.
    pub timeout_ms: u64,
    /// At most this many events pending (queued, in flight or awaiting retry); more are
    /// counted as `dropped_overflow` and logged.
    pub max_pending: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            url: None,
            app_secret: String::new(),
            verify_token: String::new(),
            api_version: "v23.0".into(),
            batch_max: 1,
            max_in_flight: 32,
            retry_initial_s: 1,
            retry_max_s: 3600,
            horizon_s: 7 * 86_400,
            timeout_ms: 5000,
            max_pending: 1_000_000,
        }
    }
}

impl WebhookConfig {
    /// Checks the configuration; the message says which setting is wrong and why.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(url) = &self.url {
            client::parse_url(url)?;
        }
        if payload::api_major(&self.api_version).is_none() {
            return Err(format!(
                "webhooks: api_version '{}' is not a Graph API version like \"v23.0\"",
                self.api_version
            ));
        }
        let positive = [
            ("batch_max", self.batch_max as u64),
            ("max_in_flight", self.max_in_flight as u64),
            ("retry_initial_s", self.retry_initial_s),
            ("timeout_ms", self.timeout_ms),
            ("max_pending", self.max_pending as u64),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(format!("webhooks: {name} must be at least 1"));
            }
        }
        if self.batch_max > 1000 {
            return Err("webhooks: batch_max is at most 1000 (Meta's batch limit)".into());
        }
        if self.retry_max_s < self.retry_initial_s {
            return Err(format!(
                "webhooks: retry_max_s ({}) must not be below retry_initial_s ({})",
                self.retry_max_s, self.retry_initial_s
            ));
        }
        Ok(())
    }
}

/// The cheap handle the request path pushes events into. Clones share one queue and one set of
/// counters. When every clone is dropped, the dispatcher delivers what is pending and stops.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<OutboxInner>,
}

struct OutboxInner {
    tx: Option<UnboundedSender<Numbered>>,
    /// The number of the next event pushed.
    next: AtomicU64,
    settle: Option<Arc<dyn SettleLog>>,
    counters: Arc<Counters>,
    max_pending: u64,
    overrides: Overrides,
}

/// Per-WABA callback URLs (`override_callback_uri` of `POST /{waba-id}/subscribed_apps`),
/// shared by the outbox (which sets them) and the dispatcher (which reads them when it builds a
/// POST). At most one entry per WABA of the world.
pub type Overrides = Arc<parking_lot::RwLock<crate::engine::ids::IdMap<WabaId, hyper::Uri>>>;

impl Outbox {
    /// Hands events over for delivery and empties `events` (its capacity is kept). Never blocks,
    /// serialises or allocates beyond the channel's own blocks. Events beyond `max_pending` are
    /// counted as `dropped_overflow` and logged; with no URL they are counted as `no_url`.
    pub fn push(&self, events: &mut Vec<Event>) {
        let n = events.len() as u64;
        if n == 0 {
            return;
        }
        let inner = &*self.inner;
        let first = inner.next.fetch_add(n, Relaxed);
        let log = inner.settle.as_deref();
        // A restart replays the world: what was settled before it is not sent again.
        let settled = |k: u64| log.is_some_and(|l| l.was_settled(k));
        let fresh = n - (first..first + n).filter(|&k| settled(k)).count() as u64;
        let mut numbered = events
            .drain(..)
            .zip(first..)
            .filter(|(_, k)| !settled(*k))
            .map(|(ev, k)| (k, ev));
        let c = &*inner.counters;
        Counters::add(&c.pushed, fresh);
        let Some(tx) = &inner.tx else {
            Counters::add(&c.no_url, fresh);
            if let Some(log) = log {
                log.settle(&numbered.map(|(k, _)| k).collect::<Vec<_>>());
            }
            return;
        };
        let granted = c.reserve(fresh, inner.max_pending);
        Counters::add(&c.queued, granted);
        for ev in numbered.by_ref().take(granted as usize) {
            // A send fails only once the dispatcher has stopped (shutdown): the event then stays
            // counted as queued, i.e. visibly undelivered.
            let _ = tx.send(ev);
        }
        if granted < fresh {
            let dropped = fresh - granted;
            if let Some(log) = log {
                log.settle(&numbered.by_ref().map(|(k, _)| k).collect::<Vec<_>>());
            }
            let before = c
                .dropped_overflow
                .fetch_add(dropped, std::sync::atomic::Ordering::Relaxed);
            // Log the first drop and then at each power of two, not once per event.
            let after = before + dropped;
            if before == 0 || after.ilog2() > before.ilog2() {
                tracing::warn!(
                    dropped_total = after,
                    max_pending = inner.max_pending,
                    "webhook outbox full: events dropped (receiver too slow or down)"
                );
            }
        }
        numbered.for_each(drop);
        events.clear();
    }

    /// Sends `waba`'s `messages` webhooks to `url` instead of the configured URL (`None`: back
    /// to it), as Meta's WABA-level override does. Only `http://` URLs can be delivered to (the
    /// simulator has no TLS client): others are refused here and the caller keeps the default.
    pub fn set_override(&self, waba: WabaId, url: Option<&str>) -> Result<(), String> {
        let mut map = self.inner.overrides.write();
        match url {
            Some(u) => {
                map.insert(waba, client::parse_url(u)?);
            }
            None => {
                map.remove(&waba);
            }
        }
        Ok(())
    }

    /// A snapshot of the delivery counters.
    pub fn stats(&self) -> WebhookStats {
        self.inner.counters.snapshot()
    }
}

/// Starts delivery; runs until every [`Outbox`] clone is dropped and nothing is pending (or the
/// returned task is aborted). Must be called inside a tokio runtime. See [`start_with_shutdown`].
pub fn start(cfg: WebhookConfig, clock: Arc<Clock>) -> (Outbox, tokio::task::JoinHandle<()>) {
    start_with_shutdown(cfg, clock, std::future::pending::<()>())
}

/// Starts delivery: returns the [`Outbox`] and the dispatcher task. When `shutdown` resolves
/// the dispatcher drains (posts what is queued or in flight, waits for no retry backoff) and
/// ends; abort the task to bound that in time. Events not delivered stay counted as pending in
/// [`Outbox::stats`]. Call [`WebhookConfig::validate`] (and [`verify_endpoint`]) first: an
/// invalid URL here is logged as an error and handled like no URL.
pub fn start_with_shutdown<F>(
    cfg: WebhookConfig,
    clock: Arc<Clock>,
    shutdown: F,
) -> (Outbox, tokio::task::JoinHandle<()>)
where
    F: Future<Output = ()> + Send + 'static,
{
    start_settling(cfg, clock, shutdown, None)
}

/// As [`start_with_shutdown`], telling `settle` what becomes of every event (a durable
/// outbox; see [`SettleLog`]).
pub fn start_settling<F>(
    cfg: WebhookConfig,
    clock: Arc<Clock>,
    shutdown: F,
    settle: Option<Arc<dyn SettleLog>>,
) -> (Outbox, tokio::task::JoinHandle<()>)
where
    F: Future<Output = ()> + Send + 'static,
{
    let counters = Arc::new(Counters::default());
    let overrides = Overrides::default();
    let max_pending = cfg.max_pending.max(1) as u64;
    let uri = cfg.url.as_deref().and_then(|u| match client::parse_url(u) {
        Ok(uri) => Some(uri),
        Err(e) => {
            tracing::error!("{e}; webhooks will not be delivered");
            None
        }
    });
    let Some(uri) = uri else {
        let outbox = Outbox {
            inner: Arc::new(OutboxInner {
                tx: None,
                next: AtomicU64::new(0),
                settle,
                counters,
                max_pending,
                overrides,
            }),
        };
        return (outbox, tokio::spawn(async {}));
    };
    let (tx, rx) = unbounded_channel();
    let dispatcher = dispatcher::Dispatcher::new(cfg, uri, clock, counters.clone(), rx)
        .with_overrides(overrides.clone())
        .with_settle_log(settle.clone());
    let handle = tokio::spawn(dispatcher.run(shutdown));
    let outbox = Outbox {
        inner: Arc::new(OutboxInner {
            tx: Some(tx),
            next: AtomicU64::new(0),
            settle,
            counters,
            max_pending,
            overrides,
        }),
    };
    (outbox, handle)
}

/// The verification handshake Meta performs when a callback URL is set:
/// `GET {url}?hub.mode=subscribe&hub.challenge=<random>&hub.verify_token=<token>`. `Ok` if the
/// receiver answers 200 with exactly the challenge as the body; otherwise `Err` with the status,
/// an excerpt of the body and what was expected. `Ok` without a request when no URL is set.
pub async fn verify_endpoint(cfg: &WebhookConfig) -> Result<(), String> {
    match &cfg.url {
        None => Ok(()),
        Some(url) => client::handshake(url, &cfg.verify_token, cfg.timeout_ms).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{ClockMode, SimTime};

    #[test]
    fn defaults_are_valid_and_bad_settings_are_named() {
        let ok = WebhookConfig {
            url: Some("http://127.0.0.1:8080/hook".into()),
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
        let https = WebhookConfig {
            url: Some("https://example.com/hook".into()),
            ..Default::default()
        };
        assert!(https.validate().unwrap_err().contains("https://"));
        let zero = WebhookConfig {
            retry_initial_s: 0,
            ..Default::default()
        };
        assert!(zero.validate().unwrap_err().contains("retry_initial_s"));
        let ver = WebhookConfig {
            api_version: "latest".into(),
            ..Default::default()
        };
        assert!(ver.validate().unwrap_err().contains("api_version"));
    }

    /// Remembers what it is told; `before` were settled before the "restart".
    struct Log {
        before: Vec<u64>,
        settled: parking_lot::Mutex<Vec<u64>>,
    }

    impl SettleLog for Log {
        fn was_settled(&self, n: u64) -> bool {
            self.before.contains(&n)
        }
        fn settle(&self, ns: &[u64]) {
            self.settled.lock().extend_from_slice(ns);
        }
    }

    fn change(n: u64) -> Event {
        use crate::engine::events::{DisplayNumber, EventBody, PhoneMeta, Wamid};
        use crate::engine::ids::{PhoneNumberId, WaId};
        Event {
            at: SimTime::from_secs(1),
            waba: WabaId(1),
            body: EventBody::UserChangedNumber {
                phone: PhoneMeta {
                    id: PhoneNumberId(2),
                    display: DisplayNumber::parse("1555").unwrap(),
                },
                old: WaId(16505551234),
                new: WaId(16505551235),
                wamid: Wamid {
                    user: WaId(16505551234),
                    seq: n,
                    tag: 1,
                    inbound: true,
                },
            },
        }
    }

    #[tokio::test]
    async fn events_settled_before_a_restart_are_not_queued_again() {
        let clock = Arc::new(Clock::new(ClockMode::Manual, SimTime::from_secs(1), 1.0));
        let log = Arc::new(Log {
            before: vec![1, 3],
            settled: Default::default(),
        });
        // No URL: every event not settled before is settled now, numbered in push order.
        let (outbox, task) = start_settling(
            WebhookConfig::default(),
            clock.clone(),
            std::future::pending(),
            Some(log.clone()),
        );
        let mut evs: Vec<Event> = (0..3).map(change).collect();
        outbox.push(&mut evs);
        let mut evs: Vec<Event> = (3..5).map(change).collect();
        outbox.push(&mut evs);
        assert_eq!(*log.settled.lock(), [0, 2, 4]);
        let s = outbox.stats();
        assert_eq!((s.pushed, s.no_url), (3, 3));
        task.await.unwrap();
        // With a URL and room for one: the one queued is not settled, the one dropped is.
        let cfg = WebhookConfig {
            url: Some("http://127.0.0.1:9/hook".into()),
            max_pending: 1,
            ..Default::default()
        };
        let log = Arc::new(Log {
            before: vec![0],
            settled: Default::default(),
        });
        let (outbox, _task) = start_settling(cfg, clock, std::future::pending(), Some(log.clone()));
        let mut evs: Vec<Event> = (0..3).map(change).collect();
        outbox.push(&mut evs);
        let s = outbox.stats();
        assert_eq!((s.pushed, s.dropped_overflow), (2, 1));
        assert_eq!(*log.settled.lock(), [2]);
    }

    #[tokio::test]
    async fn without_url_events_are_counted_not_queued() {
        let clock = Arc::new(Clock::new(ClockMode::Manual, SimTime::from_secs(1), 1.0));
        let (outbox, task) = start(WebhookConfig::default(), clock);
        let mut evs = vec![crate::engine::events::Event {
            at: SimTime::from_secs(1),
            waba: crate::engine::ids::WabaId(1),
            body: crate::engine::events::EventBody::UserChangedNumber {
                phone: crate::engine::events::PhoneMeta {
                    id: crate::engine::ids::PhoneNumberId(2),
                    display: crate::engine::events::DisplayNumber::parse("1555").unwrap(),
                },
                old: crate::engine::ids::WaId(16505551234),
                new: crate::engine::ids::WaId(16505551235),
                wamid: crate::engine::events::Wamid {
                    user: crate::engine::ids::WaId(16505551234),
                    seq: 1,
                    tag: 1,
                    inbound: true,
                },
            },
        }];
        outbox.push(&mut evs);
        assert!(evs.is_empty());
        let s = outbox.stats();
        assert_eq!((s.pushed, s.no_url, s.pending()), (1, 1, 0));
        assert!(s.adds_up());
        task.await.unwrap();
    }
}
