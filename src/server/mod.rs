//! The mock Cloud API server: hyper on the outside, the engine inside.
//!
//! `run(listener, state, shutdown)` serves until `shutdown` resolves, so tests bind
//! `127.0.0.1:0` and pass their own shutdown future (the mini-redis pattern). The engine is
//! driven on the [`Clock`]: requests call it with `clock.now()`, a timer task fires its
//! scheduled events, and every event goes to the webhook [`Outbox`].

pub mod block;
pub mod conn;
pub mod contact_book;
pub mod control;
pub mod durable;
pub mod errors;
pub mod graph;
pub mod log;
pub mod media;
pub mod metrics;
pub mod onboarding;
pub mod paging;
pub mod policy;
pub mod query;
mod routes;
pub mod trail;
pub mod ui;
pub mod usage;
pub mod wire;
pub mod world;

pub use world::SharedWorld;

use crate::clock::{Clock, SimTime};
use crate::engine::errors::ErrorCode;
use crate::engine::ids::{parse_id, BusinessId, PhoneNumberId, TemplateId, WabaId};
use crate::engine::{Effects, ObjectKind, Rejection};
use crate::webhooks::Outbox;
use bytes::Bytes;
use errors::{Failure, StatusRule, StatusTable};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use metrics::{Label, Metrics};
use query::Query;
use routes::{Graph, Route};
use serde::Serialize;
use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Who may call the `/_sim` control API and `/metrics`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum ControlAccess {
    /// Only clients on a loopback address (the default: no credential needed there).
    #[default]
    Loopback,
    /// Loopback clients, and remote ones that send `Authorization: Bearer <token>`. Remote
    /// clients never see business tokens (`/_sim/state` masks them).
    Token(String),
}

/// Whether a client may use `/_sim` and `/metrics`: loopback clients always; remote ones with
/// `Authorization: Bearer <control token>` when the server has one, or with `control_token=`
/// in the query (a browser cannot add a header to a page load or an `EventSource`, so the
/// dashboard passes the token this way).
fn control_allowed(
    access: &ControlAccess,
    local: bool,
    authorization: Option<&str>,
    query_token: Option<&str>,
) -> bool {
    if local {
        return true;
    }
    match access {
        ControlAccess::Loopback => false,
        ControlAccess::Token(token) => authorization
            .and_then(|v| v.strip_prefix("Bearer "))
            .or(query_token)
            .is_some_and(|t| same_secret(t.trim().as_bytes(), token.as_bytes())),
    }
}

/// Compares in time independent of where the first difference is, so a remote client cannot
/// guess the control token byte by byte from response times.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Server settings (the parts not owned by the engine or the webhooks).
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub status_table: StatusTable,
    /// Largest accepted request body; larger gets 413 (Meta does not publish a limit: 1 MiB).
    pub max_body_bytes: usize,
    pub control_access: ControlAccess,
    /// Sent in `facebook-api-version` when the request names none.
    pub default_api_version: String,
    /// Timeouts and caps of connections and requests ([`conn`]).
    pub limits: conn::Limits,
    /// WABA management calls per hour per WABA ([`usage`]); 0 turns the limit off.
    pub waba_calls_per_hour: u32,
    /// Graph calls per hour of the app (code 4, `X-App-Usage`, [`usage`]); 0 turns it off.
    pub app_calls_per_hour: u32,
    /// Caps of the Media API's store and uploads ([`media`]).
    pub media: media::MediaLimits,
    /// How a send by an unusable media id fails.
    pub media_id_errors: media::MediaIdErrors,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            status_table: StatusTable::default(),
            max_body_bytes: 1 << 20,
            control_access: ControlAccess::Loopback,
            default_api_version: "v23.0".into(),
            limits: conn::Limits::default(),
            waba_calls_per_hour: usage::DEFAULT_CALLS_PER_HOUR,
            app_calls_per_hour: usage::DEFAULT_APP_CALLS_PER_HOUR,
            media: media::MediaLimits::default(),
            media_id_errors: media::MediaIdErrors::default(),
        }
    }
}

