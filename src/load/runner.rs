//! The async driver: runs a [`LoadPlan`] against a target over a fixed pool of keep-alive HTTP/1.1
//! connections and produces a [`Report`].
//!
//! Shape:
//! - one dispatcher per stream walks the stream's phases in order (streams run at the same
//!   time, each in its own task). Open phases pop due instants
//!   from the [`OpenSchedule`] (waking at most once per millisecond and issuing everything due,
//!   so 20,000/s costs 1,000 wake-ups, not 20,000) and spawn one task per message; closed phases
//!   spawn one task per virtual user.
//! - a message task owns the message's whole life: pacing, attempt, classification, the retry
//!   decision, the backoff sleep. `max_in_flight` permits bound how many exist, which bounds
//!   memory and models the BSP's send window.
//! - requests borrow a connection from the pool (`connections` fixed, no per-request handshake);
//!   a broken or timed-out connection is dropped and replaced on next use.
//! - metrics go to one lock per phase; the progress line reads them four times a second.
//! - stop (the `shutdown` future, i.e. Ctrl-C): nothing new is issued, pending retries are
//!   abandoned, requests in flight get `grace` to finish, then are cut; the report is still
//!   produced, marked partial.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::Uri;
use indicatif::{ProgressBar, ProgressStyle};
use parking_lot::Mutex;
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::clock::{Micros, SimTime, MICROS_PER_MS};
use crate::engine::ids::WaId;
use crate::load::http::{request_head, Conn};
use crate::load::live::{ClassCounts, CodeCount, LiveSample, LiveSamples};
use crate::load::metrics::PhaseMetrics;
use crate::load::receiver::Receiver;
use crate::load::report::{evaluate, PhaseReport, Report, LATENCY_NOTE, SCHEMA_VERSION};
use crate::load::wire::{block_body, inbound_body, request_body};
use crate::traffic::pick::{Message, Picker, Recipient};
use crate::traffic::plan::{Arrival, LoadPlan, PhasePlan};
use crate::traffic::policy::{classify, decide, Decision, FailKind, Outcome, Pacer};
use crate::traffic::schedule::{ClosedSchedule, OpenSchedule};

/// Where to send: `POST {base_url}/{api_version}/{phone_number_id}/messages` with
/// `Authorization: Bearer {token}`, the token of the business that owns the number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `http://host:port` (optionally with a path prefix). Plain HTTP only: the generator targets
    /// the mock server or a local proxy.
    pub base_url: String,
    /// The token of the control API calls (`/_sim/inbound`) and of numbers not in `tokens`.
    pub token: String,
    /// E.g. `"v23.0"`.
    pub api_version: String,
    /// Phone number id → the token its sends carry (a token acts for one business).
    pub tokens: BTreeMap<String, String>,
}

/// Run-time options that are not part of the scenario.
#[derive(Clone, Default)]
pub struct RunOptions {
    /// No progress line.
    pub quiet: bool,
    /// Seeds every random choice (mix, recipients, jitter, Poisson arrivals).
    pub seed: u64,
    /// Caps the whole run: phases are cut at this length from the start.
    pub duration_cap: Option<Duration>,
    /// The embedded webhook receiver, if any: sends are recorded for send→delivered delay and
    /// its counts go into the report.
    pub receiver: Option<Arc<Receiver>>,
    /// How long to wait after the last response for trailing webhooks before reading the
    /// receiver. Default (None) 1 s; ignored without a receiver.
    pub webhook_settle: Option<Duration>,
    /// Stop signals received (see `cmd::stop_signals`): from the second on, requests still in
    /// flight are cut at once instead of getting the grace period.
    pub signals: Option<watch::Receiver<u32>>,
    /// Where to put a sample of the run each second (`run --dashboard`), if anywhere.
    pub live: Option<Arc<LiveSamples>>,
}

/// Errors that prevent a run (as opposed to failed requests, which are measured).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("target {url:?}: {reason}")]
    Target { url: String, reason: String },
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
}

/// How far past a phase's end the generator may still issue arrivals that were intended before
/// the end (timer granularity); later than this they count as unsent.
const LATE_SLACK: Micros = 50 * MICROS_PER_MS;

#[derive(Debug)]
enum SendError {
    Timeout,
    Connection,
}

/// A fixed pool of HTTP/1.1 keep-alive connections ([`crate::load::http::Conn`]).
struct ConnPool {
    addr: String,
    /// Idle connections and when each was last used.
    idle: Mutex<Vec<(Conn, Instant)>>,
    permits: Semaphore,
}

/// A pooled connection idle longer than this is closed rather than reused: servers close idle
/// keep-alive connections (`wabasim serve` after 60 s), and a request written to one the server
/// is closing fails for no fault of the target.
const POOL_IDLE: Duration = Duration::from_secs(30);

impl ConnPool {
    /// Sends on a pooled connection; the timeout covers connecting, sending and reading the whole
    /// response, not waiting for a free connection (that wait shows in open-model latency anyway).
    async fn send(
        &self,
        head: &[u8],
        body: &[u8],
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), SendError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::Connection)?;
        let pooled = {
            let mut idle = self.idle.lock();
            idle.retain(|(_, at)| at.elapsed() < POOL_IDLE);
            idle.pop().map(|(c, _)| c)
        };
        let work = async {
            let mut conn = match pooled {
                Some(c) => c,
                None => Conn::connect(&self.addr)
                    .await
                    .map_err(|_| SendError::Connection)?,
            };
            let resp = conn
                .request(head, body)
                .await
                .map_err(|_| SendError::Connection)?;
            Ok::<_, SendError>((conn, resp))
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(Ok((conn, resp))) => {
                if resp.keep_alive {
                    self.idle.lock().push((conn, Instant::now()));
                }
                Ok((resp.status, resp.body))
            }
            // A broken connection is dropped here and replaced on next use.
            Ok(Err(e)) => Err(e),
            // The connection is in an unknown state: dropped with the future, replaced later.
            Err(_) => Err(SendError::Timeout),
        }
    }
}

