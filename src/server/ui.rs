//! The live dashboard and the message inspector: for people watching the mock, not part of the
//! Graph API. Control-plane routes, so the same access rules apply as to every `/_sim` route.
//!
//! - `GET /_sim/ui`          one HTML page (inline JS and CSS, no external requests)
//! - `GET /_sim/ui/events`   Server-Sent Events: one `tick` per wall second with the server's
//!   counters, the webhook outbox, every number's standing and the templates' states (plus the
//!   load generator's samples when `wabasim run --dashboard` attached them)
//! - `GET /_sim/inspect`     `?wamid=…` or `?user=…`: what the mock holds about one conversation
//!
//! Everything shown comes from state the server keeps anyway (engine snapshot, decision log,
//! status trail, ledger): the dashboard adds no per-message store.

use super::errors::Failure;
use super::query::Query;
use super::trail::StatusEntry;
use super::AppState;
use crate::engine::charging::message_key;
use crate::engine::errors::ErrorCode;
use crate::engine::events::{Decision, Wamid};
use crate::engine::ids::{PhoneNumberId, WaId};
use crate::engine::Rejection;
use bytes::Bytes;
use http_body_util::{Full, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::Response;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The page, embedded in the binary: nothing to build, nothing fetched from elsewhere.
pub const PAGE: &str = include_str!("ui.html");

/// Where the event stream is served (no API version prefix).
pub const EVENTS_PATH: &str = "/_sim/ui/events";

/// Event streams open at once. Each holds a connection and samples the engine once a second;
/// a dashboard is for a few viewers, not a crowd.
pub const MAX_STREAMS: usize = 8;

/// Wall time between two ticks of a stream.
pub const TICK: Duration = Duration::from_secs(1);

/// Numbers and templates a tick describes (the first ones, in id order); the tick says how
/// many there are in all. A generated world of thousands of numbers stays a small message.
pub const MAX_NUMBERS: usize = 50;
pub const MAX_TEMPLATES: usize = 100;

/// The newest decisions a tick lists (newest first), each a way into the inspector.
pub const RECENT_DECISIONS: usize = 12;

/// Timeline entries `GET /_sim/inspect` returns by default, and at most.
pub const INSPECT_LIMIT: usize = 200;
pub const INSPECT_MAX: usize = 2_000;

/// Samples another part of the process adds to each tick: `wabasim run --dashboard` attaches
/// the load generator's rates and latencies this way, so the server needs no knowledge of it.
pub trait LiveFeed: Send + Sync {
    /// The samples numbered `since` and later (JSON objects), and the number to ask from next.
    fn since(&self, since: u64) -> (Vec<Value>, u64);
}

/// The dashboard's share of the server state.
pub struct UiState {
    streams: Arc<Semaphore>,
    live: OnceLock<Arc<dyn LiveFeed>>,
}

impl Default for UiState {
    fn default() -> Self {
        UiState {
            streams: Arc::new(Semaphore::new(MAX_STREAMS)),
            live: OnceLock::new(),
        }
    }
}

impl UiState {
    /// Attaches a feed (once; a second call is ignored and returns false).
    pub fn attach(&self, feed: Arc<dyn LiveFeed>) -> bool {
        self.live.set(feed).is_ok()
    }
}

/// A response body that is either a whole buffer or the event stream.
pub type Body = http_body_util::Either<Full<Bytes>, StreamBody<EventFrames>>;
pub type EventFrames =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send>>;

/// `GET /_sim/ui`.
pub fn page() -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(PAGE.as_bytes())));
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The page talks to this server only.
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
        ),
    );
    r
}

/// A stream slot, or `None` when [`MAX_STREAMS`] are open.
pub fn stream_slot(st: &AppState) -> Option<OwnedSemaphorePermit> {
    st.ui.streams.clone().try_acquire_owned().ok()
}

/// `GET /_sim/ui/events`: a tick at once, then one per [`TICK`], until the client goes away
/// (hyper drops the stream, and with it the slot).
pub fn event_stream(st: Arc<AppState>, slot: OwnedSemaphorePermit) -> Response<Body> {
    struct Cursor {
        st: Arc<AppState>,
        _slot: OwnedSemaphorePermit,
        since: u64,
        first: bool,
    }
    let start = Cursor {
        st,
        _slot: slot,
        since: 0,
        first: true,
    };
    let frames = futures_util::stream::unfold(start, |mut c| async move {
        if !c.first {
            tokio::time::sleep(TICK).await;
        }
        c.first = false;
        let mut v = tick(&c.st);
        if let Some(feed) = c.st.ui.live.get() {
            let (samples, next) = feed.since(c.since);
            c.since = next;
            v["load"] = Value::Array(samples);
        }
        let text = format!("event: tick\ndata: {v}\n\n");
        Some((Ok(Frame::data(Bytes::from(text))), c))
    });
    let frames: EventFrames = Box::pin(frames);
    let mut r = Response::new(http_body_util::Either::Right(StreamBody::new(frames)));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Meta's name of a code, for the codes the engine knows.
fn code_name(code: u32) -> Option<&'static str> {
    ErrorCode::from_code(code).map(ErrorCode::title)
}

