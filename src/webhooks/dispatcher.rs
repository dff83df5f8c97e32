//! The delivery task: takes events off the outbox channel, serialises and signs each POST body
//! once, sends it with bounded concurrency and retries failures on the simulated clock.
//!
//! One task owns all the state (ready queue, retry heap, in-flight table), so a receiver outage
//! with a million pending events costs a million queued bodies, not a million sleeping tasks.
//! POSTs themselves run as spawned tasks (at most `max_in_flight`), so slow receivers overlap.

use super::breaker::Breaker;
use super::client::{self, HttpClient};
use super::payload::envelope;
use super::signer::signature;
use super::stats::Counters;
use super::WebhookConfig;
use crate::clock::{Clock, SimTime, MICROS_PER_SEC};
use crate::engine::events::{Event, EventBody};
use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::Uri;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Notify;
use tokio::task::{Id, JoinSet};

/// One POST body and its delivery history. The body and its signature are computed once and
/// re-sent byte for byte on every retry, as Meta does.
struct Job {
    body: Bytes,
    signature: HeaderValue,
    /// Events (changes) in this body.
    events: u64,
    /// Their numbers (see [`super::SettleLog`]).
    ids: Vec<u64>,
    /// When its first event happened (simulated time; its first attempt follows at once unless
    /// the breaker is open or the queue is long); the horizon counts from here.
    first_attempt: SimTime,
    /// Attempts made so far.
    attempts: u32,
    /// The WABA's override URL when it has one (`messages` webhooks only); else the default.
    uri: Option<Uri>,
}

/// A job waiting for its next attempt; min-heap on (due, seq).
struct Due {
    at: SimTime,
    seq: u64,
    job: Job,
}

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// Delay before the next attempt after `attempts` failed ones (simulated seconds): the first
/// retry is immediate ("retried immediately, then at decreasing frequency"), then
/// `initial, 2·initial, 4·initial, …` capped at `max`. No jitter: runs stay reproducible.
pub fn backoff_secs(attempts: u32, initial: u64, max: u64) -> u64 {
    match attempts {
        0 | 1 => 0,
        k => {
            let shift = (k - 2).min(62);
            initial.saturating_mul(1u64 << shift).min(max)
        }
    }
}

enum Wake {
    Shutdown,
    Done(Result<(Id, Result<(), String>), tokio::task::JoinError>),
    /// Boxed: an event is ten times the size of the other wakes.
    Event(Option<Box<super::Numbered>>),
    Timer,
}

pub(crate) struct Dispatcher {
    cfg: WebhookConfig,
    uri: Uri,
    client: HttpClient,
    clock: Arc<Clock>,
    counters: Arc<Counters>,
    rx: UnboundedReceiver<super::Numbered>,
    rx_closed: bool,
    /// An event taken off the channel that could not join the batch being built.
    carry: Option<super::Numbered>,
    /// Jobs to send now: new bodies, immediate retries (at the front) and due retries.
    ready: VecDeque<Job>,
    retries: BinaryHeap<Due>,
    in_flight: JoinSet<Result<(), String>>,
    jobs: HashMap<Id, Job>,
    seq: u64,
    /// Per endpoint (the default URL, `None`, or a WABA's override URL): its breaker, which
    /// stops sending to it while it is down and probes it with one POST, and its POSTs in
    /// flight. One endpoint down never holds back the others. At most one entry per override
    /// URL the world's WABAs set.
    endpoints: HashMap<Option<Uri>, Endpoint>,
    /// Expired events not yet logged, and when expiries were last logged: one summary line
    /// per interval, not one per event.
    expired_unlogged: u64,
    expired_logged_at: Option<Instant>,
    /// Per-WABA override URLs (see [`super::Overrides`]).
    overrides: super::Overrides,
    /// Told of every delivered or expired event (`serve --state-dir`).
    settle: Option<Arc<dyn super::SettleLog>>,
}

/// One webhook endpoint's delivery state.
#[derive(Default)]
struct Endpoint {
    breaker: Breaker,
    in_flight: usize,
    /// Jobs held while the breaker is open or its probe is out, in order. Apart from the
    /// ready queue, so that they neither block other endpoints' jobs nor stop the dispatcher
    /// from taking new events.
    waiting: VecDeque<Job>,
}

/// How often expiries are summarised in the log.
const EXPIRY_LOG_EVERY: Duration = Duration::from_secs(10);