/// Everything a request handler needs, shared by all connections.
pub struct AppState {
    pub engine: Arc<SharedWorld>,
    /// `GET /_sim/events`. One lock for the whole log: a request holds it only to append the
    /// few decisions it made, after its portfolio's lock is released.
    pub log: parking_lot::Mutex<log::DecisionLog>,
    /// Businesses onboarded through the control API (not part of the scenario's world). Its
    /// own lock: only `/_sim/businesses` takes it, never while a portfolio is held.
    pub onboarding: parking_lot::Mutex<crate::engine::integrity::OnboardingRegistry>,
    pub clock: Arc<Clock>,
    pub outbox: Outbox,
    pub cfg: ServerConfig,
    pub metrics: Metrics,
    pub faults: control::Faults,
    /// Uploaded media (`server/media.rs`). Its own lock, never taken while a portfolio is held.
    pub media: parking_lot::Mutex<media::MediaStore>,
    /// Upload bodies being read at once (`media::UPLOADS_AT_ONCE`).
    uploads: tokio::sync::Semaphore,
    /// Wakes the timer task when a request schedules something earlier than it sleeps for.
    timer_wake: Notify,
    /// The deadline the timer task sleeps until (µs), `u64::MAX` when idle.
    armed: AtomicU64,
    trace_seq: AtomicU64,
    /// Requests being handled, and those shed past the caps.
    pub in_flight: conn::InFlight,
    /// WABA management calls in the last hour, per WABA.
    pub usage: usage::Usage,
    /// Webhook subscriptions per WABA (`/{waba-id}/subscribed_apps`).
    pub subscriptions: onboarding::Subscriptions,
    /// The address the server listens on: the base of `paging.next` when a request has no
    /// `Host` header.
    pub listen_addr: std::sync::OnceLock<SocketAddr>,
    /// Recent delivery statuses, for the message inspector (`server/trail.rs`).
    pub trail: parking_lot::Mutex<trail::StatusTrail>,
    /// The live dashboard's stream slots and attached feed (`server/ui.rs`).
    pub ui: ui::UiState,
    /// `--state-dir`: set once the journal has been replayed; from then on every
    /// state-changing request and timer firing is journaled ([`durable`]).
    pub state_dir: std::sync::OnceLock<Arc<durable::StateDir>>,
}

impl AppState {
    pub fn new(
        engine: Arc<SharedWorld>,
        clock: Arc<Clock>,
        outbox: Outbox,
        cfg: ServerConfig,
    ) -> Arc<AppState> {
        let capacity = engine.rules().log_capacity_per_number;
        let media_limits = cfg.media;
        Arc::new(AppState {
            engine,
            log: parking_lot::Mutex::new(log::DecisionLog::new(capacity)),
            onboarding: Default::default(),
            clock,
            outbox,
            metrics: Metrics::default(),
            faults: control::Faults::default(),
            media: parking_lot::Mutex::new(media::MediaStore::new(media_limits)),
            uploads: tokio::sync::Semaphore::new(media::UPLOADS_AT_ONCE),
            timer_wake: Notify::new(),
            armed: AtomicU64::new(u64::MAX),
            trace_seq: AtomicU64::new(trace_seed()),
            in_flight: conn::InFlight::default(),
            usage: usage::Usage::new(cfg.waba_calls_per_hour, cfg.app_calls_per_hour),
            subscriptions: Default::default(),
            listen_addr: Default::default(),
            trail: Default::default(),
            ui: Default::default(),
            state_dir: Default::default(),
            cfg,
        })
    }

    /// Hands a call's events to the webhooks and wakes the timer task if needed.
    pub fn commit(&self, fx: &mut Effects) {
        self.keep_inbound_media(fx);
        if !fx.events.is_empty() {
            // What the mock did, whether or not a webhook will tell anyone.
            self.trail.lock().record(&fx.events);
            self.subscriptions.filter(&mut fx.events);
        }
        if !fx.events.is_empty() {
            self.outbox.push(&mut fx.events);
        }
        if !fx.decisions.is_empty() {
            let mut log = self.log.lock();
            for d in fx.decisions.drain(..) {
                log.push(d);
            }
        }
        if let Some(at) = fx.wake_at.take() {
            if at.0 < self.armed.load(Ordering::Acquire) {
                self.timer_wake.notify_one();
            }
        }
        fx.clear();
    }

    /// Puts the media of inbound messages (decided by the engine) in the media store, so their
    /// ids download through the Media API, whether or not a webhook reports them.
    fn keep_inbound_media(&self, fx: &Effects) {
        for ev in &fx.events {
            if let crate::engine::events::EventBody::Inbound { media: Some(m), .. } = &ev.body {
                // A media id never shadows a number, WABA or template.
                if self.engine.kind_of(m.id).is_none() {
                    self.media.lock().insert_inbound(ev.at, m);
                }
            }
        }
    }

    /// Fires every engine timer due by now (used by the timer task and by clock advances).
    pub fn fire_due(&self, now: SimTime) {
        with_effects(|fx| {
            self.engine.handle_timeouts(now, fx);
            self.commit(fx);
        })
    }

    /// The timer task's firing: journaled first with a state dir. False when the journal
    /// could not be written (nothing fired: a firing the journal misses would make a restart
    /// diverge).
    fn fire_timers(&self) -> bool {
        let Some(dir) = self.state_dir.get() else {
            self.fire_due(self.clock.now());
            return true;
        };
        let mut journal = dir.lock();
        let now = self.clock.now();
        if let Err(e) = journal.append(&durable::Record::Timers { now: now.0 }) {
            tracing::warn!(dir = %dir.dir().display(), error = %e, "could not write the journal; timers wait");
            return false;
        }
        self.fire_due(now);
        true
    }

