//! The `/_sim` control API: for tests and demos, not part of the Graph API. JSON in and out;
//! errors use the Graph envelope too so one client-side parser reads everything.
//!
//! - `GET  /_sim/health`
//! - `GET  /_sim/state`            numbers, templates, tokens, clock, webhook counters
//! - `POST /_sim/clock/advance`    `{"seconds": N}` (manual clock only)
//! - `POST /_sim/inbound`          `{"from", "phone_number_id", "text"}`: a user writes
//! - `GET  /_sim/events`           `?since=SEQ&limit=N`: the decision log
//! - `GET|POST|DELETE /_sim/faults` injected errors and latency per route
//! - `GET  /_sim/webhooks`         delivery counters
//! - policy routes (businesses, verticals, recipients): see `server/policy.rs`
//! - `POST /_sim/recipients/{wa_id}/actions` `{"action": "block"|"report"|"reply"|"opt_out",
//!   "reason"?, "text"?, "phone_number_id"?}`: force a user's reaction
//! - `GET  /_sim/ledger`           `?since=SEQ&limit=N`: cost totals and ledger lines
//! - `GET  /_sim/ui`, `/_sim/ui/events`, `/_sim/inspect`: the dashboard (`server/ui.rs`)

use super::errors::Failure;
use super::metrics::Label;
use super::query::Query;
use super::routes::Control;
use super::{policy, with_effects, Ctx, Resp};
use crate::clock::{ClockMode, MICROS_PER_SEC};
use crate::engine::errors::ErrorCode;
use crate::engine::feedback::UserAction;
use crate::engine::ids::{PhoneNumberId, WaId};
use crate::engine::reactions::BlockReason;
use crate::engine::Rejection;
use hyper::Method;
use parking_lot::RwLock;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// One injected fault: for requests to `route` (or every Graph route with `"*"`), add
/// `latency_ms`, and fail `error_ratio` of them with `code`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    #[serde(default = "star")]
    pub route: String,
    #[serde(default)]
    pub error_ratio: f64,
    #[serde(default)]
    pub latency_ms: u64,
    /// Error code of injected failures (default 131000, HTTP 500).
    #[serde(default = "default_fault_code")]
    pub code: u32,
}

fn star() -> String {
    "*".into()
}
fn default_fault_code() -> u32 {
    131000
}

/// Longest injected latency of one fault, and of all faults of one request together: a
/// fault slows requests down, it must not hang them.
pub const MAX_FAULT_LATENCY_MS: u64 = 60_000;

/// Most simulated seconds one `POST /_sim/clock/advance` may move the clock (ten years).
pub const MAX_ADVANCE_S: f64 = 315_576_000.0;

/// Faults kept at once.
pub const MAX_FAULTS: usize = 100;

#[derive(Default)]
pub struct Faults {
    list: RwLock<Vec<Fault>>,
}

/// Applies injected faults to a Graph request: sleeps for the latency, maybe answers an error.
pub(super) async fn maybe_fault(ctx: &Ctx<'_>) -> Option<Resp> {
    let (latency, fail) = {
        let list = ctx.state.faults.list.read();
        if list.is_empty() {
            return None;
        }
        let mut latency = 0;
        let mut fail = None;
        let mut rng = rand::thread_rng();
        for f in list
            .iter()
            .filter(|f| f.route == "*" || f.route == ctx.label.as_str())
        {
            latency = (latency + f.latency_ms).min(MAX_FAULT_LATENCY_MS);
            if fail.is_none() && f.error_ratio > 0.0 && rng.gen::<f64>() < f.error_ratio {
                fail = ErrorCode::from_code(f.code);
            }
        }
        (latency, fail)
    };
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    fail.map(|code| {
        if ctx.label == Label::Messages {
            ctx.state.metrics.send_rejected(code);
        }
        ctx.err(&Rejection::new(code, "Injected fault (POST /_sim/faults)."))
    })
}

fn bad(details: impl Into<String>) -> Rejection {
    Rejection::new(ErrorCode::InvalidParameter, details)
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Rejection> {
    // serde also reads structs from JSON arrays (`[]` would be a fault with every default).
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(bad("Request body must be a JSON object."));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        bad(format!("{path}: {}", e.into_inner()))
    })
}