impl Dispatcher {
    pub(crate) fn new(
        cfg: WebhookConfig,
        uri: Uri,
        clock: Arc<Clock>,
        counters: Arc<Counters>,
        rx: UnboundedReceiver<super::Numbered>,
    ) -> Dispatcher {
        Dispatcher {
            client: client::build_client(cfg.timeout_ms),
            cfg,
            uri,
            clock,
            counters,
            rx,
            rx_closed: false,
            carry: None,
            ready: VecDeque::new(),
            retries: BinaryHeap::new(),
            in_flight: JoinSet::new(),
            jobs: HashMap::new(),
            seq: 0,
            endpoints: HashMap::new(),
            expired_unlogged: 0,
            expired_logged_at: None,
            overrides: Default::default(),
            settle: None,
        }
    }

    /// Tells `settle` of every event delivered or expired.
    pub(crate) fn with_settle_log(mut self, settle: Option<Arc<dyn super::SettleLog>>) -> Self {
        self.settle = settle;
        self
    }

    /// Reads per-WABA override URLs from `overrides` (shared with the outbox).
    pub(crate) fn with_overrides(mut self, overrides: super::Overrides) -> Dispatcher {
        self.overrides = overrides;
        self
    }

    /// Runs until every `Outbox` is dropped and nothing is pending. When `shutdown` resolves it
    /// drains: posts what is queued or in flight (no new retries are waited for: their
    /// backoff may be days of simulated time) and returns; the caller bounds the drain in
    /// wall time by aborting the task.
    pub(crate) async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut draining = false;
        // `sleep_until` can also be woken by a Notify; nothing else needs to wake the timer
        // (every other input is its own select branch), so this one is never notified.
        let never = Notify::new();
        let max_in_flight = self.cfg.max_in_flight.max(1);
        loop {
            self.promote_due();
            self.launch(max_in_flight);
            let want_events = self.ready.len() < max_in_flight;
            if want_events {
                if let Some(ev) = self.carry.take() {
                    self.accept(ev);
                    continue;
                }
            }
            let idle = self.ready.is_empty()
                && self.in_flight.is_empty()
                && self.carry.is_none()
                && self.endpoints.values().all(|e| e.waiting.is_empty());
            if idle
                && (self.rx_closed || draining && self.rx.is_empty())
                && (draining || self.retries.is_empty())
            {
                if draining {
                    let s = self.counters.snapshot();
                    tracing::info!(
                        pending = s.pending(),
                        delivered = s.delivered,
                        expired = s.expired,
                        "webhook dispatcher drained"
                    );
                }
                return;
            }
            let next_due = self.retries.peek().map(|d| d.at);
            let reopen = self
                .endpoints
                .values()
                .filter_map(|e| e.breaker.reopens_at())
                .min();
            let wake = tokio::select! {
                biased;
                _ = &mut shutdown, if !draining => Wake::Shutdown,
                Some(r) = self.in_flight.join_next_with_id(), if !self.in_flight.is_empty() => Wake::Done(r),
                ev = self.rx.recv(), if want_events && !self.rx_closed => Wake::Event(ev.map(Box::new)),
                _ = self.clock.sleep_until(next_due.unwrap_or_default(), &never), if next_due.is_some() => Wake::Timer,
                _ = self.clock.sleep_until(reopen.unwrap_or_default(), &never), if reopen.is_some() => Wake::Timer,
            };
            match wake {
                Wake::Shutdown => draining = true,
                Wake::Done(Ok((id, res))) => self.finish(id, res),
                Wake::Done(Err(e)) => {
                    let id = e.id();
                    self.finish(id, Err(format!("delivery task failed: {e}")));
                }
                Wake::Event(Some(ev)) => self.accept(*ev),
                Wake::Event(None) => self.rx_closed = true,
                Wake::Timer => {}
            }
        }
    }

    /// Builds one POST from `first` and, with `batch_max > 1`, the events already waiting that
    /// belong to the same WABA and field.
    fn accept(&mut self, (first_id, first): super::Numbered) {
        let mut batch = vec![first];
        let mut ids = vec![first_id];
        while batch.len() < self.cfg.batch_max.max(1) {
            match self.rx.try_recv() {
                Ok((id, ev)) if same_group(&batch[0], &ev) => {
                    batch.push(ev);
                    ids.push(id);
                }
                Ok(ev) => {
                    self.carry = Some(ev);
                    break;
                }
                Err(_) => break,
            }
        }
        let body = super::json::to_ascii_json(&envelope(&batch, &self.cfg.api_version));
        let sig = signature(&self.cfg.app_secret, &body);
        let signature = HeaderValue::from_str(&sig).expect("sha256=<hex> is a valid header value");
        // Meta's WABA-level override applies to the `messages` field; read once per POST, so a
        // body already built keeps its target through its retries.
        let uri = if field_is_messages(&batch[0]) {
            self.overrides.read().get(&batch[0].waba).cloned()
        } else {
            None
        };
        self.ready.push_back(Job {
            uri,
            body: Bytes::from(body),
            signature,
            events: batch.len() as u64,
            ids,
            first_attempt: batch[0].at.min(self.clock.now()),
            attempts: 0,
        });
    }

    fn promote_due(&mut self) {
        if self.retries.is_empty() {
            return;
        }
        let now = self.clock.now();
        while self.retries.peek().is_some_and(|d| d.at <= now) {
            let d = self.retries.pop().expect("peeked");
            self.ready.push_back(d.job);
        }
    }

    fn launch(&mut self, max_in_flight: usize) {
        let now = self.clock.now();
        let horizon = self.cfg.horizon_s.saturating_mul(MICROS_PER_SEC);
        // Held jobs of an endpoint that may send again go back to the front of the ready queue;
        // those of a paused endpoint that are past their horizon expire without one more POST.
        let mut expired = Vec::new();
        for ep in self.endpoints.values_mut() {
            if ep.waiting.is_empty() {
                continue;
            }
            if ep.breaker.allowance(now, max_in_flight) > ep.in_flight {
                while let Some(job) = ep.waiting.pop_back() {
                    self.ready.push_front(job);
                }
            } else if ep.breaker.reopens_at().is_some() {
                let (old, keep): (VecDeque<Job>, VecDeque<Job>) = std::mem::take(&mut ep.waiting)
                    .into_iter()
                    .partition(|j| now >= j.first_attempt.plus(horizon));
                ep.waiting = keep;
                expired.extend(old);
            }
        }
        for job in &expired {
            self.expire_waiting(job);
        }
        while self.in_flight.len() < max_in_flight {
            let Some(mut job) = self.ready.pop_front() else {
                break;
            };
            let ep = self.endpoints.entry(job.uri.clone()).or_default();
            let allowed = ep.breaker.allowance(now, max_in_flight);
            if ep.in_flight >= allowed {
                if allowed == 0 && now >= job.first_attempt.plus(horizon) {
                    self.expire_waiting(&job);
                } else {
                    ep.waiting.push_back(job);
                }
                continue;
            }
            ep.in_flight += 1;
            let c = &*self.counters;
            if job.attempts == 0 {
                Counters::sub(&c.queued, job.events);
            } else {
                Counters::sub(&c.awaiting_retry, job.events);
                Counters::add(&c.retried, 1);
            }
            job.attempts += 1;
            Counters::add(&c.in_flight, job.events);
            Counters::add(&c.posts, 1);
            Counters::add(&c.bytes_sent, job.body.len() as u64);
            let (client, uri, body, sig) = (
                self.client.clone(),
                job.uri.clone().unwrap_or_else(|| self.uri.clone()),
                job.body.clone(),
                job.signature.clone(),
            );
            let timeout = Duration::from_millis(self.cfg.timeout_ms.max(1));
            let handle = self
                .in_flight
                .spawn(async move { client::post(&client, &uri, body, &sig, timeout).await });
            self.jobs.insert(handle.id(), job);
        }
    }

    fn finish(&mut self, id: Id, res: Result<(), String>) {
        let Some(job) = self.jobs.remove(&id) else {
            return;
        };
        let counters = self.counters.clone();
        let c = &*counters;
        Counters::sub(&c.in_flight, job.events);
        let url = job.uri.as_ref().unwrap_or(&self.uri).clone();
        let ep = self.endpoints.entry(job.uri.clone()).or_default();
        ep.in_flight = ep.in_flight.saturating_sub(1);
        let err = match res {
            Ok(()) => {
                // Settled before counted: once `delivered` shows it, a restart will not resend it.
                if let Some(log) = &self.settle {
                    log.settle(&job.ids);
                }
                Counters::add(&c.delivered, job.events);
                Counters::sub(&c.pending, job.events);
                let failed = ep.breaker.success();
                if failed > 0 {
                    tracing::info!(
                        url = %url,
                        failed_posts = failed,
                        "webhook receiver is accepting deliveries again"
                    );
                }
                return;
            }
            Err(e) => e,
        };
        Counters::add(&c.failed_attempts, 1);
        let first = matches!(ep.breaker.state(), super::breaker::State::Closed);
        let now = self.clock.now();
        if ep.breaker.failure(now) {
            if let Some(until) = ep.breaker.reopens_at() {
                tracing::warn!(
                    url = %url,
                    error = %err,
                    pause_s = until.since(now) as f64 / MICROS_PER_SEC as f64,
                    "webhook receiver looks down: deliveries paused (simulated seconds), then one probe"
                );
            }
        } else if first {
            tracing::debug!(url = %url, error = %err, attempt = job.attempts, "webhook delivery failed; retrying with backoff");
        }
        *c.last_error.lock() = Some(err);
        let deadline = job
            .first_attempt
            .plus(self.cfg.horizon_s.saturating_mul(MICROS_PER_SEC));
        if now >= deadline {
            self.expire(&job);
            return;
        }
        Counters::add(&c.awaiting_retry, job.events);
        let delay = backoff_secs(job.attempts, self.cfg.retry_initial_s, self.cfg.retry_max_s);
        if delay == 0 {
            self.ready.push_front(job);
        } else {
            // The last attempt happens at the horizon itself rather than being skipped.
            let at = now.plus(delay.saturating_mul(MICROS_PER_SEC)).min(deadline);
            self.seq += 1;
            self.retries.push(Due {
                at,
                seq: self.seq,
                job,
            });
        }
    }
}