/// What the picker decided to send, as the bytes of its request.
struct Msg {
    phase: usize,
    number: usize,
    /// A window reply with nobody to answer: not sent (counted as `no_window`).
    dropped: bool,
    /// Not before this instant (an agent's delay).
    not_before: SimTime,
    body: Bytes,
    door: Door,
    /// Addressed by BSUID (`recipient`).
    by_user_id: bool,
    seq: u64,
}

/// Which request a message is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Door {
    /// `POST /{phone}/messages`.
    Messages,
    /// `POST /{phone}/marketing_messages` (Marketing Messages API).
    MarketingMessages,
    /// `POST /_sim/inbound`: the user who writes, told to the picker on success so replies
    /// can go to them.
    Inbound(WaId),
    /// `POST /{phone}/block_users`.
    Block,
}

/// The shared [`Picker`] and the buffer its picks are serialised into, behind one lock: the
/// picker is plain `&mut self`, the runner owns the concurrency.
struct Picking {
    picker: Picker,
    body: Vec<u8>,
}

struct Shared {
    plan: Arc<LoadPlan>,
    pool: ConnPool,
    t0: Instant,
    /// `t0` as Unix µs, for the local hours of daily rhythms.
    unix_at_t0: u64,
    seed: u64,
    /// Pre-built request heads (request line, Host, Authorization, Content-Type), one per
    /// business number, and the inbound simulation's.
    message_heads: Vec<Vec<u8>>,
    /// The same for `/marketing_messages` and `/block_users`.
    marketing_heads: Vec<Vec<u8>>,
    block_heads: Vec<Vec<u8>>,
    inbound_head: Vec<u8>,
    /// A business number id's index in the plan, for the users the webhooks say wrote in.
    number_index: HashMap<String, usize>,
    metrics: Vec<Mutex<PhaseMetrics>>,
    /// Phase start instants (µs since t0), set when each phase starts.
    origins: Vec<AtomicU64>,
    /// The one picker and its body buffer, shared by the sending tasks: a pick takes well
    /// under a microsecond, so one lock costs nothing beside an HTTP round trip, and one
    /// picker keeps the draws in one deterministic sequence.
    picking: Mutex<Picking>,
    stop: watch::Receiver<bool>,
    receiver: Option<Arc<Receiver>>,
    /// Per stream: the phase it is in (index into the plan's phases).
    current_phase: Vec<AtomicUsize>,
    /// Per phase: whether it started (a stream stopped early leaves later phases unstarted).
    started: Vec<AtomicBool>,
    /// Per stream: whether it has finished its last phase (the progress line skips it).
    finished: Vec<AtomicBool>,
    abandoned_in_flight: AtomicU64,
}

impl Shared {
    fn now(&self) -> SimTime {
        SimTime(self.t0.elapsed().as_micros() as u64)
    }
    fn instant(&self, t: SimTime) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.t0 + Duration::from_micros(t.0))
    }
    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }
    fn origin(&self, phase: usize) -> SimTime {
        SimTime(self.origins[phase].load(Ordering::Relaxed))
    }
    /// Sleeps until `t`; false if a stop came first.
    async fn sleep_until(&self, t: SimTime) -> bool {
        // Already due: no timer (tokio timers fire on a 1 ms tick, which would cap a closed-model
        // user with no think time at 1,000 requests/s).
        if t <= self.now() {
            return !self.stopped();
        }
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep_until(self.instant(t)) => !self.stopped(),
            _ = stop.wait_for(|s| *s) => false,
        }
    }
}

/// Accounts for a message that never reaches a final outcome: stopped during pacing or a
/// backoff, or its task aborted after the grace period. Sent at least once → abandoned; never
/// sent → unsent. Either way `finals + abandoned == messages` holds.
struct MessageGuard {
    sh: Arc<Shared>,
    phase: usize,
    sent: bool,
    done: bool,
}

impl MessageGuard {
    fn new(sh: &Arc<Shared>, phase: usize) -> MessageGuard {
        MessageGuard {
            sh: sh.clone(),
            phase,
            sent: false,
            done: false,
        }
    }
}

impl Drop for MessageGuard {
    fn drop(&mut self) {
        if !self.done {
            let mut m = self.sh.metrics[self.phase].lock();
            if self.sent {
                m.abandoned += 1;
            } else {
                m.unsent += 1;
            }
        }
    }
}

/// Counts a request as cut in flight if dropped before its response.
struct RequestGuard<'a> {
    sh: &'a Shared,
    done: bool,
}

impl Drop for RequestGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.sh.abandoned_in_flight.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn target_err(url: &str, reason: impl Into<String>) -> LoadError {
    LoadError::Target {
        url: url.to_string(),
        reason: reason.into(),
    }
}