    fn trace_id(&self) -> String {
        let n = crate::engine::audience::splitmix(self.trace_seq.fetch_add(1, Ordering::Relaxed));
        let mut s = String::with_capacity(12);
        s.push('A');
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(n.to_le_bytes(), &mut s);
        s
    }
}

/// Where this process's trace ids start: the wall-clock start time mixed with the process id,
/// so two servers (or two runs) do not hand out the same `fbtrace_id` sequence. Trace ids are
/// not part of any deterministic output, so the wall clock is fine here.
fn trace_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    crate::engine::audience::splitmix(nanos ^ (u64::from(std::process::id()) << 32))
}

thread_local! {
    static EFFECTS: RefCell<Effects> = RefCell::new(Effects::default());
}

/// Runs `f` with this thread's reusable [`Effects`] (no allocation per request).
fn with_effects<R>(f: impl FnOnce(&mut Effects) -> R) -> R {
    EFFECTS.with(|fx| f(&mut fx.borrow_mut()))
}

/// Serves HTTP on `listener` until `shutdown` resolves. Also runs the engine's timer task.
/// Connections are bounded as [`conn`] describes.
pub async fn run(listener: TcpListener, state: Arc<AppState>, shutdown: impl Future<Output = ()>) {
    let timers = tokio::spawn(timer_task(state.clone()));
    let limits = state.cfg.limits;
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut accept_log = conn::AcceptLog::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, remote) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        if let Some(line) = accept_log.error(std::time::Instant::now(), &e) {
                            tracing::warn!("{line}");
                        }
                        // Out of descriptors: give connections time to close instead of spinning.
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    state.in_flight.shed.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(conn::refuse(stream));
                    continue;
                };
                let st = state.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let st = st.clone();
                        async move { Ok::<_, Infallible>(respond(st, req, remote).await) }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(limits.header_timeout)
                        .serve_connection(io, svc)
                        .await;
                    drop(slot);
                });
            }
        }
    }
    timers.abort();
}

/// Sleeps until the engine's next timer, fires what is due, repeats.
async fn timer_task(state: Arc<AppState>) {
    loop {
        let next = state.engine.poll_timeout();
        state
            .armed
            .store(next.map_or(u64::MAX, |t| t.0), Ordering::Release);
        match next {
            Some(at) => state.clock.sleep_until(at, &state.timer_wake).await,
            None => {
                tokio::select! {
                    _ = state.timer_wake.notified() => {}
                    _ = state.clock.advanced() => {}
                }
            }
        }
        if !state.fire_timers() {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
}

type Resp = Response<Full<Bytes>>;

/// Answers one request: the dashboard's event stream (a body that never ends) for a client
/// allowed on the control API while a stream slot is free; [`handle`] for everything else,
/// including the stream's refusals, so they get the same errors as every `/_sim` route.
async fn respond(
    state: Arc<AppState>,
    req: Request<Incoming>,
    remote: SocketAddr,
) -> Response<ui::Body> {
    if req.method() == hyper::Method::GET && req.uri().path() == ui::EVENTS_PATH {
        let auth = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let query = Query::parse(req.uri().query());
        let query_token = query.get("control_token");
        if control_allowed(
            &state.cfg.control_access,
            is_local(remote.ip()),
            auth,
            query_token,
        ) {
            if let Some(slot) = ui::stream_slot(&state) {
                state.metrics.request(Label::Control, 200);
                return ui::event_stream(state, slot);
            }
        }
    }
    handle(&state, req, remote)
        .await
        .map(http_body_util::Either::Left)
}

fn json_response(status: u16, body: Vec<u8>, version: &str, trace: &str) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    if let Ok(v) = HeaderValue::from_str(version) {
        h.insert("facebook-api-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(trace) {
        h.insert("x-fb-trace-id", v.clone());
        h.insert("x-fb-request-id", v);
    }
    r
}

/// A request in flight: what the handlers need besides the engine.
struct Ctx<'a> {
    state: &'a AppState,
    version: String,
    trace: String,
    /// What `/metrics` counts this request under.
    label: Label,
    /// The request's method, lower case: Graph names it in "object does not exist" errors.
    method: &'static str,
    /// From a loopback address: may see business tokens in `/_sim/state`.
    local: bool,
    /// The request's headers (the Media API reads `Content-Type` and `Host`).
    headers: &'a hyper::HeaderMap,
    /// The instant the request is served at: every core call it makes uses this one.
    now: SimTime,
}

impl<'s> Ctx<'s> {
    /// For a state-changing request when there is a state dir: takes the journal lock (held
    /// until the guard drops, so the journal's order is the core's), reads `now` under it
    /// and appends the request. A journal that cannot be written refuses the request (503,
    /// code 2) rather than serve what a restart would not know.
    fn journal(
        &mut self,
        record: impl FnOnce(u64) -> durable::Record,
    ) -> Result<Option<durable::JournalGuard<'s>>, Rejection> {
        let Some(dir) = self.state.state_dir.get() else {
            return Ok(None);
        };
        let mut guard = dir.lock();
        self.now = self.state.clock.now();
        match guard.append(&record(self.now.0)) {
            Ok(()) => Ok(Some(guard)),
            Err(e) => {
                tracing::warn!(dir = %dir.dir().display(), error = %e, "could not write the journal");
                Err(Rejection::new(
                    ErrorCode::ApiService,
                    "wabasim could not write its state directory; retry later",
                ))
            }
        }
    }
}