impl Dispatcher {
    /// Gives up on `job` (not in any queue any more): counted, and summarised in the log at
    /// most once per [`EXPIRY_LOG_EVERY`].
    fn expire(&mut self, job: &Job) {
        if let Some(log) = &self.settle {
            log.settle(&job.ids);
        }
        let c = &*self.counters;
        Counters::add(&c.expired, job.events);
        Counters::sub(&c.pending, job.events);
        self.expired_unlogged += job.events;
        let due = self
            .expired_logged_at
            .is_none_or(|t| t.elapsed() >= EXPIRY_LOG_EVERY);
        if due {
            let head = &job.body[..job.body.len().min(300)];
            tracing::warn!(
                events = self.expired_unlogged,
                total_expired = c.expired.load(std::sync::atomic::Ordering::Relaxed),
                horizon_s = self.cfg.horizon_s,
                last_body = %String::from_utf8_lossy(head),
                "webhooks expired: the receiver did not acknowledge them within the retry horizon"
            );
            self.expired_unlogged = 0;
            self.expired_logged_at = Some(Instant::now());
        }
    }

    /// A job that waited in the ready queue for its paused endpoint past its horizon: it
    /// expires without one more POST (new ones too: the receiver was down all that time).
    fn expire_waiting(&mut self, job: &Job) {
        let waiting = if job.attempts > 0 {
            &self.counters.awaiting_retry
        } else {
            &self.counters.queued
        };
        Counters::sub(waiting, job.events);
        self.expire(job);
    }
}