/// `POST /_sim/recipients/{wa_id}/actions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipientAction {
    action: String,
    /// Block reason for block/report: spam (default), didnt_sign_up, offensive,
    /// no_longer_needed, other.
    #[serde(default)]
    reason: Option<String>,
    /// Text of a reply or opt-out message (a canned reply / "STOP" when absent).
    #[serde(default)]
    text: Option<String>,
    /// The number the user reacts to (default: the one talking to the user).
    #[serde(default)]
    phone_number_id: Option<String>,
}

fn recipient_action(ctx: &Ctx<'_>, wa_id: &str, body: &[u8]) -> Result<serde_json::Value, Failure> {
    let st = ctx.state;
    let a: RecipientAction = parse(body).map_err(Failure::bad_request)?;
    let user = WaId::parse_lenient(wa_id).ok_or_else(|| {
        Failure::bad_request(bad(format!("wa_id: '{wa_id}' is not a phone number")))
    })?;
    let phone = match &a.phone_number_id {
        None => None,
        Some(p) => Some(p.parse::<PhoneNumberId>().map_err(|_| {
            Failure::bad_request(bad(format!("phone_number_id: '{p}' is not an id")))
        })?),
    };
    let reason = || {
        match a.reason.as_deref() {
        None => Ok(BlockReason::Spam),
        Some(r) => BlockReason::parse(r).ok_or_else(|| {
            Failure::bad_request(bad(format!("reason: '{r}' is not one of spam, didnt_sign_up, offensive, no_longer_needed, other")))
        }),
    }
    };
    let text = a.text.clone().unwrap_or_default();
    let action = match a.action.as_str() {
        "block" => UserAction::Block(reason()?),
        "report" => UserAction::Report(reason()?),
        "reply" => UserAction::Reply(text),
        "opt_out" => UserAction::OptOut(text),
        "resume" => UserAction::Resume(text),
        // A recycled number: the user gets a new identity (`user_changed_number`, 137000 for
        // stale hashes, held sends), the same as `POST /_sim/recipients/{wa_id}/reregister`.
        "reregister" => {
            let now = ctx.now;
            let r = with_effects(|fx| {
                let r = st.engine.reregister(now, user, fx);
                st.commit(fx);
                r
            })
            .map_err(Failure::bad_request)?;
            return Ok(serde_json::to_value(&r).unwrap_or_default());
        }
        other => {
            return Err(Failure::bad_request(bad(format!(
                "action: '{other}' is not one of block, report, reply, opt_out, resume, reregister"
            ))))
        }
    };
    let now = ctx.now;
    let outcome = with_effects(|fx| {
        let r = st.engine.user_action(now, phone, user, action, fx);
        st.commit(fx);
        r
    })
    .map_err(Failure::bad_request)?;
    Ok(serde_json::to_value(outcome).unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Inbound {
    from: String,
    phone_number_id: String,
    #[serde(default)]
    text: String,
    /// The user came from a Click-to-WhatsApp ad / Page CTA: a reply within 24 h opens a
    /// 72 h free-entry-point window.
    #[serde(default)]
    from_ad: bool,
}

/// Answers a control endpoint. `method` and `segs` (the path after `/_sim`) only word the error
/// for an unknown route.
pub(super) fn handle(
    ctx: &Ctx<'_>,
    endpoint: Control<'_>,
    method: &Method,
    segs: &[&str],
    q: &Query,
    body: &[u8],
) -> Resp {
    match dispatch(ctx, endpoint, method, segs, q, body) {
        Ok(v) => ctx.ok(&v),
        Err(f) => ctx.fail(f.rule, &f.rejection),
    }
}

fn dispatch(
    ctx: &Ctx<'_>,
    endpoint: Control<'_>,
    method: &Method,
    segs: &[&str],
    q: &Query,
    body: &[u8],
) -> Result<serde_json::Value, Failure> {
    let st = ctx.state;
    let e400 = Failure::bad_request;
    match endpoint {
        Control::Health => Ok(json!({
            "status": "ok",
            "now": st.clock.now().as_micros(),
            "now_unix": st.clock.now().unix_secs(),
            "clock": match st.clock.mode() { ClockMode::Wall => "wall", ClockMode::Manual => "manual" },
        })),
        Control::State => {
            let snap = st.engine.snapshot();
            let mut v = serde_json::to_value(&snap).unwrap_or_default();
            if !ctx.local {
                hide_tokens(&mut v);
            }
            if let Some(numbers) = v["numbers"].as_array_mut() {
                let log = st.log.lock();
                for (n, view) in numbers.iter_mut().zip(&snap.numbers) {
                    n["log_evicted"] = json!(log.evicted(view.id));
                }
            }
            v["clock"] = json!({
                "mode": match st.clock.mode() { ClockMode::Wall => "wall", ClockMode::Manual => "manual" },
                "now": st.clock.now().as_micros(),
                "now_unix": st.clock.now().unix_secs(),
                "time_scale": st.clock.scale(),
            });
            v["webhooks"] = serde_json::to_value(st.outbox.stats()).unwrap_or_default();
            v["sends_accepted"] = json!(st.metrics.accepted());
            v["policy"] = serde_json::to_value(st.engine.policy()).unwrap_or_default();
            Ok(v)
        }
        Control::AdvanceClock => {
            let a: Advance = parse(body).map_err(e400)?;
            if !(a.seconds >= 0.0 && a.seconds <= MAX_ADVANCE_S) {
                return Err(e400(bad(format!(
                    "seconds: must be a number from 0 to {MAX_ADVANCE_S} (ten years) per call"
                ))));
            }
            let now = st
                .clock
                .advance((a.seconds * MICROS_PER_SEC as f64) as u64)
                .ok_or_else(|| {
                    Failure::conflict(bad("The clock is a wall clock; start the server with --clock manual to advance it."))
                })?;
            st.fire_due(now);
            Ok(json!({"now": now.as_micros(), "now_unix": now.unix_secs()}))
        }
        Control::Inbound => {
            let i: Inbound = parse(body).map_err(e400)?;
            let from = WaId::parse_lenient(&i.from)
                .ok_or_else(|| e400(bad(format!("from: '{}' is not a phone number", i.from))))?;
            let phone: PhoneNumberId = i.phone_number_id.parse().map_err(|_| {
                e400(bad(format!(
                    "phone_number_id: '{}' is not an id",
                    i.phone_number_id
                )))
            })?;
            let now = ctx.now;
            let wamid = with_effects(|fx| {
                let r = if i.from_ad {
                    st.engine.inbound_from_ad(now, phone, from, &i.text, fx)
                } else {
                    st.engine.inbound(now, phone, from, &i.text, fx)
                };
                st.commit(fx);
                r
            })
            .map_err(Failure::bad_request)?;
            Ok(
                json!({"message_id": wamid.render(), "window_open_until": now.plus(st.engine.rules().service_window_hours * 3_600 * MICROS_PER_SEC).unix_secs()}),
            )
        }
        Control::RecipientAction(wa_id) => recipient_action(ctx, wa_id, body),
        Control::Events => {
            let since = q.get("since").and_then(|s| s.parse().ok()).unwrap_or(0);
            let limit = q
                .get("limit")
                .and_then(|s| s.parse().ok())
                .unwrap_or(1000usize)
                .min(100_000);
            Ok(serde_json::to_value(st.log.lock().page(since, limit)).unwrap_or_default())
        }
        Control::Ledger => {
            let since = match q.get("since") {
                None => 0,
                Some(s) => s
                    .parse()
                    .map_err(|_| e400(bad(format!("since: '{s}' is not a ledger line number"))))?,
            };
            let limit = match q.get("limit") {
                None => 1000usize,
                Some(s) => s
                    .parse()
                    .map_err(|_| e400(bad(format!("limit: '{s}' is not a number"))))?,
            }
            .min(100_000);
            Ok(serde_json::to_value(st.engine.ledger_page(since, limit)).unwrap_or_default())
        }
        Control::Faults => Ok(json!({"faults": *st.faults.list.read()})),
        Control::AddFault => {
            let f: Fault = parse(body).map_err(e400)?;
            if f.route != "*" && Label::parse(&f.route).is_none() {
                return Err(e400(bad(format!(
                    "route: '{}' is not one of *, messages, phone_number, phone_numbers, waba, message_templates, template, whatsapp_business_profile",
                    f.route
                ))));
            }
            if !(0.0..=1.0).contains(&f.error_ratio) {
                return Err(e400(bad("error_ratio: must be between 0 and 1")));
            }
            if ErrorCode::from_code(f.code).is_none() {
                return Err(e400(bad(format!(
                    "code: {} is not an error code wabasim knows",
                    f.code
                ))));
            }
            if f.latency_ms > MAX_FAULT_LATENCY_MS {
                return Err(e400(bad(format!(
                    "latency_ms: at most {MAX_FAULT_LATENCY_MS} (one minute)"
                ))));
            }
            let mut list = st.faults.list.write();
            // Every Graph request walks the list: it stays short.
            if list.len() >= MAX_FAULTS {
                return Err(e400(bad(format!(
                    "at most {MAX_FAULTS} faults at once; DELETE /_sim/faults clears them"
                ))));
            }
            list.push(f);
            Ok(json!({"faults": *list}))
        }
        Control::ClearFaults => {
            st.faults.list.write().clear();
            Ok(json!({"faults": []}))
        }
        Control::Webhooks => {
            let mut v = serde_json::to_value(st.outbox.stats()).unwrap_or_default();
            // Events of WABAs without a subscription never reach the outbox: counted here.
            v["not_subscribed"] = json!(st
                .subscriptions
                .dropped
                .load(std::sync::atomic::Ordering::Relaxed));
            Ok(v)
        }
        Control::StatusTable => Ok(json!(st
            .cfg
            .status_table
            .entries()
            .into_iter()
            .map(|(c, s, t)| json!({"code": c, "http_status": s, "title": t}))
            .collect::<Vec<_>>())),
        Control::Verticals => Ok(policy::verticals()),
        Control::Businesses => Ok(policy::businesses(ctx)),
        Control::Onboard => policy::onboard(ctx, body),
        Control::Reinstate(id) => policy::reinstate(ctx, id),
        Control::Recategorise(id) => policy::recategorise(ctx, id, body),
        Control::Reregister(wa_id) => policy::reregister(ctx, wa_id),
        Control::Identity(wa_id) => policy::identity(ctx, wa_id),
        Control::Inspect => super::ui::inspect(st, q),
        // `server::handle` answers the page itself (HTML, not JSON) before coming here.
        Control::Ui => Ok(json!({"page": "/_sim/ui"})),
        // Reached only when `server::respond` did not open the stream: every slot is taken
        // (or the path carried an API version, which the stream does not take).
        Control::UiEvents => Err(Failure::new(
            super::errors::StatusRule::Table,
            Rejection::new(
                ErrorCode::ApiService,
                format!(
                    "The dashboard stream is GET {} (no API version), open to at most {} clients at once; close another dashboard and retry.",
                    super::ui::EVENTS_PATH,
                    super::ui::MAX_STREAMS
                ),
            ),
        )),
        Control::Unknown => Err(Failure::not_found(Rejection::new(
            ErrorCode::UnknownPath,
            format!("Unknown control route: {} /_sim/{}", method, segs.join("/")),
        ))),
    }
}

/// Business tokens act on the Graph API: only loopback clients see them in `/_sim/state`.
fn hide_tokens(state: &mut serde_json::Value) {
    if let Some(businesses) = state["businesses"].as_array_mut() {
        for b in businesses {
            if let Some(tokens) = b["tokens"].as_array_mut() {
                for t in tokens {
                    *t = json!("(hidden from remote clients)");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_clients_never_see_business_tokens() {
        let mut v =
            json!({"businesses": [{"id": "1", "tokens": ["EAAG-secret", "other"]}, {"id": "2"}]});
        hide_tokens(&mut v);
        let text = v.to_string();
        assert!(
            !text.contains("EAAG-secret") && !text.contains("other"),
            "{text}"
        );
        assert_eq!(v["businesses"][0]["tokens"].as_array().unwrap().len(), 2);
    }
}
