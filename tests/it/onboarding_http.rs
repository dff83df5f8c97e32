//! Embedded Signup end to end over HTTP, as a partner walks it: `debug_token` → the business's
//! WABAs → `phone_numbers` (following `paging.next` as returned, first page with an empty
//! `after=`) → `subscribed_apps` → `request_code` → `verify_code` → PIN → `register` → send →
//! `deregister`; and a WABA without a subscription gets no webhooks.

use crate::common::*;
use hyper::Method;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::time::Duration;

const TOK: &str = "es-partner-token";
/// Another business of the same world.
const OTHER: &str = "other-business-token";
const OTHER_BIZ: &str = "300000000000002";
const BIZ: &str = "300000000000001";
/// Declared first: subscribed, one registered number.
const WABA_OLD: &str = "300000000000010";
const OLD_PHONE: &str = "300000000000011";
/// Declared last (the WABA just shared): not subscribed; a registered number and one just
/// added, neither registered nor verified.
const WABA_NEW: &str = "300000000000020";
const READY_PHONE: &str = "300000000000021";
const NEW_PHONE: &str = "300000000000022";

fn scenario() -> String {
    let template = r#"
[[businesses.wabas.templates]]
name = "hello_world"
language = "en_US"
category = "UTILITY"
body = "Welcome!"
"#;
    format!(
        r#"
name = "embedded-signup"
seed = 7

[[businesses]]
id = "{BIZ}"
name = "Signup Shop"
tokens = ["{TOK}"]

[[businesses.wabas]]
id = "{WABA_OLD}"
name = "Old WABA"

[[businesses.wabas.phone_numbers]]
id = "{OLD_PHONE}"
display_phone_number = "+62 812-0000-0101"
verified_name = "Signup Shop"
{template}
[[businesses.wabas]]
id = "{WABA_NEW}"
name = "New WABA"
subscribed = false

[[businesses.wabas.phone_numbers]]
id = "{READY_PHONE}"
display_phone_number = "+62 812-0000-0102"
verified_name = "Signup Shop"

[[businesses.wabas.phone_numbers]]
id = "{NEW_PHONE}"
display_phone_number = "+62 812-0000-0103"
verified_name = "Signup Shop"
registered = false
code_verified = false
{template}
[[businesses]]
id = "{OTHER_BIZ}"
name = "Other Shop"
tokens = ["{OTHER}"]

[[businesses.wabas]]
id = "300000000000030"
name = "Other WABA"
"#
    )
}

async fn get(s: &TestServer, path: &str) -> Resp {
    s.request(Method::GET, path, Some(TOK), None).await
}

async fn post(s: &TestServer, path: &str, body: Value) -> Resp {
    s.request(
        Method::POST,
        path,
        Some(TOK),
        Some(serde_json::to_vec(&body).unwrap()),
    )
    .await
}

async fn send_from(s: &TestServer, phone: &str) -> Resp {
    post(
        s,
        &format!("/v23.0/{phone}/messages"),
        hello_world(USER).clone(),
    )
    .await
}

/// Every item of a list, following `paging.next` exactly as returned (absolute URLs on the
/// server's own base).
async fn all_pages(s: &TestServer, first: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut path = first.to_string();
    for _ in 0..20 {
        let v = get(s, &path).await.ok();
        out.extend(v["data"].as_array().unwrap().iter().cloned());
        let Some(next) = v["paging"]["next"].as_str() else {
            return out;
        };
        path = next
            .strip_prefix(&s.base)
            .unwrap_or_else(|| panic!("next {next} is not on {}", s.base))
            .to_string();
    }
    panic!("more than 20 pages")
}