/// Whether the event goes out under the `messages` field (statuses, inbound, system).
fn field_is_messages(ev: &Event) -> bool {
    matches!(
        ev.body,
        EventBody::Status { .. }
            | EventBody::Inbound { .. }
            | EventBody::UserChangedNumber { .. }
            | EventBody::UserChangedUserId { .. }
    )
}

/// Events that may share one POST: same WABA (one `entry`) and same field.
fn same_group(a: &Event, b: &Event) -> bool {
    a.waba == b.waba && field_is_messages(a) == field_is_messages(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_immediate_then_exponential_then_capped() {
        let s: Vec<u64> = (1..=16).map(|k| backoff_secs(k, 1, 3600)).collect();
        assert_eq!(
            s,
            [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600, 3600, 3600]
        );
        assert_eq!(backoff_secs(200, 1, 3600), 3600);
        assert_eq!(backoff_secs(3, 5, 7), 7);
    }

    #[test]
    fn due_heap_pops_earliest_first() {
        let job = || Job {
            body: Bytes::new(),
            signature: HeaderValue::from_static("x"),
            events: 1,
            ids: vec![1],
            first_attempt: SimTime::ZERO,
            attempts: 1,
            uri: None,
        };
        let mut h = BinaryHeap::new();
        for (at, seq) in [(5, 1), (2, 2), (9, 3), (2, 4)] {
            h.push(Due {
                at: SimTime(at),
                seq,
                job: job(),
            });
        }
        let order: Vec<_> = std::iter::from_fn(|| h.pop().map(|d| (d.at.0, d.seq))).collect();
        assert_eq!(order, [(2, 2), (2, 4), (5, 1), (9, 3)]);
    }
}