impl Ctx<'_> {
    fn ok(&self, v: &impl Serialize) -> Resp {
        let body = serde_json::to_vec(v).unwrap_or_default();
        self.state.metrics.request(self.label, 200);
        json_response(200, body, &self.version, &self.trace)
    }

    /// Answers a refusal that comes with results, as the Block Users API's partial failure
    /// does: `fields` first, then the Graph `error` envelope, in one body.
    fn fail_with(&self, rej: &Rejection, fields: serde_json::Value) -> Resp {
        let status = self.state.cfg.status_table.status(rej.code);
        self.state.metrics.request(self.label, status);
        let mut body = fields;
        let envelope: serde_json::Value =
            serde_json::from_slice(&errors::render(rej, self.method, &self.trace))
                .unwrap_or_default();
        body["error"] = envelope["error"].clone();
        json_response(
            status,
            serde_json::to_vec(&body).unwrap_or_default(),
            &self.version,
            &self.trace,
        )
    }

    /// Answers a refusal with the status table's status, as the platform would.
    fn err(&self, rej: &Rejection) -> Resp {
        self.fail(StatusRule::Table, rej)
    }

    /// Answers an error in the Graph envelope; `rule` chooses the status in
    /// [`StatusTable::status_of`].
    fn fail(&self, rule: StatusRule, rej: &Rejection) -> Resp {
        let status = self.state.cfg.status_table.status_of(rule, rej.code);
        self.state.metrics.request(self.label, status);
        let mut r = json_response(
            status,
            errors::render(rej, self.method, &self.trace),
            &self.version,
            &self.trace,
        );
        if status == 401 {
            r.headers_mut().insert(
                "www-authenticate",
                HeaderValue::from_static(
                    "OAuth \"Facebook Platform\" \"invalid_token\" \"Invalid OAuth access token\"",
                ),
            );
        }
        r
    }
}

fn is_version(seg: &str) -> bool {
    let Some(rest) = seg.strip_prefix('v') else {
        return false;
    };
    let mut parts = rest.splitn(2, '.');
    let major = parts.next().unwrap_or("");
    let minor = parts.next().unwrap_or("0");
    !major.is_empty()
        && major.bytes().all(|b| b.is_ascii_digit())
        && !minor.is_empty()
        && minor.bytes().all(|b| b.is_ascii_digit())
}

