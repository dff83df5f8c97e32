//! The Marketing Messages API over HTTP: `POST /{phone}/marketing_messages` (templates only,
//! marketing only, `product_policy`), onboarding (`onboard_partners_to_mm_lite`, the
//! `MM_LITE_TERMS_SIGNED` webhook, `marketing_messages_onboarding_status`) and the
//! `marketing_lite` pricing of the status webhooks.

use crate::common::*;
use crate::pricing_server::{receiver, wait_for_delivered};
use serde_json::{json, Value};

const BUSINESS: &str = "100000000000001";
const OTHER: &str = "6281300000002";

fn promo(to: &str, policy: Option<&str>) -> Value {
    let mut m = template_msg(
        to,
        "promo_diskon",
        "id",
        json!([{"type": "body", "parameters": [{"type": "text", "text": "Ayu"}]}]),
    );
    if let Some(p) = policy {
        m["product_policy"] = json!(p);
    }
    m["message_activity_sharing"] = json!(true);
    m
}

async fn mm(s: &TestServer, body: &Value) -> Resp {
    s.post(&format!("/v23.0/{PHONE}/marketing_messages"), body)
        .await
}

async fn status(s: &TestServer) -> Value {
    s.get(&format!(
        "/v23.0/{WABA}?fields=marketing_messages_onboarding_status"
    ))
    .await
    .ok()["marketing_messages_onboarding_status"]
        .clone()
}

#[tokio::test]
async fn marketing_messages_refuse_what_is_not_marketing_then_send_as_marketing_lite() {
    let (rx, url) = receiver().await;
    let s = start_scenario(&format!(
        r#"
start_unix = 1768478400
[webhooks]
url = "{url}"
api_version = "v23.0"
[audience]
not_on_whatsapp_ratio = 0.0
[pricing]
model = "pmp-2025-07"
card = "pmp-2026-01"
"#
    ))
    .await;
    // Not a template: 100 with Meta's words.
    let r = mm(&s, &text_msg(USER, "halo")).await;
    let e = assert_graph_error(&r, 400, 100);
    assert_eq!(details(&e), "Message must be a template message.");
    // A utility template: 131055.
    let r = mm(&s, &hello_world(USER)).await;
    assert_graph_error(&r, 400, 131055);
    // A bad product_policy names the field.
    let r = mm(&s, &promo(USER, Some("SOMETIMES"))).await;
    let e = assert_graph_error(&r, 400, 131009);
    assert!(details(&e).contains("product_policy"), "{e}");

    // Not onboarded: STRICT refused, the default falls back to the Cloud API.
    assert_eq!(status(&s).await, "ELIGIBLE");
    let r = mm(&s, &promo(USER, Some("STRICT"))).await;
    let e = assert_graph_error(&r, 400, 131055);
    assert!(details(&e).contains("terms"), "{e}");
    let v = mm(&s, &promo(USER, None)).await.ok();
    assert_eq!(v["messages"][0]["message_status"], "accepted");
    assert_eq!(v["contacts"][0]["wa_id"], USER);
    // /messages answers template sends the same way (template pacing's `message_status`).
    let v = s.send(&hello_world(OTHER)).await.ok();
    assert_eq!(v["messages"][0]["message_status"], "accepted", "{v}");

    // Onboarding: a request id, once; the status flips.
    let path = format!("/v23.0/{BUSINESS}/onboard_partners_to_mm_lite");
    let v = s.post(&path, &json!({})).await.ok();
    assert_eq!(v["request_id"].as_str().unwrap().len(), 15);
    assert_graph_error(&s.post(&path, &json!({})).await, 400, 1752041);
    assert_graph_error(
        &s.post(
            &format!("/v23.0/{WABA}/onboard_partners_to_mm_lite"),
            &json!({}),
        )
        .await,
        400,
        100,
    );
    assert_eq!(status(&s).await, "ONBOARDED");
    let v = mm(&s, &promo(OTHER, Some("STRICT"))).await.ok();
    assert_eq!(v["messages"][0]["message_status"], "accepted");

    s.advance(5.0).await;
    let delivered = wait_for_delivered(&rx, 3).await;
    let pricing: Vec<Value> = delivered.iter().map(|d| d["pricing"].clone()).collect();
    // The fallback is plain marketing; the onboarded send is marketing_lite without `type`.
    assert!(
        pricing.contains(&json!({"billable": true, "pricing_model": "PMP",
        "type": "regular", "category": "marketing"}))
    );
    assert!(
        pricing.contains(&json!({"billable": true, "pricing_model": "PMP",
        "category": "marketing_lite"}))
    );
    let lite = delivered
        .iter()
        .find(|d| d["pricing"]["category"] == "marketing_lite")
        .unwrap();
    assert_eq!(lite["conversation"]["origin"]["type"], "marketing_lite");
    // The terms webhook, per WABA.
    let bodies = rx.bodies.lock().clone();
    let signed: Vec<&Value> = bodies
        .iter()
        .flat_map(|b| b["entry"].as_array().unwrap().iter())
        .flat_map(|e| e["changes"].as_array().unwrap().iter())
        .filter(|c| c["field"] == "account_update")
        .collect();
    assert_eq!(signed.len(), 1, "{signed:?}");
    assert_eq!(
        signed[0]["value"],
        json!({"event": "MM_LITE_TERMS_SIGNED",
               "waba_info": {"owner_business_id": BUSINESS, "waba_id": WABA}})
    );
    // The ledger prices both at the marketing rate.
    let ledger = s.sim_get("ledger?since=0&limit=100").await.ok();
    let amounts: Vec<(&str, &str)> = ledger["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["category"].as_str().unwrap().starts_with("marketing"))
        .map(|l| {
            (
                l["category"].as_str().unwrap(),
                l["amount"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(amounts.len(), 2, "{amounts:?}");
    assert_eq!(amounts[0].1, amounts[1].1);
}

#[tokio::test]
async fn marketing_disabled_on_the_cloud_api_refuses_marketing_on_messages_only() {
    let s = start_scenario(
        r#"
[[businesses]]
id = "100000000000001"
name = "Toko"
tokens = ["wabasim-dev-token"]
[[businesses.wabas]]
id = "102290129340398"
marketing_messages_onboarded = true
disable_marketing_messages_on_cloud_api = true
[[businesses.wabas.phone_numbers]]
id = "106540352242922"
display_phone_number = "+62 812-0000-0001"
verified_name = "Toko"
[[businesses.wabas.templates]]
name = "promo_diskon"
language = "id"
category = "MARKETING"
body = "Halo {{1}}!"
[[businesses.wabas.templates]]
name = "hello_world"
language = "en_US"
category = "UTILITY"
body = "Hello"
"#,
    )
    .await;
    assert_graph_error(&s.send(&promo(USER, None)).await, 400, 131063);
    s.send(&hello_world(USER)).await.ok();
    mm(&s, &promo(USER, None)).await.ok();
    assert_eq!(status(&s).await, "ONBOARDED");
}