/// The WABA ids (`entry[].id`) of the webhooks received so far.
fn webhook_wabas(got: &Mutex<Vec<Value>>) -> Vec<String> {
    got.lock()
        .iter()
        .flat_map(|b| b["entry"].as_array().cloned().unwrap_or_default())
        .map(|e| e["id"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Waits (up to 10 s) until a webhook for `waba` arrived.
async fn wait_for_webhook(got: &Mutex<Vec<Value>>, waba: &str) {
    for _ in 0..200 {
        if webhook_wabas(got).iter().any(|w| w == waba) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no webhook for {waba}; got {:?}", webhook_wabas(got));
}

#[tokio::test]
async fn embedded_signup_end_to_end() {
    let s = start_scenario(&scenario()).await;

    // 1. The token: valid, and the WABA just shared comes first.
    let d = get(&s, &format!("/v23.0/debug_token?input_token={TOK}"))
        .await
        .ok();
    let data = &d["data"];
    assert_eq!(data["is_valid"], true);
    assert!(data["app_id"].is_string() && data["type"].is_string());
    let targets = &data["granular_scopes"][0]["target_ids"];
    assert_eq!(
        data["granular_scopes"][0]["scope"],
        "whatsapp_business_management"
    );
    assert_eq!(targets, &json!([WABA_NEW, WABA_OLD]));
    let bad = get(&s, "/v23.0/debug_token?input_token=nope").await.ok();
    assert_eq!(bad["data"]["is_valid"], false);
    assert_eq!(bad["data"]["error"]["code"], 190);
    let missing = get(&s, "/v23.0/debug_token").await;
    assert_graph_error(&missing, 400, 100);

    // 2. The business's WABAs, one per page, following `next`.
    let owned = all_pages(
        &s,
        &format!("/v23.0/{BIZ}/owned_whatsapp_business_accounts?limit=1&after="),
    )
    .await;
    let ids: Vec<&str> = owned.iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [WABA_OLD, WABA_NEW]);
    assert_eq!(owned[1]["name"], "New WABA");
    let client = get(
        &s,
        &format!("/v23.0/{BIZ}/client_whatsapp_business_accounts"),
    )
    .await
    .ok();
    assert_eq!(client["data"], json!([]));
    // Another business's id: permission error; an unknown one: 100/33.
    let foreign = s
        .request(
            Method::GET,
            &format!("/v23.0/{BIZ}/owned_whatsapp_business_accounts"),
            Some(OTHER),
            None,
        )
        .await;
    assert_graph_error(&foreign, 403, 200);
    assert_graph_error(
        &get(&s, "/v23.0/999999999/owned_whatsapp_business_accounts").await,
        400,
        100,
    );

    // 3. Its numbers, paged with an empty `after=` as client libraries send it.
    let numbers = all_pages(
        &s,
        &format!(
            "/v23.0/{WABA_NEW}/phone_numbers?fields=id,code_verification_status&limit=1&after="
        ),
    )
    .await;
    assert_eq!(numbers.len(), 2);
    assert_eq!(numbers[1]["id"], NEW_PHONE);
    assert_eq!(numbers[1]["code_verification_status"], "NOT_VERIFIED");
    assert_eq!(numbers[0]["code_verification_status"], "VERIFIED");
    let counted = get(
        &s,
        &format!("/v23.0/{WABA_NEW}/phone_numbers?summary=total_count&limit=1"),
    )
    .await
    .ok();
    assert_eq!(counted["summary"]["total_count"], 2);

    // Not registered: sends are refused with 133010.
    assert_graph_error(&send_from(&s, NEW_PHONE).await, 400, 133010);

    // 4. Subscribe the app to the WABA's webhooks.
    let apps = get(&s, &format!("/v23.0/{WABA_NEW}/subscribed_apps"))
        .await
        .ok();
    assert_eq!(apps["data"], json!([]));
    let sub = post(&s, &format!("/v23.0/{WABA_NEW}/subscribed_apps"), json!({})).await;
    assert_eq!(sub.ok(), json!({"success": true}));
    let apps = get(&s, &format!("/v23.0/{WABA_NEW}/subscribed_apps"))
        .await
        .ok();
    assert_eq!(
        apps["data"][0]["whatsapp_business_api_data"]["id"],
        data["app_id"]
    );
    assert!(apps["data"][0].get("override_callback_uri").is_none());
    let over = post(
        &s,
        &format!("/v23.0/{WABA_NEW}/subscribed_apps"),
        json!({"override_callback_uri": "https://alt.example.com/webhook", "verify_token": "v"}),
    )
    .await;
    assert_eq!(over.ok(), json!({"success": true}));
    let apps = get(&s, &format!("/v23.0/{WABA_NEW}/subscribed_apps"))
        .await
        .ok();
    assert_eq!(
        apps["data"][0]["override_callback_uri"],
        "https://alt.example.com/webhook"
    );
    let bad_uri = post(
        &s,
        &format!("/v23.0/{WABA_NEW}/subscribed_apps"),
        json!({"override_callback_uri": "not a url", "verify_token": "v"}),
    )
    .await;
    assert_graph_error(&bad_uri, 400, 100);

    // 5. Verify the number: register first is refused (133006), a wrong code too.
    let reg = |pin: &str| json!({"messaging_product": "whatsapp", "pin": pin});
    let early = post(&s, &format!("/v23.0/{NEW_PHONE}/register"), reg("654321")).await;
    assert_graph_error(&early, 400, 133006);
    let bad_method = post(
        &s,
        &format!("/v23.0/{NEW_PHONE}/request_code"),
        json!({"code_method": "FAX", "language": "en_US"}),
    )
    .await;
    assert_graph_error(&bad_method, 400, 100);
    let req = post(
        &s,
        &format!("/v23.0/{NEW_PHONE}/request_code"),
        json!({"code_method": "SMS", "language": "en_US"}),
    )
    .await;
    assert_eq!(req.ok(), json!({"success": true}));
    let wrong = post(
        &s,
        &format!("/v23.0/{NEW_PHONE}/verify_code"),
        json!({"code": "000000"}),
    )
    .await;
    assert_graph_error(&wrong, 400, 100);
    let ok = post(
        &s,
        &format!("/v23.0/{NEW_PHONE}/verify_code"),
        json!({"code": "123456"}),
    )
    .await;
    assert_eq!(ok.ok(), json!({"success": true}));
    let v = get(
        &s,
        &format!("/v23.0/{NEW_PHONE}?fields=code_verification_status,is_pin_enabled"),
    )
    .await
    .ok();
    assert_eq!(v["code_verification_status"], "VERIFIED");
    assert_eq!(v["is_pin_enabled"], false);

    // 6. Two-step PIN, then register: malformed and wrong PINs are refused.
    let malformed = post(&s, &format!("/v23.0/{NEW_PHONE}"), json!({"pin": "12ab56"})).await;
    assert_graph_error(&malformed, 400, 100);
    let set = post(&s, &format!("/v23.0/{NEW_PHONE}"), json!({"pin": "654321"})).await;
    assert_eq!(set.ok(), json!({"success": true}));
    let short = post(&s, &format!("/v23.0/{NEW_PHONE}/register"), reg("123")).await;
    assert_graph_error(&short, 400, 100);
    let no_product = post(
        &s,
        &format!("/v23.0/{NEW_PHONE}/register"),
        json!({"pin": "654321"}),
    )
    .await;
    assert_graph_error(&no_product, 400, 100);
    let wrong_pin = post(&s, &format!("/v23.0/{NEW_PHONE}/register"), reg("111111")).await;
    let e = assert_graph_error(&wrong_pin, 400, 133005);
    assert!(e["message"].as_str().unwrap().starts_with("(#133005)"));
    assert_graph_error(&send_from(&s, NEW_PHONE).await, 400, 133010);
    let r = post(&s, &format!("/v23.0/{NEW_PHONE}/register"), reg("654321")).await;
    assert_eq!(r.ok(), json!({"success": true}));

    // 7. Registered: the send is accepted. Deregistered: refused again.
    send_from(&s, NEW_PHONE).await.ok();
    let d = s
        .request(
            Method::POST,
            &format!("/v23.0/{NEW_PHONE}/deregister"),
            Some(TOK),
            None,
        )
        .await;
    assert_eq!(d.ok(), json!({"success": true}));
    assert_graph_error(&send_from(&s, NEW_PHONE).await, 400, 133010);
    let again = s
        .request(
            Method::POST,
            &format!("/v23.0/{NEW_PHONE}/deregister"),
            Some(TOK),
            None,
        )
        .await;
    let e = assert_graph_error(&again, 400, 100);
    assert_eq!(e["error_subcode"], 2207051);

    // 8. Unsubscribe; a second DELETE is 803.
    let del = s
        .request(
            Method::DELETE,
            &format!("/v23.0/{WABA_NEW}/subscribed_apps"),
            Some(TOK),
            None,
        )
        .await;
    assert_eq!(del.ok(), json!({"success": true}));
    let del2 = s
        .request(
            Method::DELETE,
            &format!("/v23.0/{WABA_NEW}/subscribed_apps"),
            Some(TOK),
            None,
        )
        .await;
    assert_graph_error(&del2, 404, 803);
    // Another business's token cannot touch this WABA.
    let foreign = s
        .request(
            Method::POST,
            &format!("/v23.0/{WABA_NEW}/subscribed_apps"),
            Some(OTHER),
            Some(b"{}".to_vec()),
        )
        .await;
    assert_graph_error(&foreign, 403, 200);
}

/// A WABA the app is not subscribed to gets no webhooks; once subscribed it does.
#[tokio::test]
async fn a_waba_without_subscription_gets_no_webhooks() {
    let (s, got) = start_with_webhooks(Some(&scenario())).await;
    // Both WABAs send; only the subscribed one's statuses arrive.
    send_from(&s, READY_PHONE).await.ok();
    send_from(&s, OLD_PHONE).await.ok();
    s.advance(5.0).await;
    wait_for_webhook(&got, WABA_OLD).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !webhook_wabas(&got).iter().any(|w| w == WABA_NEW),
        "{:?}",
        webhook_wabas(&got)
    );
    // Not delivered, but counted: no silent loss.
    let w = s.sim_get("webhooks").await.ok();
    assert!(w["not_subscribed"].as_u64().unwrap() >= 1, "{w}");
    // Subscribed: its webhooks are delivered.
    post(&s, &format!("/v23.0/{WABA_NEW}/subscribed_apps"), json!({}))
        .await
        .ok();
    send_from(&s, READY_PHONE).await.ok();
    s.advance(5.0).await;
    wait_for_webhook(&got, WABA_NEW).await;
}

/// `override_callback_uri` sends the WABA's `messages` webhooks to that URL; posting again
/// without it sends them back to the configured URL.
#[tokio::test]
async fn override_callback_uri_routes_the_wabas_webhooks() {
    let (main, url) = receiver().await;
    let (alt, alt_url) = receiver().await;
    let s = start_server(
        Some(&scenario()),
        &[
            "--webhook-url",
            &url,
            "--verify-token",
            "v",
            "--app-secret",
            "x",
        ],
    )
    .await;
    let apps = format!("/v23.0/{WABA_NEW}/subscribed_apps");
    // The override needs its verify token.
    let no_token = post(&s, &apps, json!({"override_callback_uri": alt_url})).await;
    assert_graph_error(&no_token, 400, 100);
    post(
        &s,
        &apps,
        json!({"override_callback_uri": alt_url, "verify_token": "v"}),
    )
    .await
    .ok();
    send_from(&s, READY_PHONE).await.ok();
    send_from(&s, OLD_PHONE).await.ok();
    s.advance(5.0).await;
    wait_for_webhook(&alt, WABA_NEW).await;
    wait_for_webhook(&main, WABA_OLD).await;
    assert!(!webhook_wabas(&main).iter().any(|w| w == WABA_NEW));
    assert!(!webhook_wabas(&alt).iter().any(|w| w == WABA_OLD));

    // Subscribing again without a body removes the override.
    post(&s, &apps, json!({})).await.ok();
    let v = get(&s, &apps).await.ok();
    assert!(v["data"][0].get("override_callback_uri").is_none());
    send_from(&s, READY_PHONE).await.ok();
    s.advance(5.0).await;
    wait_for_webhook(&main, WABA_NEW).await;
}