async fn handle(state: &AppState, req: Request<Incoming>, remote: SocketAddr) -> Resp {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let mut segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut version = state.cfg.default_api_version.clone();
    if segs.first().is_some_and(|s| is_version(s)) {
        version = segs.remove(0).to_string();
    }
    let route = Route::of(&parts.method, &segs, |id| routes::object_label(state, id));
    let mut ctx = Ctx {
        state,
        version,
        trace: state.trace_id(),
        label: route.label(),
        method: errors::method_word(&parts.method),
        local: is_local(remote.ip()),
        headers: &parts.headers,
        now: state.clock.now(),
    };
    // Load shedding: past the in-flight cap, Graph's "temporarily unavailable" (503, code 2).
    // The health check is never shed: a busy server is alive.
    let _entered =
        if route.is_health() {
            None
        } else {
            match state.in_flight.enter(state.cfg.limits.max_in_flight) {
                Some(e) => Some(e),
                None => return ctx.fail(
                    StatusRule::Table,
                    &Rejection::new(
                        ErrorCode::ApiService,
                        "wabasim is at its in-flight request limit (--max-in-flight); retry later",
                    ),
                ),
            }
        };
    let query = Query::parse(parts.uri.query()).with_base(base_url(state, &parts.headers, path));
    // Uploads may be as large as the largest media file; every other body keeps the
    // server's limit.
    // An upload body is read only for a known token, and only `media::UPLOADS_AT_ONCE` at a
    // time, so buffered uploads never exceed that many times `--max-media-bytes`.
    let mut _upload_slot = None;
    let max_body = match route {
        Route::Graph(_, Graph::UploadMedia(_)) => {
            if let Err(rej) = authorize(state, &parts.headers, &query) {
                return ctx.err(&rej);
            }
            match state.uploads.acquire().await {
                Ok(permit) => _upload_slot = Some(permit),
                Err(_) => {
                    return ctx.err(&Rejection::new(
                        ErrorCode::ApiService,
                        "wabasim is not taking uploads now; retry later",
                    ))
                }
            }
            state.cfg.media.body_limit()
        }
        _ => state.cfg.max_body_bytes,
    };
    let body = match read_body(&ctx, &parts.headers, body, max_body).await {
        Ok(b) => b,
        Err(resp) => return resp,
    };

    if route.has_no_auth() {
        let auth = parts
            .headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !control_allowed(
            &state.cfg.control_access,
            ctx.local,
            auth,
            query.get("control_token"),
        ) {
            let why = match state.cfg.control_access {
                ControlAccess::Loopback => "The /_sim control API and /metrics answer loopback clients only (start with --control-from-any --control-token T to change this).",
                ControlAccess::Token(_) => "The /_sim control API and /metrics answer remote clients with `Authorization: Bearer <control token>` only.",
            };
            return ctx.fail(
                StatusRule::Forbidden,
                &Rejection::new(ErrorCode::PermissionDenied, why),
            );
        }
    }
    let usage_scope = route.usage_scope();
    let endpoint = match route {
        Route::Metrics => return metrics_response(state),
        Route::Control(routes::Control::Ui) => {
            state.metrics.request(Label::Control, 200);
            return ui::page();
        }
        Route::Control(endpoint) => {
            let _journal = if durable::changes_state(&endpoint) {
                match ctx.journal(|now| durable::Record::Control {
                    now,
                    method: parts.method.to_string(),
                    path: segs[1..].join("/"),
                    query: parts.uri.query().unwrap_or_default().to_string(),
                    body: durable::Body::of(&body),
                }) {
                    Ok(g) => g,
                    Err(rej) => return ctx.err(&rej),
                }
            } else {
                None
            };
            return control::handle(&ctx, endpoint, &parts.method, &segs[1..], &query, &body);
        }
        Route::Graph(_, endpoint) => endpoint,
    };

    // Graph routes: the token first, as Graph does.
    let business = match authorize(state, &parts.headers, &query) {
        Ok(b) => b,
        Err(rej) => return ctx.err(&rej),
    };

    if let Some(resp) = control::maybe_fault(&ctx).await {
        return resp;
    }

    // Call limits: the app's first (every call), then the use case of the object the path
    // names, for objects the world knows; refused past the hour's budget, not counted.
    let (app, counted) = count_call(state, usage_scope);
    let refusal = match (&app, &counted) {
        (Some(a), _) if a.exceeded => Some(Rejection {
            subcode: Some(APP_LIMIT_SUBCODE),
            ..Rejection::new(
                ErrorCode::AppRateLimit,
                format!(
                    "The app reached its limit of {} API calls per hour.",
                    state.usage.app_calls_per_hour
                ),
            )
        }),
        (_, Some((c, code))) if c.exceeded => Some(Rejection::new(
            *code,
            format!(
                "The WhatsApp Business Account reached its limit of {} management calls per hour.",
                state.usage.calls_per_hour
            ),
        )),
        _ => None,
    };
    let mut resp = match &refusal {
        Some(rej) => ctx.err(rej),
        _ => {
            let _journal = if parts.method != hyper::Method::GET {
                let upload = matches!(endpoint, Graph::UploadMedia(_));
                match ctx.journal(|now| durable::Record::Graph {
                    now,
                    biz: business.0,
                    method: parts.method.to_string(),
                    path: segs.join("/"),
                    query: parts.uri.query().unwrap_or_default().to_string(),
                    body: durable::Body::of(&body),
                    content_type: parts
                        .headers
                        .get(CONTENT_TYPE)
                        .filter(|_| upload)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string),
                }) {
                    Ok(g) => g,
                    Err(rej) => return ctx.err(&rej),
                }
            } else {
                None
            };
            match graph_route(&ctx, business, endpoint, &segs, &query, &body) {
                Ok(resp) => resp,
                Err(f) => {
                    if matches!(ctx.label, Label::Messages | Label::MarketingMessages) {
                        state.metrics.send_rejected(f.rejection.code);
                    }
                    ctx.fail(f.rule, &f.rejection)
                }
            }
        }
    };
    if let Some(v) = counted.and_then(|(c, _)| HeaderValue::from_str(&c.header).ok()) {
        resp.headers_mut().insert("x-business-use-case-usage", v);
    }
    // Meta's spec gives `X-App-Usage` to `GET /{business-id}` only (cloud-api-2026.md §4).
    let business_node = matches!(endpoint, Graph::GetObject(id)
        if parse_id(id).is_some_and(|i| state.engine.directory().business(BusinessId(i)).is_some()));
    if let Some(v) = app
        .filter(|_| business_node)
        .and_then(|c| HeaderValue::from_str(&c.header).ok())
    {
        resp.headers_mut().insert("x-app-usage", v);
    }
    resp
}

