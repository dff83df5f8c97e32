//! Onboarding endpoints, as a partner walks Embedded Signup: `GET /debug_token`, the business's
//! WABA lists, `/{waba-id}/subscribed_apps`, and a number's `request_code`, `verify_code`, PIN
//! (`POST /{phone-number-id}`), `register` and `deregister`.
//!
//! Registration state is the engine's (`engine::registration`, checked in the send path).
//! Webhook subscriptions are the server's ([`Subscriptions`]): whether a WABA's events are
//! delivered is a question for the webhook door, not a rule of the platform's core, and the
//! simulator, which delivers no webhooks, has no use for it. Sources and choices are in
//! docs/server.md and docs/policy-model.md ("Onboarding and registration").

use super::query::Query;
use super::AppState;
use crate::engine::errors::ErrorCode;
use crate::engine::events::Event;
use crate::engine::ids::{BusinessId, IdMap, PhoneNumberId, WabaId};
use crate::engine::registration::{is_valid_pin, RegistrationCall};
use crate::engine::world::WorldSpec;
use crate::engine::{ObjectKind, Rejection};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The simulated app every token belongs to (`debug_token`'s `app_id`, `subscribed_apps`).
pub const APP_ID: &str = "1000000000000042";
pub const APP_NAME: &str = "wabasim";
/// Meta's limit on `override_callback_uri` (webhooks/override page).
const MAX_OVERRIDE_URI: usize = 200;

/// The onboarding endpoints (one arm of `routes::Graph`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Onboarding<'a> {
    /// `GET /debug_token?input_token=…`.
    DebugToken,
    /// `GET /{business-id}/owned_whatsapp_business_accounts`.
    OwnedWabas(&'a str),
    /// `GET /{business-id}/client_whatsapp_business_accounts`.
    ClientWabas(&'a str),
    /// `GET /{business-id}/parent-bsuid-accounts` (Meta serves it on `api.facebook.com`; the
    /// mock on its own base URL, docs/contract.md).
    ParentBsuidAccounts(&'a str),
    /// `GET /{waba-id}/subscribed_apps`.
    SubscribedApps(&'a str),
    /// `POST /{waba-id}/subscribed_apps`.
    Subscribe(&'a str),
    /// `DELETE /{waba-id}/subscribed_apps`.
    Unsubscribe(&'a str),
    /// `POST /{phone-number-id}/register`.
    Register(&'a str),
    /// `POST /{phone-number-id}/deregister`.
    Deregister(&'a str),
    /// `POST /{phone-number-id}/request_code`.
    RequestCode(&'a str),
    /// `POST /{phone-number-id}/verify_code`.
    VerifyCode(&'a str),
    /// `POST /{id}`: a phone number's two-step PIN (`{"pin"}`); other objects are not updatable.
    UpdateObject(&'a str),
}

/// One WABA's subscription of the app.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subscription {
    pub subscribed: bool,
    /// Shown by `GET subscribed_apps`; the WABA's `messages` webhooks go there when it is an
    /// `http://` URL (the outbox's override table), else to the configured URL.
    pub override_callback_uri: Option<String>,
}

/// Webhook subscriptions per WABA: an entry for each WABA of the world, so it never grows past
/// it. A WABA not in the map (none today) counts as subscribed.
#[derive(Default)]
pub struct Subscriptions {
    map: parking_lot::RwLock<IdMap<WabaId, Subscription>>,
    /// WABAs not subscribed: while zero, events pass without taking the lock.
    unsubscribed: AtomicUsize,
    /// Events not delivered because their WABA had no subscription: counted, never silent
    /// (`GET /_sim/webhooks` `not_subscribed`).
    pub dropped: std::sync::atomic::AtomicU64,
}

impl Subscriptions {
    /// Every WABA of `world`, subscribed unless its spec says `subscribed = false`.
    pub fn init(&self, world: &WorldSpec) {
        let mut map = self.map.write();
        for w in world.businesses.iter().flat_map(|b| &b.wabas) {
            map.insert(
                w.id,
                Subscription {
                    subscribed: w.subscribed,
                    override_callback_uri: None,
                },
            );
        }
        self.recount(&map);
    }

    fn recount(&self, map: &IdMap<WabaId, Subscription>) {
        let n = map.values().filter(|s| !s.subscribed).count();
        self.unsubscribed.store(n, Ordering::Release);
    }

    /// Drops the events of WABAs the app is not subscribed to: Meta sends them nothing.
    pub fn filter(&self, events: &mut Vec<Event>) {
        if self.unsubscribed.load(Ordering::Acquire) == 0 {
            return;
        }
        let map = self.map.read();
        let before = events.len();
        events.retain(|e| map.get(&e.waba).is_none_or(|s| s.subscribed));
        let dropped = (before - events.len()) as u64;
        if dropped > 0 {
            self.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
    }

    pub fn get(&self, waba: WabaId) -> Subscription {
        self.map.read().get(&waba).cloned().unwrap_or(Subscription {
            subscribed: true,
            override_callback_uri: None,
        })
    }

    fn set(&self, waba: WabaId, s: Subscription) {
        let mut map = self.map.write();
        map.insert(waba, s);
        self.recount(&map);
    }
}

/// A parameter from the JSON body, a form body, or the query string (Meta's examples use all
/// three for these endpoints).
fn param(body: &[u8], q: &Query, name: &str) -> Result<Option<String>, Rejection> {
    let trimmed = body.trim_ascii();
    if !trimmed.is_empty() {
        if trimmed.starts_with(b"{") {
            let v: Value = serde_json::from_slice(trimmed).map_err(|err| {
                Rejection::new(
                    ErrorCode::InvalidParameter,
                    format!("Request body is not valid JSON: {err}"),
                )
            })?;
            match v.get(name) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => return Ok(Some(s.clone())),
                Some(Value::Number(n)) => return Ok(Some(n.to_string())),
                Some(_) => {
                    return Err(Rejection::new(
                        ErrorCode::InvalidParameter,
                        format!("Param {name} must be a string"),
                    ))
                }
            }
        } else if let Ok(text) = std::str::from_utf8(trimmed) {
            if let Some(v) = Query::parse(Some(text)).get(name) {
                return Ok(Some(v.to_string()));
            }
        }
    }
    Ok(q.get(name).map(str::to_string))
}

fn required(body: &[u8], q: &Query, name: &str) -> Result<String, Rejection> {
    param(body, q, name)?.ok_or_else(|| {
        Rejection::new(
            ErrorCode::InvalidParameter,
            format!("The parameter {name} is required"),
        )
    })
}

fn messaging_product(body: &[u8], q: &Query) -> Result<(), Rejection> {
    match required(body, q, "messaging_product")?.as_str() {
        "whatsapp" => Ok(()),
        other => Err(Rejection::new(
            ErrorCode::InvalidParameter,
            format!("Param messaging_product must be 'whatsapp', not '{other}'"),
        )),
    }
}

fn pin(body: &[u8], q: &Query) -> Result<String, Rejection> {
    let pin = required(body, q, "pin")?;
    if !is_valid_pin(&pin) {
        return Err(Rejection::new(
            ErrorCode::InvalidParameter,
            "Param pin must be a 6-digit number",
        ));
    }
    Ok(pin)
}

fn id_of(s: &str) -> Result<u64, Rejection> {
    crate::engine::ids::parse_id(s).ok_or_else(|| Rejection::unknown_object(s))
}

fn success() -> Value {
    json!({"success": true})
}

/// Answers an onboarding endpoint for business `biz`.
pub(super) fn route(
    state: &AppState,
    now: crate::clock::SimTime,
    biz: BusinessId,
    call: Onboarding<'_>,
    q: &Query,
    body: &[u8],
) -> Result<Value, Rejection> {
    let e = &*state.engine;
    let number = |id: &str, call: RegistrationCall<'_>| {
        e.registration_call(now, biz, PhoneNumberId(id_of(id)?), call)
            .map(|()| success())
    };
    match call {
        Onboarding::DebugToken => debug_token(state, q),
        Onboarding::OwnedWabas(id) => business_wabas(state, biz, id, q, true),
        Onboarding::ClientWabas(id) => business_wabas(state, biz, id, q, false),
        Onboarding::ParentBsuidAccounts(id) => parent_bsuid_accounts(state, biz, id),
        Onboarding::SubscribedApps(id) => {
            let waba = WabaId(id_of(id)?);
            e.waba_view(biz, waba)?;
            let s = state.subscriptions.get(waba);
            let mut items = Vec::new();
            if s.subscribed {
                let mut app = json!({"whatsapp_business_api_data": {
                    "id": APP_ID,
                    "link": format!("https://www.facebook.com/games/?app_id={APP_ID}"),
                    "name": APP_NAME,
                }});
                if let Some(uri) = s.override_callback_uri {
                    app["override_callback_uri"] = json!(uri);
                }
                items.push(app);
            }
            super::paging::page(items, q)
        }
        Onboarding::Subscribe(id) => {
            let waba = WabaId(id_of(id)?);
            e.waba_view(biz, waba)?;
            let uri = param(body, q, "override_callback_uri")?.filter(|u| !u.is_empty());
            if let Some(uri) = &uri {
                let valid = uri.len() <= MAX_OVERRIDE_URI
                    && uri.parse::<hyper::Uri>().is_ok_and(|u| {
                        matches!(u.scheme_str(), Some("http" | "https"))
                            && u.host().is_some_and(|h| !h.is_empty())
                    });
                if !valid {
                    return Err(Rejection::new(
                        ErrorCode::InvalidParameter,
                        "Webhook callback URL is not reachable or invalid",
                    ));
                }
                required(body, q, "verify_token")?;
            }
            // Deliver there when the dispatcher can (http://); an https:// override is stored
            // and shown, and deliveries stay on the configured URL (no TLS client).
            if state.outbox.set_override(waba, uri.as_deref()).is_err() {
                let _ = state.outbox.set_override(waba, None);
            }
            state.subscriptions.set(
                waba,
                Subscription {
                    subscribed: true,
                    override_callback_uri: uri,
                },
            );
            Ok(success())
        }
        Onboarding::Unsubscribe(id) => {
            let waba = WabaId(id_of(id)?);
            e.waba_view(biz, waba)?;
            if !state.subscriptions.get(waba).subscribed {
                return Err(Rejection::new(
                    ErrorCode::NotSubscribed,
                    ErrorCode::NotSubscribed.default_details(),
                ));
            }
            state.subscriptions.set(waba, Subscription::default());
            let _ = state.outbox.set_override(waba, None);
            Ok(success())
        }
        Onboarding::Register(id) => {
            e.check_number(biz, PhoneNumberId(id_of(id)?))?;
            messaging_product(body, q)?;
            let pin = pin(body, q)?;
            number(id, RegistrationCall::Register { pin: &pin })
        }
        Onboarding::Deregister(id) => number(id, RegistrationCall::Deregister),
        Onboarding::RequestCode(id) => {
            e.check_number(biz, PhoneNumberId(id_of(id)?))?;
            let method = required(body, q, "code_method")?;
            // The Graph reference for `request_code` lists SMS, VOICE and IVR.
            if !matches!(method.as_str(), "SMS" | "VOICE" | "IVR") {
                return Err(Rejection::new(
                    ErrorCode::InvalidParameter,
                    format!("Param code_method must be one of {{SMS, VOICE, IVR}}, not '{method}'"),
                ));
            }
            required(body, q, "language")?;
            number(id, RegistrationCall::RequestCode)
        }
        Onboarding::VerifyCode(id) => {
            e.check_number(biz, PhoneNumberId(id_of(id)?))?;
            let code = required(body, q, "code")?;
            number(id, RegistrationCall::VerifyCode { code: &code })
        }
        Onboarding::UpdateObject(id) => {
            let raw = id_of(id)?;
            if e.kind_of(raw) != Some(ObjectKind::PhoneNumber) {
                return Err(Rejection::unknown_object(id));
            }
            e.check_number(biz, PhoneNumberId(raw))?;
            let pin = pin(body, q)?;
            number(id, RegistrationCall::SetPin { pin: &pin })
        }
    }
}

/// `GET /debug_token`: what a token is and which WABAs it may act on. An unknown token is
/// answered with `is_valid: false` and an `error` inside `data`, as Graph does.
fn debug_token(state: &AppState, q: &Query) -> Result<Value, Rejection> {
    let input = match q.get("input_token") {
        Some(t) if !t.is_empty() => t,
        _ => {
            return Err(Rejection::new(
                ErrorCode::InvalidParameter,
                "The parameter input_token is required",
            ))
        }
    };
    let e = &*state.engine;
    let Some(owner) = e.authorize(input) else {
        return Ok(json!({"data": {
            "error": {"code": 190, "message": "Invalid OAuth access token - Cannot parse access token"},
            "is_valid": false,
            "scopes": [],
        }}));
    };
    // Newest WABA first, as Meta lists the WABA shared through Embedded Signup first.
    let mut wabas: Vec<String> = e
        .business_wabas(owner)?
        .iter()
        .map(|w| w.id.to_string())
        .collect();
    wabas.reverse();
    Ok(json!({"data": {
        "app_id": APP_ID,
        "type": "SYSTEM_USER",
        "application": APP_NAME,
        "data_access_expires_at": 0,
        "expires_at": 0,
        "is_valid": true,
        "scopes": ["whatsapp_business_management", "whatsapp_business_messaging", "business_management"],
        "granular_scopes": [
            {"scope": "whatsapp_business_management", "target_ids": wabas},
            {"scope": "whatsapp_business_messaging", "target_ids": wabas},
            {"scope": "business_management", "target_ids": [owner.to_string()]},
        ],
        "user_id": format!("{}", 9_000_000_000_000_000u64 + owner.0 % 1_000_000_000_000_000),
    }}))
}

/// `GET /{business-id}`: the business portfolio node (`id`, `name`, `timezone_id`, Meta's
/// OpenAPI `getBusinessPortfolioSpecificFields`), for the business that holds the token.
pub(super) fn get_business(
    state: &AppState,
    biz: BusinessId,
    business: BusinessId,
    q: &Query,
) -> Result<Value, Rejection> {
    let Some(name) = state.engine.business_name(business) else {
        return Err(Rejection::unknown_object(&business.to_string()));
    };
    if business != biz {
        return Err(Rejection::permission(business));
    }
    let mut m = Map::new();
    m.insert("id".into(), json!(business.to_string()));
    let fields = q.get("fields").unwrap_or("id,name");
    for f in fields.split(',').map(str::trim) {
        let v = match f {
            "id" | "" => continue,
            "name" => json!(name),
            // Meta's example gives 0; a simulated business keeps simulated (UTC) time.
            "timezone_id" => json!(0),
            other => {
                return Err(Rejection::new(
                    ErrorCode::InvalidParameter,
                    format!("Tried accessing nonexisting field ({other}) on node type (Business)"),
                ))
            }
        };
        m.insert(f.to_string(), v);
    }
    Ok(Value::Object(m))
}

/// `GET /{business-id}/parent-bsuid-accounts`: the parent BSUID account the business is
/// enrolled in and every portfolio enrolled with it [M:bsuid]. A business that is not
/// enrolled gets `{"enrolled_business_portfolios":[]}` (Meta's answer for it is not published).
fn parent_bsuid_accounts(state: &AppState, biz: BusinessId, id: &str) -> Result<Value, Rejection> {
    let business = BusinessId(id_of(id)?);
    let dir = state.engine.directory();
    if dir.business(business).is_none() {
        return Err(Rejection::unknown_object(id));
    }
    if business != biz {
        return Err(Rejection::permission(business));
    }
    Ok(match dir.parent_account(business) {
        Some((account, enrolled)) => json!({
            "parent_bsuid_account_id": account.to_string(),
            "enrolled_business_portfolios":
                enrolled.iter().map(|b| b.to_string()).collect::<Vec<_>>(),
        }),
        None => json!({ "enrolled_business_portfolios": [] }),
    })
}

const WABA_DEFAULT: &[&str] = &["id", "name", "timezone_id", "message_template_namespace"];

/// `GET /{business-id}/owned_whatsapp_business_accounts` (the business's own WABAs) and
/// `client_whatsapp_business_accounts` (WABAs other businesses shared with it: none in a
/// simulated world, where every WABA belongs to the business that holds the token).
fn business_wabas(
    state: &AppState,
    biz: BusinessId,
    id: &str,
    q: &Query,
    owned: bool,
) -> Result<Value, Rejection> {
    let e = &*state.engine;
    let business = BusinessId(id_of(id)?);
    if e.directory().business(business).is_none() {
        return Err(Rejection::unknown_object(id));
    }
    if business != biz {
        return Err(Rejection::new(
            ErrorCode::PermissionError,
            format!("The access token does not have permission on object {id}: it belongs to another business portfolio."),
        ));
    }
    let fields: Vec<&str> = match q.get("fields") {
        Some(f) if !f.trim().is_empty() => f.split(',').map(str::trim).collect(),
        _ => WABA_DEFAULT.to_vec(),
    };
    let mut items = Vec::new();
    if owned {
        for w in e.business_wabas(business)? {
            let mut m = Map::new();
            for f in &fields {
                let v = match *f {
                    "id" => json!(w.id.to_string()),
                    "name" => json!(w.name),
                    "currency" => json!(w.currency),
                    "timezone_id" => json!("1"),
                    "message_template_namespace" => json!(format!("wabasim_{}", w.id)),
                    "owner_business_info" => {
                        json!({"id": business.to_string()})
                    }
                    "" => continue,
                    other => {
                        return Err(Rejection::new(
                            ErrorCode::InvalidParameter,
                            format!("Tried accessing nonexisting field ({other}) on node type (WhatsAppBusinessAccount)"),
                        ))
                    }
                };
                m.insert(f.to_string(), v);
            }
            m.entry("id").or_insert_with(|| json!(w.id.to_string()));
            items.push(Value::Object(m));
        }
    }
    super::paging::page(items, q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::events::EventBody;

    fn event(waba: u64) -> Event {
        Event {
            at: Default::default(),
            waba: WabaId(waba),
            body: EventBody::BusinessCapability {
                limit: crate::engine::world::MessagingLimitTier::default(),
                max_phone_numbers: 2,
            },
        }
    }

    #[test]
    fn unsubscribed_wabas_lose_their_events() {
        let subs = Subscriptions::default();
        let mut evs = vec![event(1), event(2)];
        subs.filter(&mut evs);
        assert_eq!(evs.len(), 2, "no entry: subscribed");
        subs.set(WabaId(2), Subscription::default());
        subs.filter(&mut evs);
        assert_eq!(evs.iter().map(|e| e.waba.0).collect::<Vec<_>>(), [1]);
        subs.set(
            WabaId(2),
            Subscription {
                subscribed: true,
                override_callback_uri: None,
            },
        );
        assert_eq!(subs.unsubscribed.load(Ordering::Acquire), 0);
    }
}
