//! The Block Users API (`POST|DELETE|GET /{phone-number-id}/block_users`), as Meta documents it
//! (docs/server.md, "Block Users"): each user blocked or refused on its own; a request where
//! some fail answers the lists **and** the 139100 error in one body.

use super::errors::Failure;
use super::{paging, with_effects, Ctx, Resp};
use crate::clock::SimTime;
use crate::engine::blocking::{UserOutcome, MAX_PER_REQUEST};
use crate::engine::errors::ErrorCode;
use crate::engine::ids::{BusinessId, PhoneNumberId, WaId};
use crate::engine::Rejection;
use serde_json::{json, Map, Value};

fn bad(details: impl Into<String>) -> Rejection {
    Rejection::new(ErrorCode::InvalidParameter, details)
}

fn phone(id: &str) -> Result<PhoneNumberId, Rejection> {
    id.parse().map_err(|_| Rejection::unknown_object(id))
}

/// One entry of `block_users`: its input as given and the user it names, or why it names none.
struct Item {
    input: String,
    user: Result<WaId, Rejection>,
    /// Named by business-scoped user id: answered with `user_id`, not `wa_id`.
    by_user_id: bool,
}

/// Reads `{"messaging_product":"whatsapp","block_users":[{"user":"+16505551234"}, …]}`;
/// `resolve` turns a `user_id` (BSUID) into its user.
fn items(
    body: &[u8],
    resolve: impl Fn(&str) -> Result<WaId, Rejection>,
) -> Result<Vec<Item>, Rejection> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("Request body is not valid JSON: {e}")))?;
    let Value::Object(m) = v else {
        return Err(bad("Request body must be a JSON object."));
    };
    match m.get("messaging_product").and_then(Value::as_str) {
        Some("whatsapp") => {}
        _ => return Err(bad("messaging_product: must be \"whatsapp\"")),
    }
    let Some(list) = m.get("block_users").and_then(Value::as_array) else {
        return Err(bad(
            "block_users: required, a list of {\"user\": phone number}",
        ));
    };
    if list.len() > MAX_PER_REQUEST {
        return Err(bad(format!(
            "block_users: at most {MAX_PER_REQUEST} users per request, got {}",
            list.len()
        )));
    }
    Ok(list.iter().map(|v| item(v, &resolve)).collect())
}

fn item(v: &Value, resolve: &impl Fn(&str) -> Result<WaId, Rejection>) -> Item {
    // `user` wins when both are given (Meta's Block Users page).
    if let Some(u) = v.get("user").and_then(Value::as_str) {
        return Item {
            input: u.to_string(),
            user: WaId::parse_lenient(u)
                .ok_or_else(|| bad(format!("user: '{u}' is not a phone number"))),
            by_user_id: false,
        };
    }
    if let Some(u) = v.get("user_id").and_then(Value::as_str) {
        return Item {
            input: u.to_string(),
            user: resolve(u),
            by_user_id: true,
        };
    }
    Item {
        input: v.to_string(),
        user: Err(bad(
            "each block_users entry needs `user` (a phone number) or `user_id` (a BSUID)",
        )),
        by_user_id: false,
    }
}

/// `POST` (block) or `DELETE` (unblock) `/{phone-number-id}/block_users`.
pub(super) fn change(
    ctx: &Ctx<'_>,
    now: SimTime,
    biz: BusinessId,
    id: &str,
    body: &[u8],
    block: bool,
) -> Result<Resp, Failure> {
    let e = &*ctx.state.engine;
    let p = phone(id)?;
    e.check_number(biz, p)?;
    let items = items(body, |text| e.resolve_user_id(biz, p, text))?;
    let users: Vec<WaId> = items.iter().filter_map(|i| i.user.clone().ok()).collect();
    let outcomes: Vec<UserOutcome> = with_effects(|fx| {
        let r = if block {
            e.block_users(now, biz, p, &users, fx)
        } else {
            e.unblock_users(now, biz, p, &users, fx)
        };
        ctx.state.commit(fx);
        r
    })?;
    let mut outcomes = outcomes.into_iter();
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    for it in &items {
        let result = match &it.user {
            Ok(_) => outcomes.next().unwrap_or_else(|| {
                Err((
                    WaId(0),
                    Rejection::new(ErrorCode::ApiUnknown, "lost outcome"),
                ))
            }),
            Err(rej) => Err((WaId(0), rej.clone())),
        };
        match result {
            Ok(_) if it.by_user_id => done.push(json!({"input": it.input, "user_id": it.input})),
            Ok(user) => done.push(json!({"input": it.input, "wa_id": user.to_string()})),
            Err((user, rej)) => {
                let mut f = Map::new();
                f.insert("input".into(), json!(it.input));
                if it.by_user_id && it.user.is_ok() {
                    f.insert("user_id".into(), json!(it.input));
                } else if user.0 != 0 {
                    f.insert("wa_id".into(), json!(user.to_string()));
                }
                f.insert(
                    "errors".into(),
                    json!([{
                        "message": rej.code.title(),
                        "code": rej.code.code(),
                        "error_data": {"details": rej.details},
                    }]),
                );
                failed.push(Value::Object(f));
            }
        }
    }
    let key = if block {
        "added_users"
    } else {
        "removed_users"
    };
    let mut lists = Map::new();
    lists.insert(key.into(), Value::Array(done));
    if failed.is_empty() {
        return Ok(ctx.ok(&json!({"messaging_product": "whatsapp", "block_users": lists})));
    }
    lists.insert("failed_users".into(), Value::Array(failed));
    let rej = Rejection::new(
        ErrorCode::BlockUsersFailed,
        ErrorCode::BlockUsersFailed.default_details(),
    );
    Ok(ctx.fail_with(
        &rej,
        json!({"messaging_product": "whatsapp", "block_users": lists}),
    ))
}

/// `GET /{phone-number-id}/block_users`: the number's block list, paged.
pub(super) fn list(
    ctx: &Ctx<'_>,
    biz: BusinessId,
    id: &str,
    q: &super::query::Query,
) -> Result<Value, Rejection> {
    let p = phone(id)?;
    let users = ctx.state.engine.blocked_users(biz, p)?;
    let items = users
        .into_iter()
        .map(|u| json!({"messaging_product": "whatsapp", "wa_id": u.to_string()}))
        .collect();
    paging::page(items, q)
}