/// Code 4's subcode in Meta's OpenAPI spec (cloud-api.md §2, cloud-api-2026.md §4).
const APP_LIMIT_SUBCODE: u32 = 2446079;

/// Counts one authorised Graph call: against the app, and (unless the app refused it) against
/// the WABA or business its path names, with the code that refuses past that budget.
fn count_call(
    state: &AppState,
    scope: Option<(&str, routes::UsageScope)>,
) -> (Option<usage::Counted>, Option<(usage::Counted, ErrorCode)>) {
    use routes::UsageScope as S;
    use usage::UseCase;
    let now = state.clock.now();
    let e = &*state.engine;
    let app = state.usage.count_app(now);
    if app.as_ref().is_some_and(|a| a.exceeded) {
        return (app, None);
    }
    let counted = scope.and_then(|(id, scope)| {
        let raw = parse_id(id)?;
        let (key, case, code) = match scope {
            S::WabaManagement => (
                Some(raw).filter(|&i| e.kind_of(i) == Some(ObjectKind::Waba))?,
                UseCase::Management,
                ErrorCode::WabaRateLimit,
            ),
            S::BusinessManagement => (
                Some(raw).filter(|&i| e.directory().business(BusinessId(i)).is_some())?,
                UseCase::Management,
                ErrorCode::WabaTooManyCalls,
            ),
            S::Messaging => (
                e.waba_of_object(raw)
                    .filter(|_| e.kind_of(raw) != Some(ObjectKind::Waba))?
                    .0,
                UseCase::Messaging,
                ErrorCode::AppRateLimit,
            ),
        };
        Some((state.usage.count(key, case, now)?, code))
    });
    (app, counted)
}

/// The request's absolute URL without its query: `http://` + its `Host` (when it is a plain
/// host and port), else the listen address, + its path. `paging.next` links are built on it.
fn base_url(state: &AppState, headers: &hyper::HeaderMap, path: &str) -> String {
    let host = headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .map(str::to_string)
        .or_else(|| state.listen_addr.get().map(|a| a.to_string()))
        .unwrap_or_else(|| "127.0.0.1".into());
    format!("http://{host}{path}")
}

/// Reads the body, refusing oversized bodies before reading them and capping what is read, so
/// a client cannot make the server buffer more than `max_body_bytes`.
async fn read_body(
    ctx: &Ctx<'_>,
    headers: &hyper::HeaderMap,
    body: Incoming,
    max: usize,
) -> Result<Bytes, Resp> {
    let too_large = || {
        Rejection::new(
            ErrorCode::InvalidParameter,
            format!("Request body is larger than the {max}-byte limit."),
        )
    };
    if let Some(len) = headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > max {
            return Err(ctx.fail(StatusRule::TooLarge, &too_large()));
        }
    }
    match Limited::new(body, max).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return Err(ctx.fail(StatusRule::TooLarge, &too_large()));
            }
            Err(ctx.fail(
                StatusRule::BadRequest,
                &Rejection::new(
                    ErrorCode::InvalidParameter,
                    format!("Could not read the request body: {e}"),
                ),
            ))
        }
    }
}