/// Runs the plan. Returns the report (also when interrupted: `partial` is then true); `Err` only
/// when the run could not start (bad target URL, target unreachable).
pub async fn run(
    plan: &LoadPlan,
    target: &Target,
    opts: &RunOptions,
    shutdown: impl Future,
) -> Result<Report, LoadError> {
    let url = target.base_url.trim_end_matches('/');
    let uri: Uri = url
        .parse()
        .map_err(|e| target_err(url, format!("not a URL: {e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(target_err(url, "only http:// targets are supported"));
    }
    let Some(authority) = uri.authority() else {
        return Err(target_err(url, "no host:port"));
    };
    let addr = if authority.port().is_some() {
        authority.to_string()
    } else {
        format!("{}:80", authority.host())
    };
    let prefix = uri.path().trim_end_matches('/');
    let host = authority.as_str();
    let auth = format!("Bearer {}", target.token);
    let mut message_heads = Vec::with_capacity(plan.numbers.len());
    let mut marketing_heads = Vec::with_capacity(plan.numbers.len());
    let mut block_heads = Vec::with_capacity(plan.numbers.len());
    for n in &plan.numbers {
        let token = target.tokens.get(n).unwrap_or(&target.token);
        let number_auth = format!("Bearer {token}");
        for (edge, heads) in [
            ("messages", &mut message_heads),
            ("marketing_messages", &mut marketing_heads),
            ("block_users", &mut block_heads),
        ] {
            let p = format!("{prefix}/{}/{}/{edge}", target.api_version, n);
            heads.push(
                request_head("POST", &p, host, &number_auth).map_err(|e| target_err(url, e))?,
            );
        }
    }
    let inbound_head = request_head("POST", &format!("{prefix}/_sim/inbound"), host, &auth)
        .map_err(|e| target_err(url, e))?;

    let pool = ConnPool {
        addr: addr.clone(),
        idle: Mutex::new(Vec::new()),
        permits: Semaphore::new(plan.connections as usize),
    };
    // Fail fast when nothing listens: a run where every request is a connection error measures
    // nothing useful.
    let first = Conn::connect(&addr).await.map_err(|e| LoadError::Connect {
        addr: addr.clone(),
        reason: e.to_string(),
    })?;
    pool.idle.lock().push((first, Instant::now()));

    let (stop_tx, stop_rx) = watch::channel(false);
    let plan_arc = Arc::new(plan.clone());
    let sh = Arc::new(Shared {
        plan: plan_arc.clone(),
        pool,
        t0: Instant::now(),
        unix_at_t0: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64),
        seed: opts.seed,
        message_heads,
        marketing_heads,
        block_heads,
        inbound_head,
        number_index: plan
            .numbers
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect(),
        metrics: plan
            .phases
            .iter()
            .map(|_| Mutex::new(PhaseMetrics::default()))
            .collect(),
        origins: plan.phases.iter().map(|_| AtomicU64::new(0)).collect(),
        picking: Mutex::new(Picking {
            picker: Picker::new(plan_arc.clone(), opts.seed),
            body: Vec::with_capacity(256),
        }),
        stop: stop_rx,
        receiver: opts.receiver.clone(),
        current_phase: plan
            .streams
            .iter()
            .map(|s| AtomicUsize::new(s.phases.first().copied().unwrap_or(0)))
            .collect(),
        started: plan.phases.iter().map(|_| AtomicBool::new(false)).collect(),
        finished: plan
            .streams
            .iter()
            .map(|_| AtomicBool::new(false))
            .collect(),
        abandoned_in_flight: AtomicU64::new(0),
    });
    let started_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);

    let progress = if opts.quiet {
        None
    } else {
        Some(spawn_progress(sh.clone()))
    };

    let sampler = opts
        .live
        .clone()
        .map(|live| tokio::spawn(sample_live(sh.clone(), live)));

    let cap_end = opts.duration_cap.map(|d| SimTime(d.as_micros() as u64));
    let drive = drive(sh.clone(), cap_end);
    tokio::pin!(drive);
    tokio::pin!(shutdown);
    let ((mut tasks, capped), interrupted) = tokio::select! {
        t = &mut drive => (t, false),
        _ = &mut shutdown => {
            let _ = stop_tx.send(true);
            (drive.await, true)
        }
    };

    // Drain: in-flight messages get the grace period. Pending retries are abandoned by a stop
    // (interrupt), and waited for within the grace on normal completion.
    let grace = Duration::from_micros(plan.grace);
    let mut signals = opts.signals.clone();
    let second_signal = async {
        match signals.as_mut() {
            Some(s) => {
                let _ = s.wait_for(|n| *n >= 2).await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let drained = tokio::select! {
        d = tokio::time::timeout(grace, async {
            for set in tasks.iter_mut() {
                while set.join_next().await.is_some() {}
            }
        }) => d.is_ok(),
        _ = second_signal => false,
    };
    if !drained {
        let _ = stop_tx.send(true);
        for set in tasks.iter_mut() {
            set.abort_all();
            while set.join_next().await.is_some() {}
        }
    }
    let _ = stop_tx.send(true);
    if let Some((bar, handle)) = progress {
        handle.abort();
        bar.finish_and_clear();
    }
    if let Some(handle) = sampler {
        handle.abort();
    }

    let webhooks = match &opts.receiver {
        Some(r) => {
            let settle = opts.webhook_settle.unwrap_or(Duration::from_secs(1));
            tokio::time::sleep(settle).await;
            Some(r.snapshot())
        }
        None => None,
    };

    let mut phases = Vec::with_capacity(plan.phases.len());
    let mut total = PhaseMetrics::default();
    let mut total_active = 0;
    let mut total_expected = 0.0;
    let mut models = Vec::new();
    for (i, p) in plan.phases.iter().enumerate() {
        if !sh.started[i].load(Ordering::Relaxed) {
            continue;
        }
        let m = sh.metrics[i].lock().clone();
        let model = if p.is_open() { "open" } else { "closed" };
        if !models.contains(&model) {
            models.push(model);
        }
        total.merge(&m);
        total_active += m.active_us;
        total_expected += m.expected;
        phases.push(PhaseReport {
            start_ms: Some(sh.origin(i).0 as f64 / 1000.0),
            ..PhaseReport::from_metrics(&p.name, model, &m)
        });
    }
    total.active_us = total_active;
    total.expected = total_expected;
    let streams = plan
        .streams
        .iter()
        .filter(|st| st.declared)
        .map(|st| {
            let mut sum = PhaseMetrics::default();
            let mut active = 0;
            let mut kinds = Vec::new();
            for &i in st
                .phases
                .iter()
                .filter(|&&i| sh.started[i].load(Ordering::Relaxed))
            {
                let m = sh.metrics[i].lock();
                sum.merge(&m);
                // Phases of a stream follow one another: their windows add up (a merge of
                // shards keeps the longest instead).
                active += m.active_us;
                let model = if plan.phases[i].is_open() {
                    "open"
                } else {
                    "closed"
                };
                if !kinds.contains(&model) {
                    kinds.push(model);
                }
            }
            sum.active_us = active;
            let model = match kinds.as_slice() {
                [one] => *one,
                _ => "mixed",
            };
            let start = st
                .phases
                .iter()
                .filter(|&&i| sh.started[i].load(Ordering::Relaxed))
                .map(|&i| sh.origin(i).0)
                .min();
            PhaseReport {
                start_ms: start.map(|us| us as f64 / 1000.0),
                ..PhaseReport::from_metrics(&st.name, model, &sum)
            }
        })
        .collect();
    let total_model = match models.as_slice() {
        [one] => *one,
        _ => "mixed",
    };
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        tool: format!("wabasim {}", env!("CARGO_PKG_VERSION")),
        started_unix_ms,
        elapsed_ms: sh.t0.elapsed().as_secs_f64() * 1000.0,
        partial: interrupted,
        stop_reason: if interrupted {
            "interrupted"
        } else if capped {
            "duration_cap"
        } else {
            "completed"
        }
        .into(),
        seed: opts.seed,
        sources: 1,
        latency_note: LATENCY_NOTE.into(),
        phases,
        streams,
        total: PhaseReport::from_metrics("total", total_model, &total),
        webhooks,
        thresholds: Vec::new(),
        abandoned_in_flight: sh.abandoned_in_flight.load(Ordering::Relaxed),
        server: None,
        conversations: plan
            .has_window_replies()
            .then(|| sh.picking.lock().picker.desk_counts()),
        scenario: None,
        shard: None,
    };
    report.thresholds = evaluate(&plan.checks, &report);
    Ok(report)
}

/// Runs every stream at once. Returns the message tasks still running (one set per stream), and
/// whether the `--duration` cap cut the run short.
async fn drive(sh: Arc<Shared>, cap_end: Option<SimTime>) -> (Vec<JoinSet<()>>, bool) {
    let handles: Vec<_> = (0..sh.plan.streams.len())
        .map(|k| tokio::spawn(drive_stream(sh.clone(), k, cap_end)))
        .collect();
    let mut sets = Vec::with_capacity(handles.len());
    let mut capped = false;
    for h in handles {
        // A stream driver does not panic; if one did, its messages are counted by their guards.
        if let Ok((set, c)) = h.await {
            sets.push(set);
            capped |= c;
        }
    }
    (sets, capped)
}

/// Walks one stream's phases in order, from the stream's start.
async fn drive_stream(sh: Arc<Shared>, k: usize, cap_end: Option<SimTime>) -> (JoinSet<()>, bool) {
    let mut tasks = JoinSet::new();
    let mut capped = false;
    let plan = sh.plan.clone();
    let stream = &plan.streams[k];
    let start = SimTime(stream.start);
    if cap_end.is_some_and(|c| start >= c) {
        sh.finished[k].store(true, Ordering::Relaxed);
        return (tasks, true);
    }
    if !sh.sleep_until(start).await {
        sh.finished[k].store(true, Ordering::Relaxed);
        return (tasks, false);
    }
    for &i in &stream.phases {
        let phase = &plan.phases[i];
        if sh.stopped() {
            break;
        }
        if cap_end.is_some_and(|c| sh.now() >= c) {
            capped = true;
            break;
        }
        sh.started[i].store(true, Ordering::Relaxed);
        sh.current_phase[k].store(i, Ordering::Relaxed);
        match &phase.arrival {
            Arrival::Open { .. } => run_open(&sh, i, phase, cap_end, &mut tasks).await,
            Arrival::Closed(c) => run_closed(&sh, i, phase, *c, cap_end, &mut tasks).await,
        }
        // Cut by the cap: the phase ran into it before its own end (message-limited phases
        // have no end of their own).
        if let Some(c) = cap_end {
            let natural_end = phase.duration.map(|d| sh.origin(i).plus(d));
            if !sh.stopped() && sh.now() >= c && natural_end.is_none_or(|e| e > c) {
                capped = true;
                break;
            }
        }
    }
    sh.finished[k].store(true, Ordering::Relaxed);
    (tasks, capped)
}

/// Marks the phase start.
fn start_phase(sh: &Shared, i: usize) -> SimTime {
    let origin = sh.now();
    sh.origins[i].store(origin.0, Ordering::Relaxed);
    origin
}

fn phase_end(origin: SimTime, phase: &PhasePlan, cap_end: Option<SimTime>) -> Option<SimTime> {
    let end = phase.duration.map(|d| origin.plus(d));
    match (end, cap_end) {
        (Some(e), Some(c)) => Some(e.min(c)),
        (e, None) => e,
        (None, c) => c,
    }
}

async fn run_open(
    sh: &Arc<Shared>,
    i: usize,
    phase: &PhasePlan,
    cap_end: Option<SimTime>,
    tasks: &mut JoinSet<()>,
) {
    let Arrival::Open { process, .. } = &phase.arrival else {
        return;
    };
    let origin = start_phase(sh, i);
    let end = phase_end(origin, phase, cap_end);
    // The rhythm's local hours are the wall clock's.
    let Some(profile) = phase.rate_profile(SimTime(sh.unix_at_t0 + origin.0)) else {
        return;
    };
    let mut sched = OpenSchedule::new(
        profile.clone(),
        origin,
        end,
        phase.messages,
        *process,
        sh.seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    )
    .sharded(sh.plan.shard);
    let pacers = make_pacers(sh, phase);
    let permits = Arc::new(Semaphore::new(phase.policy.max_in_flight as usize));
    let mut stop = sh.stop.clone();
    let mut issued_until = origin;
    loop {
        while tasks.try_join_next().is_some() {}
        if sh.stopped() {
            break;
        }
        let Some(next) = sched.peek() else { break };
        let now = sh.now();
        if next > now {
            if !sh.sleep_until(next).await {
                break;
            }
            continue;
        }
        if end.is_some_and(|e| now > e.plus(LATE_SLACK)) {
            break;
        }
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                tokio::select! {
                    p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        };
        // Waiting for the window may have taken us past the end: then the rest is unsent.
        if end.is_some_and(|e| sh.now() > e.plus(LATE_SLACK)) {
            break;
        }
        let Some(t) = sched.pop() else { break };
        issued_until = t;
        let msg = pick(sh, i);
        sh.metrics[i].lock().record_intended(t.since(origin));
        if msg.dropped {
            continue;
        }
        let sh2 = sh.clone();
        let pacers = pacers.clone();
        // An agent's reply is intended when the agent is ready, not at the arrival.
        let intended = t.max(msg.not_before);
        tasks.spawn(async move {
            let mut guard = MessageGuard::new(&sh2, msg.phase);
            deliver(&sh2, &msg, intended, true, &pacers, &mut guard).await;
            drop(guard);
            drop(permit);
        });
    }
    // A phase lasts its duration even when its schedule runs dry early (a ramp down to 0, or
    // the last arrival falling just before the end), unless its message count is reached.
    let limit_reached = phase.messages.is_some_and(|l| sched.issued() >= l);
    if let (Some(e), false) = (end, limit_reached) {
        if sched.peek().is_none() && !sh.stopped() {
            sh.sleep_until(e).await;
        }
    }
    // The active window: until the phase end, the stop, or (message-limited) the instant the
    // schedule ran out.
    let now = sh.now();
    let mut active_end = match end {
        Some(e) => e.min(now),
        None => now,
    };
    if sched.peek().is_none() && !sh.stopped() {
        if let Some(limit) = phase.messages {
            if sched.issued() >= limit {
                // The instant the next arrival would have been due, so n messages at rate r span
                // exactly n / r.
                let t = profile
                    .inverse_from(limit as f64, 0)
                    .map(|(t, _)| origin.plus(t))
                    .unwrap_or(issued_until);
                active_end = t.max(issued_until);
            }
        }
    }
    // Arrivals intended inside the window but never issued: the generator fell behind or was
    // stopped. Counted, not hidden.
    let mut unsent = 0;
    {
        let mut m = sh.metrics[i].lock();
        while let Some(t) = sched.peek() {
            if t >= active_end {
                break;
            }
            sched.pop();
            m.record_intended(t.since(origin));
            unsent += 1;
        }
        m.unsent += unsent;
        m.active_us = active_end.since(origin);
        let expected = sched.expected_by(active_end);
        m.expected = match phase.messages {
            Some(l) => expected.min(sh.plan.shard.share(l) as f64),
            None => expected,
        };
    }
}

async fn run_closed(
    sh: &Arc<Shared>,
    i: usize,
    phase: &PhasePlan,
    sched: ClosedSchedule,
    cap_end: Option<SimTime>,
    tasks: &mut JoinSet<()>,
) {
    let origin = start_phase(sh, i);
    let end = phase_end(origin, phase, cap_end);
    let pacers = make_pacers(sh, phase);
    let issued = Arc::new(AtomicU64::new(0));
    // A shard runs its own virtual users (u mod N = I) up to its share of the message limit.
    let shard = sh.plan.shard;
    let limit = phase.messages.map(|l| shard.share(l));
    let (alive_tx, mut alive_rx) = tokio::sync::mpsc::channel::<()>(1);
    for vu in (0..sched.concurrency).filter(|&vu| shard.owns(u64::from(vu))) {
        let sh2 = sh.clone();
        let pacers = pacers.clone();
        let issued = issued.clone();
        let alive = alive_tx.clone();
        tasks.spawn(async move {
            let _alive = alive;
            let mut next = sched.first_send(origin, vu);
            loop {
                if end.is_some_and(|e| next >= e) || !sh2.sleep_until(next).await {
                    break;
                }
                if limit.is_some_and(|l| issued.fetch_add(1, Ordering::Relaxed) >= l) {
                    break;
                }
                let msg = pick(&sh2, i);
                if msg.dropped {
                    next = sched.next_send(sh2.now());
                    continue;
                }
                let mut guard = MessageGuard::new(&sh2, i);
                let intended = sh2.now().max(msg.not_before);
                let done = deliver(&sh2, &msg, intended, false, &pacers, &mut guard).await;
                drop(guard);
                next = sched.next_send(done);
            }
        });
    }
    drop(alive_tx);
    // The phase lasts until its end, until every user has stopped (message limit), or a stop.
    let mut stop = sh.stop.clone();
    let all_done = alive_rx.recv();
    match end {
        Some(e) => {
            tokio::select! {
                _ = tokio::time::sleep_until(sh.instant(e)) => {},
                _ = all_done => {},
                _ = stop.wait_for(|s| *s) => {},
            }
        }
        None => {
            tokio::select! {
                _ = all_done => {},
                _ = stop.wait_for(|s| *s) => {},
            }
        }
    }
    let now = sh.now();
    let active_end = end.map(|e| e.min(now)).unwrap_or(now);
    let mut m = sh.metrics[i].lock();
    m.active_us = active_end.since(origin);
}

/// Per-number pacers for a phase (pacing is part of the phase's sender policy).
fn make_pacers(sh: &Shared, phase: &PhasePlan) -> Arc<Vec<Option<Mutex<Pacer>>>> {
    Arc::new(
        sh.plan
            .numbers
            .iter()
            .map(|_| {
                phase
                    .policy
                    .per_number_rate
                    .map(|r| Mutex::new(Pacer::new(r)))
            })
            .collect(),
    )
}

/// Picks the next message of phase `phase_idx` and writes its request body.
fn pick(sh: &Shared, phase_idx: usize) -> Msg {
    let mut guard = sh.picking.lock();
    let Picking { picker, body } = &mut *guard;
    let now = sh.now();
    // The users who wrote in since the last pick, as the webhooks tell: the traffic's own
    // inbound messages and the audience's replies alike.
    if let Some(r) = &sh.receiver {
        r.take_inbound(|number, from| {
            if let Some(&i) = sh.number_index.get(number) {
                picker.wrote_in(i, from, now);
            }
        });
    }
    let pick = picker.pick(phase_idx, now);
    if pick.recipient == Recipient::Dropped {
        drop(guard);
        sh.metrics[phase_idx].lock().no_window += 1;
        return Msg {
            phase: phase_idx,
            number: pick.number,
            dropped: true,
            not_before: pick.not_before,
            body: Bytes::new(),
            door: Door::Messages,
            by_user_id: false,
            seq: pick.seq,
        };
    }
    let door = match picker.message(&pick) {
        Message::Send(out) => {
            request_body(out, body);
            if out.channel == crate::engine::message::Channel::CloudApi {
                Door::Messages
            } else {
                Door::MarketingMessages
            }
        }
        Message::Inbound { from, text } => {
            inbound_body(&sh.plan.numbers[pick.number], from, text, body);
            Door::Inbound(from)
        }
        Message::Block { user } => {
            block_body(user, body);
            Door::Block
        }
    };
    let by_user_id = picker.by_user_id(&pick);
    let body = Bytes::copy_from_slice(body);
    drop(guard);
    {
        let mut m = sh.metrics[phase_idx].lock();
        match pick.recipient {
            Recipient::New => m.recipients_new += 1,
            Recipient::Returning | Recipient::Window => m.recipients_returning += 1,
            Recipient::Hot => m.recipients_hot += 1,
            Recipient::Dropped => {}
        }
    }
    Msg {
        phase: phase_idx,
        number: pick.number,
        dropped: false,
        not_before: pick.not_before,
        body,
        door,
        by_user_id,
        seq: pick.seq,
    }
}

/// The message id in a 200 response, `messages[0].id`, borrowed from the body (no allocation
/// on the hot path; the caller copies it only when a webhook receiver needs it), and whether
/// template pacing held the message (`message_status: held_for_quality_assessment`).
fn message_id(body: &[u8]) -> Option<(&str, bool)> {
    #[derive(serde::Deserialize)]
    struct Resp<'a> {
        #[serde(borrow)]
        messages: Vec<Id<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Id<'a> {
        #[serde(borrow)]
        id: &'a str,
        #[serde(borrow, default)]
        message_status: Option<&'a str>,
    }
    serde_json::from_slice::<Resp>(body)
        .ok()?
        .messages
        .first()
        .map(|m| {
            (
                m.id,
                m.message_status == Some("held_for_quality_assessment"),
            )
        })
}

/// One message's life: attempts, classification, retries. Returns when it reached its final
/// outcome (or was abandoned by a stop), with the instant.
async fn deliver(
    sh: &Arc<Shared>,
    msg: &Msg,
    intended: SimTime,
    open: bool,
    pacers: &[Option<Mutex<Pacer>>],
    guard: &mut MessageGuard,
) -> SimTime {
    let phase = &sh.plan.phases[msg.phase];
    let policy = &phase.policy;
    let origin = sh.origin(msg.phase);
    let timeout = Duration::from_micros(policy.timeout.0);
    // Only messages the number sends are paced and carry a message id.
    let is_send = matches!(msg.door, Door::Messages | Door::MarketingMessages);
    let head = match msg.door {
        Door::Messages => &sh.message_heads[msg.number],
        Door::MarketingMessages => &sh.marketing_heads[msg.number],
        Door::Inbound(_) => &sh.inbound_head,
        Door::Block => &sh.block_heads[msg.number],
    };
    // An agent's reply waits for the agent (the guard counts it unsent on a stop).
    if intended > sh.now() && !sh.sleep_until(intended).await {
        return sh.now();
    }
    let mut rng = Pcg64Mcg::seed_from_u64(sh.seed ^ msg.seq.wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut retries = 0u32;
    let mut attempt_intended = intended;
    loop {
        if is_send {
            if let Some(Some(pacer)) = pacers.get(msg.number) {
                let slot = pacer.lock().reserve(sh.now());
                if slot > sh.now() && !sh.sleep_until(slot).await {
                    return sh.now(); // the guard counts it
                }
            }
        }
        let sent_at = sh.now();
        if retries == 0 {
            {
                let mut m = sh.metrics[msg.phase].lock();
                m.record_sent(sent_at.since(origin));
                m.by_user_id += u64::from(msg.by_user_id);
                if open {
                    crate::load::metrics::record(&mut m.send_lag, sent_at.since(intended));
                }
            }
            guard.sent = true;
        }
        let mut rguard = RequestGuard { sh, done: false };
        let result = sh.pool.send(head, &msg.body, timeout).await;
        rguard.done = true;
        drop(rguard);
        let done = sh.now();
        let mut held = false;
        let outcome = match result {
            Ok((status, body)) => {
                let o = classify(status, &body);
                if o == Outcome::Ok && is_send {
                    match message_id(&body) {
                        Some((id, h)) => {
                            if let Some(r) = &sh.receiver {
                                r.tracker().sent(id, Instant::now());
                            }
                            held = h;
                            o
                        }
                        None => Outcome::Failed(FailKind::BadResponse),
                    }
                } else {
                    o
                }
            }
            Err(SendError::Timeout) => Outcome::Failed(FailKind::Timeout),
            Err(SendError::Connection) => Outcome::Failed(FailKind::Connection),
        };
        // Without a receiver, the generator's own inbound messages are all the desk learns of
        // (with one, their webhooks tell it, with the audience's replies).
        if let (Outcome::Ok, Door::Inbound(from), None) = (outcome, msg.door, &sh.receiver) {
            sh.picking
                .lock()
                .picker
                .wrote_in(msg.number, from.into(), done);
        }
        let start = if open { attempt_intended } else { sent_at };
        let decision = decide(policy, outcome, retries, &mut rng);
        {
            let mut m = sh.metrics[msg.phase].lock();
            m.record_request(outcome, done.since(start), done.since(origin));
            match (outcome, msg.door) {
                (Outcome::Ok, Door::Inbound(_)) => m.inbound += 1,
                (Outcome::Ok, Door::Block) => m.blocked += 1,
                _ => {}
            }
            if held {
                m.held += 1;
            }
            match decision {
                Decision::Done => {
                    m.record_final(outcome, retries > 0, done.since(intended));
                    guard.done = true;
                }
                Decision::GiveUp { .. } => {
                    m.gave_up += 1;
                    m.record_final(outcome, retries > 0, done.since(intended));
                    guard.done = true;
                }
                // Counted when the retry is actually sent, below: a stop during the backoff
                // abandons it.
                Decision::Retry { .. } => {}
            }
        }
        match decision {
            Decision::Retry { after, reason } => {
                attempt_intended = done.plus(after);
                if !sh.sleep_until(attempt_intended).await {
                    return sh.now(); // the guard counts it
                }
                sh.metrics[msg.phase].lock().record_retry(reason);
                retries += 1;
            }
            _ => return done,
        }
    }
}

/// The phases running now (one per unfinished stream) and the one to describe: the first
/// running, or the last phase once all are done.
fn running_phases(sh: &Shared) -> (Vec<usize>, usize) {
    let running: Vec<usize> = (0..sh.current_phase.len())
        .filter(|&k| !sh.finished[k].load(Ordering::Relaxed))
        .map(|k| sh.current_phase[k].load(Ordering::Relaxed))
        .collect();
    let i = running
        .first()
        .copied()
        .unwrap_or_else(|| sh.plan.phases.len().saturating_sub(1));
    (running, i)
}

/// The rate phase `i` asks for now (open model, daily rhythm applied); `None` for a closed one.
fn asked_rate(sh: &Shared, i: usize) -> Option<f64> {
    match &sh.plan.phases[i].arrival {
        Arrival::Open {
            profile, rhythm, ..
        } => {
            let now = sh.now();
            let factor = rhythm.as_ref().map_or(1.0, |r| {
                r.curve
                    .factor_at(SimTime(sh.unix_at_t0 + now.0), r.utc_offset)
            });
            Some(profile.rate_at(now.since(sh.origin(i))) * factor)
        }
        Arrival::Closed(_) => None,
    }
}

/// Writes one [`LiveSample`] a second until aborted: rates over the last interval, latency
/// percentiles of the requests completed in it (the difference of the merged histograms), and
/// the running counts by class and code.
async fn sample_live(sh: Arc<Shared>, live: Arc<LiveSamples>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // The first tick is immediate: it only sets the baseline, so the first sample covers a
    // whole second instead of reporting the first burst over a few microseconds.
    tick.tick().await;
    let mut last_sent = sh.metrics.iter().map(|m| m.lock().messages).sum::<u64>();
    let mut last_t = Instant::now();
    let mut last_hist = crate::load::metrics::new_hist();
    for m in &sh.metrics {
        for h in &m.lock().latency {
            let _ = last_hist.add(h);
        }
    }
    loop {
        tick.tick().await;
        let (running, i) = running_phases(&sh);
        let mut hist = crate::load::metrics::new_hist();
        let mut counts = [0u64; 4];
        let mut codes: [crate::load::metrics::CodeCounts; 4] = Default::default();
        let mut sent = 0;
        let (mut inbound, mut blocked) = (0, 0);
        for m in &sh.metrics {
            let m = m.lock();
            inbound += m.inbound;
            blocked += m.blocked;
            for h in &m.latency {
                // Same fixed bounds everywhere: adding cannot fail.
                let _ = hist.add(h);
            }
            for (c, n) in counts.iter_mut().zip(m.requests.iter()) {
                *c += n;
            }
            for (c, o) in codes.iter_mut().zip(m.codes.iter()) {
                c.merge(o);
            }
            sent += m.messages;
        }
        let mut interval = hist.clone();
        let pct = if interval.subtract(&last_hist).is_ok() && !interval.is_empty() {
            let q = |p: f64| Some(interval.value_at_quantile(p) as f64 / 1000.0);
            (q(0.5), q(0.9), q(0.99))
        } else {
            (None, None, None)
        };
        last_hist = hist;
        let now = Instant::now();
        let dt = now.duration_since(last_t).as_secs_f64();
        let achieved_rate = if dt > 0.0 {
            sent.saturating_sub(last_sent) as f64 / dt
        } else {
            0.0
        };
        last_sent = sent;
        last_t = now;
        let phase = if running.len() > 1 {
            running
                .iter()
                .map(|&k| sh.plan.phases[k].name.as_str())
                .collect::<Vec<_>>()
                .join(" + ")
        } else {
            sh.plan.phases[i].name.clone()
        };
        let codes = crate::traffic::policy::Class::ALL
            .iter()
            .zip(codes.iter())
            .flat_map(|(class, cc)| {
                cc.sorted().into_iter().map(move |(k, n)| CodeCount {
                    class: class.name(),
                    code: k.to_string(),
                    name: match k {
                        crate::load::metrics::CodeKey::Graph(c) => u32::try_from(c)
                            .ok()
                            .and_then(crate::engine::errors::ErrorCode::from_code)
                            .map(|e| e.title()),
                        _ => None,
                    },
                    count: n,
                })
            })
            .collect();
        live.push(LiveSample {
            seq: 0,
            t_s: sh.t0.elapsed().as_secs_f64(),
            phase,
            target_rate: if running.len() > 1 {
                None
            } else {
                asked_rate(&sh, i)
            },
            achieved_rate,
            p50_ms: pct.0,
            p90_ms: pct.1,
            p99_ms: pct.2,
            inbound,
            blocked,
            requests: ClassCounts {
                ok: counts[0],
                throttled: counts[1],
                refused: counts[2],
                failed: counts[3],
            },
            codes,
        });
    }
}

/// The live progress line: elapsed, phase, achieved vs target rate, p99, class counts.
fn spawn_progress(sh: Arc<Shared>) -> (ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let b = bar.clone();
    let handle = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        // The rate shown is over the last two seconds (eight ticks), not the last tick: a
        // quarter second holds too few arrivals of a slow Poisson phase to say its rate, and
        // the first tick, right at the start, would divide a burst by almost nothing.
        let mut window: std::collections::VecDeque<(Instant, u64)> =
            std::collections::VecDeque::with_capacity(9);
        window.push_back((Instant::now(), 0));
        tick.tick().await;
        loop {
            tick.tick().await;
            // The first stream still running (or the last phase, once all are done); with
            // several streams running, their phases are named together.
            let (running, i) = running_phases(&sh);
            let mut counts = [0u64; 4];
            let mut sent = 0;
            let (mut inbound, mut blocked) = (0, 0);
            for m in &sh.metrics {
                let m = m.lock();
                for (c, n) in counts.iter_mut().zip(m.requests.iter()) {
                    *c += n;
                }
                sent += m.messages;
                inbound += m.inbound;
                blocked += m.blocked;
            }
            let (p99, target) = {
                let m = sh.metrics[i].lock();
                let p99 = if m.latency[0].is_empty() {
                    0.0
                } else {
                    m.latency[0].value_at_quantile(0.99) as f64 / 1000.0
                };
                let target = match (&sh.plan.phases[i].arrival, asked_rate(&sh, i)) {
                    (_, Some(rate)) => format!(" (target {rate:.0}/s)"),
                    (Arrival::Closed(c), None) => format!(" ({} users)", c.concurrency),
                    (Arrival::Open { .. }, None) => String::new(),
                };
                (p99, target)
            };
            let now = Instant::now();
            window.push_back((now, sent));
            if window.len() > 9 {
                window.pop_front();
            }
            let (t0, sent0) = window[0];
            let dt = now.duration_since(t0).as_secs_f64();
            let rate = if dt > 0.0 {
                sent.saturating_sub(sent0) as f64 / dt
            } else {
                0.0
            };
            let names = if running.len() > 1 {
                running
                    .iter()
                    .map(|&i| sh.plan.phases[i].name.as_str())
                    .collect::<Vec<_>>()
                    .join(" + ")
            } else {
                sh.plan.phases[i].name.clone()
            };
            let target = if running.len() > 1 {
                String::new()
            } else {
                target
            };
            b.set_message(progress_message(
                &names,
                rate,
                &target,
                p99,
                [
                    counts[0].saturating_sub(inbound + blocked),
                    inbound,
                    counts[1],
                    counts[2],
                    counts[3],
                ],
            ));
            b.tick();
        }
    });
    (bar, handle)
}