/// One tick: what the server holds now. Counts are cumulative; the page draws the differences.
pub fn tick(st: &AppState) -> Value {
    let snap = st.engine.snapshot();
    let now = st.clock.now();
    let mut accepted = 0u64;
    let mut delivered = 0u64;
    let mut read = 0u64;
    let mut inbound = 0u64;
    let mut refused: BTreeMap<u32, u64> = BTreeMap::new();
    let mut failed: BTreeMap<u32, u64> = BTreeMap::new();
    for n in &snap.numbers {
        let c = &n.counters;
        accepted += c.accepted;
        delivered += c.delivered;
        read += c.read;
        inbound += c.inbound;
        for (k, v) in &c.rejected {
            *refused.entry(*k).or_default() += v;
        }
        for (k, v) in &c.failed {
            *failed.entry(*k).or_default() += v;
        }
    }
    let names: Map<String, Value> = refused
        .keys()
        .chain(failed.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter_map(|c| code_name(*c).map(|n| (c.to_string(), json!(n))))
        .collect();
    let numbers: Vec<Value> = snap
        .numbers
        .iter()
        .take(MAX_NUMBERS)
        .map(|n| {
            let v = serde_json::to_value(n).unwrap_or_default();
            json!({
                "id": n.id.to_string(),
                "display_phone_number": n.display_phone_number,
                "verified_name": n.verified_name,
                "status": v["status"],
                "quality_rating": v["quality_rating"],
                "messaging_limit": v["messaging_limit"],
                "messaging_limit_used": n.messaging_limit_used,
                "throughput_mps": n.throughput_mps,
                "accepted": n.counters.accepted,
                "refused": n.counters.rejected.values().sum::<u64>(),
                "delivered": n.counters.delivered,
                "failed": n.counters.failed.values().sum::<u64>(),
            })
        })
        .collect();
    let templates: Vec<Value> = snap
        .templates
        .iter()
        .take(MAX_TEMPLATES)
        .map(|t| {
            json!({
                "id": t.id.to_string(),
                "name": t.name,
                "language": t.language,
                "category": t.category,
                "status": t.status,
                "quality_score": t.quality_score,
                "pauses": t.pauses,
            })
        })
        .collect();
    let recent: Vec<Value> = st
        .log
        .lock()
        .recent(RECENT_DECISIONS)
        .iter()
        .rev()
        .map(|l| {
            let d = &l.decision;
            json!({
                "at": d.at.as_micros(),
                "phone_number_id": d.phone_number_id.to_string(),
                "user": d.recipient.or(d.wamid.map(|w| w.user)).map(|u| u.to_string()),
                "wamid": d.wamid.map(|w| w.render()),
                "rule": d.rule.as_str(),
                "code": d.code.map(ErrorCode::code),
                "code_name": d.code.map(ErrorCode::title),
            })
        })
        .collect();
    let mut webhooks = serde_json::to_value(st.outbox.stats()).unwrap_or_default();
    webhooks["not_subscribed"] = json!(st
        .subscriptions
        .dropped
        .load(std::sync::atomic::Ordering::Relaxed));
    json!({
        "now": now.as_micros(),
        "clock": {
            "mode": match st.clock.mode() {
                crate::clock::ClockMode::Wall => "wall",
                crate::clock::ClockMode::Manual => "manual",
            },
            "time_scale": st.clock.scale(),
        },
        "server": {
            "accepted": accepted,
            "refused": refused,
            "delivered": delivered,
            "read": read,
            "failed": failed,
            "inbound": inbound,
        },
        "code_names": names,
        "webhooks": webhooks,
        "numbers": numbers,
        "numbers_total": snap.numbers.len(),
        "templates": templates,
        "templates_total": snap.templates.len(),
        "recent": recent,
    })
}

fn bad(details: impl Into<String>) -> Failure {
    Failure::bad_request(Rejection::new(ErrorCode::InvalidParameter, details))
}

/// `GET /_sim/inspect?wamid=…` or `?user=…` (`&limit=N`): one conversation as the mock holds
/// it, as a timeline in simulated time: the decisions about it (the rule that fired, the code),
/// the statuses with their times, what the user did, and the ledger lines (the price charged).
/// A wamid narrows the timeline to the number that sent or received it.
pub fn inspect(st: &AppState, q: &Query) -> Result<Value, Failure> {
    let limit = match q.get("limit") {
        None => INSPECT_LIMIT,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=INSPECT_MAX).contains(n))
            .ok_or_else(|| {
                bad(format!(
                    "limit: '{s}' is not a number from 1 to {INSPECT_MAX}"
                ))
            })?,
    };
    let (user, focus) = match (q.get("wamid"), q.get("user")) {
        (Some(w), None) => {
            let wamid = Wamid::parse(w.trim()).ok_or_else(|| {
                bad(format!(
                    "wamid: '{w}' is not a message id of this server (wamid.…)"
                ))
            })?;
            (wamid.user, Some(wamid))
        }
        (None, Some(u)) => {
            let user = WaId::parse_lenient(u)
                .ok_or_else(|| bad(format!("user: '{u}' is not a phone number (wa_id)")))?;
            (user, None)
        }
        _ => return Err(bad("Pass exactly one of wamid=… or user=… (a wa_id).")),
    };
    // A wamid's number: from whatever the mock still holds about it.
    let same_message = |w: &Option<Wamid>| focus.is_some() && *w == focus;
    let phone: Option<PhoneNumberId> = match focus {
        None => None,
        Some(w) => {
            let from_log = st
                .log
                .lock()
                .matching(1, |d| same_message(&d.wamid))
                .0
                .first()
                .map(|l| l.decision.phone_number_id);
            from_log.or_else(|| {
                st.trail
                    .lock()
                    .matching(1, |e| e.wamid == w)
                    .first()
                    .map(|e| e.phone_number_id)
            })
        }
    };
    let on_phone = |p: PhoneNumberId| phone.is_none_or(|x| x == p);
    let about_user = |d: &Decision| {
        on_phone(d.phone_number_id)
            && (d.recipient == Some(user) || d.wamid.is_some_and(|w| w.user == user))
    };
    let (decisions, more_decisions) = st.log.lock().matching(limit, about_user);
    let statuses: Vec<StatusEntry> = st.trail.lock().matching(limit, |e| {
        e.wamid.user == user && on_phone(e.phone_number_id)
    });
    // Ledger lines name the message by (number, key): the keys of this user's messages.
    let keys: BTreeSet<(u64, u64)> = decisions
        .iter()
        .filter_map(|l| {
            l.decision
                .wamid
                .map(|w| (l.decision.phone_number_id.0, message_key(w.tag, w.seq)))
        })
        .chain(
            statuses
                .iter()
                .map(|e| (e.phone_number_id.0, message_key(e.wamid.tag, e.wamid.seq))),
        )
        .collect();
    let charges: Vec<_> = if keys.is_empty() {
        Vec::new()
    } else {
        st.engine
            .ledger_page(0, usize::MAX - 1)
            .lines
            .into_iter()
            .filter(|l| keys.contains(&(l.phone_number_id, l.message_key)))
            .collect()
    };

    let wamid_of = |w: &Wamid| w.render();
    let mut items: Vec<(u64, u8, Value)> = Vec::new();
    for l in &decisions {
        let d = &l.decision;
        items.push((
            d.at.as_micros(),
            0,
            json!({
                "kind": "decision",
                "at": d.at.as_micros(),
                "seq": l.seq,
                "phone_number_id": d.phone_number_id.to_string(),
                "wamid": d.wamid.as_ref().map(wamid_of),
                "direction": d.wamid.map(|w| if w.inbound { "inbound" } else { "outbound" }),
                "rule": d.rule.as_str(),
                "code": d.code.map(ErrorCode::code),
                "code_name": d.code.map(ErrorCode::title),
                "detail": d.detail,
            }),
        ));
    }
    for e in &statuses {
        items.push((
            e.at.as_micros(),
            1,
            json!({
                "kind": "status",
                "at": e.at.as_micros(),
                "phone_number_id": e.phone_number_id.to_string(),
                "wamid": wamid_of(&e.wamid),
                "status": e.status.as_str(),
                "code": e.code.map(ErrorCode::code),
                "code_name": e.code.map(ErrorCode::title),
                "category": e.category.map(|c| c.wire()),
                "billable": e.billable,
            }),
        ));
    }
    let by_key: BTreeMap<(u64, u64), String> = decisions
        .iter()
        .filter_map(|l| l.decision.wamid.map(|w| (l.decision.phone_number_id.0, w)))
        .chain(statuses.iter().map(|e| (e.phone_number_id.0, e.wamid)))
        .map(|(p, w)| ((p, message_key(w.tag, w.seq)), wamid_of(&w)))
        .collect();
    for l in &charges {
        items.push((
            l.at_us,
            2,
            json!({
                "kind": "charge",
                "at": l.at_us,
                "phone_number_id": l.phone_number_id.to_string(),
                "wamid": by_key.get(&(l.phone_number_id, l.message_key)),
                "category": l.category.wire(),
                "pricing_type": l.pricing_type.wire(),
                "billable": l.billable,
                "amount": l.amount,
                "bsp_price": l.bsp_price,
                "currency": l.currency,
                "unpriced": l.unpriced,
            }),
        ));
    }
    items.sort_by_key(|(at, kind, _)| (*at, *kind));
    let truncated = more_decisions || items.len() > limit;
    let cut = items.len().saturating_sub(limit);
    let items: Vec<Value> = items.into_iter().skip(cut).map(|(_, _, v)| v).collect();
    Ok(json!({
        "user": user.to_string(),
        "wamid": focus.as_ref().map(wamid_of),
        "phone_number_id": phone.map(|p| p.to_string()),
        "now": st.clock.now().as_micros(),
        "items": items,
        "truncated": truncated,
        "evicted": {
            "decisions": st.log.lock().evicted_total(),
            "statuses": st.trail.lock().evicted(),
        },
    }))
}