/// `GET /metrics`: Prometheus text, not JSON, so it does not go through [`Ctx::ok`].
fn metrics_response(state: &AppState) -> Resp {
    let text = state
        .metrics
        .render(&state.outbox.stats(), state.engine.pending_timers());
    state.metrics.request(Label::Metrics, 200);
    let mut r = Response::new(Full::new(Bytes::from(text)));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

/// The business whose token the request carries (header, or `access_token` in the query).
fn authorize(
    state: &AppState,
    headers: &hyper::HeaderMap,
    query: &Query,
) -> Result<BusinessId, Rejection> {
    let token = bearer(headers).or_else(|| query.get("access_token"));
    match token {
        None => Err(Rejection::new(
            ErrorCode::AccessTokenExpired,
            "An access token is required to request this resource. Send it as 'Authorization: Bearer <token>'.",
        )),
        Some(t) => match state.engine.authorize(t) {
            Some(b) => Ok(b),
            None => Err(Rejection::new(
                ErrorCode::AccessTokenExpired,
                "Invalid OAuth access token: the token does not belong to any business of this world.",
            )),
        },
    }
}

/// Whether a client is on this machine. A dual-stack listener (`[::]`) sees local IPv4 clients
/// as `::ffff:127.0.0.1`, which is loopback too.
fn is_local(ip: std::net::IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

fn bearer(h: &hyper::HeaderMap) -> Option<&str> {
    let v = h.get(hyper::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, tok) = v.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth") {
        let t = tok.trim();
        (!t.is_empty()).then_some(t)
    } else {
        None
    }
}

/// Answers a Graph endpoint for an authorized business. `segs` only words the errors for
/// unknown paths.
fn graph_route(
    ctx: &Ctx<'_>,
    biz: BusinessId,
    endpoint: Graph<'_>,
    segs: &[&str],
    q: &Query,
    body: &Bytes,
) -> Result<Resp, Failure> {
    let e = &*ctx.state.engine;
    let now = ctx.now;
    let id_of = |s: &str| parse_id(s).ok_or_else(|| Rejection::unknown_object(s));
    match endpoint {
        Graph::SendMessage(id) => {
            let phone = PhoneNumberId(id_of(id)?);
            // The object and the permission first, as Graph does, then the body.
            e.check_number(biz, phone)?;
            match wire::parse_messages(body)? {
                wire::MessagesRequest::MarkRead { message_id } => {
                    e.mark_read(biz, phone, &message_id)?;
                    Ok(ctx.ok(&serde_json::json!({"success": true})))
                }
                wire::MessagesRequest::Send {
                    mut msg,
                    input,
                    media_id,
                } => {
                    if let Some(mid) = &media_id {
                        msg.media_unavailable = !media::check_send(ctx, biz, mid)?;
                    }
                    let receipt = with_effects(|fx| {
                        let r = e.send(now, biz, phone, &msg, fx);
                        ctx.state.commit(fx);
                        r
                    })?;
                    ctx.state.metrics.send_accepted();
                    Ok(ctx.ok(&send_response(&input, &receipt)))
                }
            }
        }
        Graph::SendMarketingMessage(id) => {
            let phone = PhoneNumberId(id_of(id)?);
            e.check_number(biz, phone)?;
            let (msg, input) = wire::parse_marketing_messages(body)?;
            let receipt = with_effects(|fx| {
                let r = e.send(now, biz, phone, &msg, fx);
                ctx.state.commit(fx);
                r
            })?;
            ctx.state.metrics.send_accepted();
            Ok(ctx.ok(&send_response(&input, &receipt)))
        }
        Graph::OnboardMarketingMessages(id) => {
            let business = BusinessId(id_of(id)?);
            if business != biz {
                return Err(Rejection::unknown_object(id).into());
            }
            let request_id = with_effects(|fx| {
                let r = e.onboard_marketing_messages(now, biz, fx);
                ctx.state.commit(fx);
                r
            })?;
            Ok(ctx.ok(&serde_json::json!({"request_id": request_id.to_string()})))
        }
        Graph::GetObject(id) => {
            let raw = id_of(id)?;
            match e.kind_of(raw) {
                Some(ObjectKind::PhoneNumber) => {
                    Ok(ctx.ok(&graph::get_phone_number(e, biz, PhoneNumberId(raw), q)?))
                }
                Some(ObjectKind::Waba) => Ok(ctx.ok(&graph::get_waba(e, biz, WabaId(raw), q)?)),
                Some(ObjectKind::Template) => {
                    Ok(ctx.ok(&graph::get_template(e, biz, TemplateId(raw), q)?))
                }
                None if e.directory().business(BusinessId(raw)).is_some() => Ok(ctx.ok(
                    &onboarding::get_business(ctx.state, biz, BusinessId(raw), q)?,
                )),
                None => media::get(ctx, biz, id, q),
            }
        }
        Graph::DeleteObject(id) => match e.kind_of(id_of(id)?) {
            // Numbers, WABAs and templates are not deleted this way.
            Some(_) => Err(Rejection::unknown_object(id).into()),
            None => media::delete(ctx, biz, id, q),
        },
        Graph::BlockUsers(id) => block::change(ctx, now, biz, id, body, true),
        Graph::UnblockUsers(id) => block::change(ctx, now, biz, id, body, false),
        Graph::ListBlockedUsers(id) => Ok(ctx.ok(&block::list(ctx, biz, id, q)?)),
        Graph::DeleteContact(id) => Ok(ctx.ok(&contact_book::delete(ctx.state, biz, id, q)?)),
        Graph::UploadMedia(id) => media::upload(ctx, biz, id, body.clone()),
        Graph::DownloadMedia => media::download(ctx, biz, q),
        Graph::ListPhoneNumbers(id) => Ok(ctx.ok(&graph::get_waba_phone_numbers(
            e,
            biz,
            WabaId(id_of(id)?),
            q,
        )?)),
        Graph::ListTemplates(id) => {
            Ok(ctx.ok(&graph::list_templates(e, biz, WabaId(id_of(id)?), q)?))
        }
        Graph::CreateTemplate(id) => {
            let waba = WabaId(id_of(id)?);
            let v = with_effects(|fx| {
                let r = graph::create_template(e, now, biz, waba, body, fx);
                ctx.state.commit(fx);
                r
            })?;
            Ok(ctx.ok(&v))
        }
        Graph::DeleteTemplates(id) => {
            Ok(ctx.ok(&graph::delete_template(e, biz, WabaId(id_of(id)?), q)?))
        }
        Graph::GetProfile(id) => {
            Ok(ctx.ok(&graph::get_profile(e, biz, PhoneNumberId(id_of(id)?), q)?))
        }
        Graph::UpdateProfile(id) => Ok(ctx.ok(&graph::update_profile(
            e,
            biz,
            PhoneNumberId(id_of(id)?),
            body,
        )?)),
        Graph::GetSettings(id) => Ok(ctx.ok(&policy::settings(ctx, biz, id)?)),
        Graph::UpdateSettings(id) => Ok(ctx.ok(&policy::update_settings(ctx, biz, id, body)?)),
        Graph::CheckContacts => Ok(ctx.ok(&policy::check_contacts(ctx, biz, body)?)),
        Graph::AcknowledgeIdentity(wa_id) => {
            Ok(ctx.ok(&policy::acknowledge_identity(ctx, biz, wa_id, body)?))
        }
        Graph::Onboarding(call) => {
            Ok(ctx.ok(&onboarding::route(ctx.state, ctx.now, biz, call, q, body)?))
        }
        Graph::Unsupported(id) => Err(Rejection::unknown_object(id).into()),
        Graph::UnknownPath => Err(Rejection::new(
            ErrorCode::UnknownPath,
            // Graph names the components after the node it resolved: `/{id}/foo/bar` → `/foo/bar`.
            format!(
                "Unknown path components: /{}",
                segs.get(1..)
                    .filter(|r| !r.is_empty())
                    .unwrap_or(segs)
                    .join("/")
            ),
        )
        .into()),
    }
}

/// The answer to an accepted send, on `/messages` and `/marketing_messages` alike:
/// `message_status` (`accepted`, `held_for_quality_assessment`) for template sends [OAS].
fn send_response<'a>(input: &'a str, receipt: &crate::engine::SendReceipt) -> SendResponse<'a> {
    SendResponse {
        messaging_product: "whatsapp",
        // A send by BSUID answers with `user_id` and no `wa_id`; by phone, the reverse
        // [M:bsuid].
        contacts: [match receipt.user_id {
            Some(u) => ContactOut {
                input,
                wa_id: None,
                user_id: Some(u.to_string()),
            },
            None => ContactOut {
                input,
                wa_id: Some(receipt.wa_id.to_string()),
                user_id: None,
            },
        }],
        messages: [MessageOut {
            id: receipt.wamid.render(),
            message_status: receipt.message_status,
        }],
    }
}