/// The progress message on two lines, so that each fits an 80-column terminal with counts in
/// the millions: the phase and its rate and latency, then what the requests became (sends
/// accepted apart from simulated users writing in; block requests are neither).
fn progress_message(name: &str, rate: f64, target: &str, p99: f64, counts: [u64; 5]) -> String {
    let [accepted, inbound, throttled, refused, failed] = counts;
    let inbound = if inbound > 0 {
        format!(" inbound {inbound}")
    } else {
        String::new()
    };
    format!(
        "{name} | {rate:.0} msg/s{target} | p99 {p99:.1} ms\n  \
         accepted {accepted}{inbound} | throttled {throttled} refused {refused} failed {failed}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_fit_80_columns_and_say_accepted_apart_from_inbound() {
        let m = progress_message(
            "spike",
            96.4,
            " (target 120/s)",
            2.61,
            [2_406_000, 504_000, 593_000, 12_000, 1_000],
        );
        let lines: Vec<&str> = m.lines().collect();
        assert_eq!(
            lines,
            [
                "spike | 96 msg/s (target 120/s) | p99 2.6 ms",
                "  accepted 2406000 inbound 504000 | throttled 593000 refused 12000 failed 1000",
            ]
        );
        // The spinner and the elapsed time ("⠁ [00:00:45] ") come before the first line.
        assert!(lines[0].len() + 13 <= 80 && lines[1].len() <= 80);
        let quiet = progress_message("steady", 5.0, "", 1.0, [10, 0, 0, 0, 0]);
        assert!(!quiet.contains("inbound"), "{quiet}");
    }

    #[test]
    fn message_id_parsing() {
        assert_eq!(
            message_id(br#"{"messaging_product":"whatsapp","contacts":[],"messages":[{"id":"wamid.X","message_status":"accepted"}]}"#),
            Some(("wamid.X", false))
        );
        assert_eq!(
            message_id(br#"{"messages":[{"id":"wamid.Y","message_status":"held_for_quality_assessment"}]}"#),
            Some(("wamid.Y", true))
        );
        assert_eq!(
            message_id(br#"{"messages":[{"id":"wamid.Z"}]}"#),
            Some(("wamid.Z", false))
        );
        assert_eq!(message_id(br#"{"messages":[]}"#), None);
        assert_eq!(message_id(b"ok"), None);
    }
}
