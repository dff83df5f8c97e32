//! Call counting over HTTP: the `whatsapp` entries of `X-Business-Use-Case-Usage` on messaging
//! routes, `X-App-Usage` on `GET /{business-id}`, the app limit (code 4) and the business-level
//! WABA edges' limit (80008). See `src/server/usage.rs`.

use crate::common::*;
use hyper::Method;
use serde_json::{json, Value};

const BUSINESS: &str = "100000000000001";

fn usage(r: &Resp) -> Value {
    let h = r
        .headers
        .get("x-business-use-case-usage")
        .unwrap_or_else(|| panic!("no usage header: {}", r.text()));
    serde_json::from_str(h.to_str().unwrap()).unwrap()
}

/// What a BSP throttler does with the header: the highest `call_count` of the WABA's entries.
fn throttler_reading(r: &Resp, waba: &str) -> u64 {
    usage(r)[waba]
        .as_array()
        .expect("an array per WABA")
        .iter()
        .map(|e| e["call_count"].as_u64().unwrap())
        .max()
        .unwrap()
}

#[tokio::test]
async fn sends_count_as_whatsapp_and_the_app_limit_refuses_with_code_4() {
    let s = start_server(None, &["--app-calls-per-hour", "5"]).await;
    // A throttler reading the header after each send sees the count rise.
    let mut seen = Vec::new();
    for _ in 0..2 {
        let r = s.send(&hello_world(USER)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let u = usage(&r);
        assert_eq!(u[WABA].as_array().unwrap().len(), 1, "{u}");
        assert_eq!(u[WABA][0]["type"], "whatsapp");
        assert_eq!(u[WABA][0]["total_time"], u[WABA][0]["call_count"]);
        assert_eq!(u[WABA][0]["estimated_time_to_regain_access"], 0);
        seen.push(throttler_reading(&r, WABA));
        // Sends carry no X-App-Usage (Meta's spec gives it to GET /{business-id} only).
        assert!(r.headers.get("x-app-usage").is_none());
    }
    assert_eq!(seen, [20, 40]);
    // A management call: both use cases of the WABA in one array.
    let r = s
        .get(&format!("/v23.0/{WABA}/message_templates?limit=1"))
        .await;
    assert_eq!(r.status, 200);
    let u = usage(&r);
    assert_eq!(u[WABA][0]["type"], "whatsapp_business_management");
    assert_eq!(u[WABA][1]["type"], "whatsapp");
    assert_eq!(u[WABA][1]["call_count"], 40);
    // GET /{business-id}: the portfolio node, with the app's usage (4 calls of 5 = 80%).
    let r = s.get(&format!("/v23.0/{BUSINESS}?fields=id,name")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["id"], BUSINESS);
    assert!(r.json()["name"].is_string());
    let app: Value = serde_json::from_str(r.headers["x-app-usage"].to_str().unwrap()).unwrap();
    assert_eq!(
        app,
        json!({"call_count": 80, "total_cputime": 80, "total_time": 80})
    );
    assert!(r.headers.get("x-business-use-case-usage").is_none());
    // The fifth call fits, the sixth is past the app's budget: code 4, 429, Meta's subcode.
    assert_eq!(s.get(&format!("/v23.0/{PHONE}")).await.status, 200);
    let r = s.send(&hello_world(USER)).await;
    let e = assert_graph_error(&r, 429, 4);
    assert_eq!(e["error_subcode"], 2446079);
    assert_eq!(e["is_transient"], true);
    // An hour of simulated time later the app has room again.
    s.advance(3600.0).await;
    let r = s.send(&hello_world(USER)).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn under_the_default_budget_nothing_is_refused_and_zero_turns_it_off() {
    let s = start_default().await;
    for _ in 0..20 {
        let r = s.send(&hello_world(USER)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        // 20 calls of the default 3,600,000 round down to 0 percent.
        assert_eq!(usage(&r)[WABA][0]["call_count"], 0);
    }
    // Template and block-list calls count as `whatsapp` too; the number node does not.
    let list = s
        .get(&format!("/v23.0/{WABA}/message_templates"))
        .await
        .json();
    let template = list["data"][0]["id"].as_str().unwrap().to_string();
    let r = s.get(&format!("/v23.0/{template}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(usage(&r)[WABA][1]["type"], "whatsapp");
    let r = s.get(&format!("/v23.0/{PHONE}/block_users")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(usage(&r)[WABA][1]["type"], "whatsapp");
    let r = s.get(&format!("/v23.0/{PHONE}")).await;
    assert!(r.headers.get("x-business-use-case-usage").is_none());

    let off = start_server(None, &["--app-calls-per-hour", "0"]).await;
    for _ in 0..3 {
        let r = off.send(&hello_world(USER)).await;
        assert_eq!(r.status, 200);
        assert!(r.headers.get("x-business-use-case-usage").is_none());
    }
    let r = off.get(&format!("/v23.0/{BUSINESS}")).await;
    assert_eq!(r.status, 200);
    assert!(r.headers.get("x-app-usage").is_none());
}

#[tokio::test]
async fn business_level_waba_edges_have_their_own_budget_and_refuse_with_80008() {
    let s = start_server(None, &["--waba-calls-per-hour", "2"]).await;
    let edge = format!("/v23.0/{BUSINESS}/owned_whatsapp_business_accounts");
    for pct in [50, 100] {
        let r = s.get(&edge).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let u = usage(&r);
        assert_eq!(u[BUSINESS][0]["type"], "whatsapp_business_management");
        assert_eq!(u[BUSINESS][0]["call_count"], pct);
    }
    let r = s
        .get(&format!(
            "/v23.0/{BUSINESS}/client_whatsapp_business_accounts"
        ))
        .await;
    assert_graph_error(&r, 429, 80008);
    assert_eq!(
        usage(&r)[BUSINESS][0]["estimated_time_to_regain_access"],
        60
    );
    // The WABA's own management budget is untouched.
    let r = s
        .request(Method::GET, &format!("/v23.0/{WABA}"), Some(TOKEN), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(usage(&r)[WABA][0]["call_count"], 50);
}