#[derive(Serialize)]
struct SendResponse<'a> {
    messaging_product: &'static str,
    contacts: [ContactOut<'a>; 1],
    messages: [MessageOut; 1],
}

#[derive(Serialize)]
struct ContactOut<'a> {
    input: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    wa_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
}

#[derive(Serialize)]
struct MessageOut {
    id: String,
    /// Template sends only: `accepted` or `held_for_quality_assessment` (template pacing).
    #[serde(skip_serializing_if = "Option::is_none")]
    message_status: Option<crate::engine::pacing::MessageStatus>,
}

#[cfg(test)]
mod tests {
    use super::{control_allowed, is_local, same_secret, ControlAccess};

    #[test]
    fn remote_control_needs_the_token() {
        let token = ControlAccess::Token("s3cret-control-token".into());
        let loopback = ControlAccess::Loopback;
        assert!(control_allowed(&loopback, true, None, None));
        assert!(!control_allowed(&loopback, false, Some("Bearer x"), None));
        assert!(!control_allowed(&loopback, false, None, Some("x")));
        assert!(
            control_allowed(&token, true, None, None),
            "loopback needs none"
        );
        assert!(!control_allowed(&token, false, None, None));
        let header = |h| control_allowed(&token, false, Some(h), None);
        assert!(!header("Bearer s3cret-control-toke"));
        assert!(!header("s3cret-control-token"));
        assert!(header("Bearer s3cret-control-token"));
        // The dashboard's way: `control_token=` in the query.
        let query = |q| control_allowed(&token, false, None, Some(q));
        assert!(query("s3cret-control-token"));
        assert!(!query("s3cret-control-toke") && !query(""));
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd") && !same_secret(b"ab", b"abc"));
    }

    #[test]
    fn loopback_clients_are_local_whatever_the_socket_family() {
        for ip in ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"] {
            assert!(is_local(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["10.0.0.1", "192.168.1.2", "::ffff:10.0.0.1", "2001:db8::1"] {
            assert!(!is_local(ip.parse().unwrap()), "{ip}");
        }
    }
}
