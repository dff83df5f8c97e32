//! Template recategorisation over real HTTP: `POST /_sim/templates/{id}/recategorise`, the
//! `template_category_update` webhooks in both forms, the template's fields on
//! `GET message_templates`, and the charge before and after the change.

use crate::common::*;
use crate::pricing_server::{receiver, Receiver};
use serde_json::{json, Value};
use std::time::Duration;

/// The `value`s of every change of webhook field `field` received so far.
fn changes(rx: &Receiver, field: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for body in rx.bodies.lock().iter() {
        for entry in body["entry"].as_array().into_iter().flatten() {
            for c in entry["changes"].as_array().into_iter().flatten() {
                if c["field"] == field {
                    out.push(c["value"].clone());
                }
            }
        }
    }
    out
}

async fn wait_for(rx: &Receiver, field: &str, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let v = changes(rx, field);
        if v.len() >= n {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} `{field}` changes arrived: {v:?}",
            v.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The ledger's (category, amount) per line.
async fn ledger(s: &TestServer) -> Vec<(String, String)> {
    let l = s.sim_get("ledger?since=0&limit=100").await.ok();
    l["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["category"].as_str().unwrap().to_string(),
                l["amount"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn template(s: &TestServer, name: &str) -> Value {
    let list = s
        .get(&format!(
            "/v23.0/{WABA}/message_templates?fields=id,name,category,correct_category,previous_category"
        ))
        .await
        .ok();
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no template {name}: {list}"))
}

#[tokio::test]
async fn a_utility_template_recategorised_over_http_is_charged_as_marketing_after_the_change() {
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
    let t = template(&s, "hello_world").await;
    assert_eq!(t["category"], "UTILITY");
    assert!(t.get("correct_category").is_none(), "{t}");
    let id = t["id"].as_str().unwrap().to_string();

    // Refused: an unknown template (Graph's 100/33), no `to`, the category it already has,
    // AUTHENTICATION.
    let e = assert_graph_error(
        &s.sim_post("templates/999999/recategorise", &json!({"to": "MARKETING"}))
            .await,
        400,
        100,
    );
    assert_eq!(e["error_subcode"], 33, "{e}");
    for body in [
        json!({}),
        json!({"to": "UTILITY"}),
        json!({"to": "AUTHENTICATION"}),
    ] {
        let r = s
            .sim_post(&format!("templates/{id}/recategorise"), &body)
            .await;
        assert_graph_error(&r, 400, 100);
    }

    // Before: utility, outside a service window, at the utility rate.
    s.send(&hello_world(USER)).await.ok();
    s.advance(60.0).await;
    assert_eq!(
        ledger(&s).await,
        vec![("utility".to_string(), "0.025".to_string())]
    );

    // Meta's advance notice: a day ahead, the template still UTILITY until then.
    let r = s
        .sim_post(
            &format!("templates/{id}/recategorise"),
            &json!({"to": "MARKETING", "notice_hours": 24}),
        )
        .await
        .ok();
    let effective = r["effective_time"].as_u64().unwrap();
    let notice = wait_for(&rx, "template_category_update", 1).await;
    assert_eq!(
        notice[0],
        json!({
            "message_template_id": id.parse::<u64>().unwrap(),
            "message_template_name": "hello_world",
            "message_template_language": "en_US",
            "new_category": "UTILITY",
            "correct_category": "MARKETING",
            "category_update_timestamp": effective,
        })
    );
    let t = template(&s, "hello_world").await;
    assert_eq!(
        (&t["category"], &t["correct_category"]),
        (&json!("UTILITY"), &json!("MARKETING"))
    );

    // The change: the completed form, MARKETING from now on.
    s.advance(24.0 * 3600.0).await;
    let done = wait_for(&rx, "template_category_update", 2).await;
    assert_eq!(done[1]["previous_category"], "UTILITY");
    assert_eq!(done[1]["new_category"], "MARKETING");
    assert!(done[1].get("correct_category").is_none());
    let t = template(&s, "hello_world").await;
    assert_eq!(t["category"], "MARKETING");
    assert_eq!(t["previous_category"], "UTILITY");
    assert!(t.get("correct_category").is_none(), "{t}");

    s.send(&hello_world("6281300000009")).await.ok();
    s.advance(60.0).await;
    assert_eq!(
        ledger(&s).await,
        vec![
            ("utility".to_string(), "0.025".to_string()),
            ("marketing".to_string(), "0.0411".to_string()),
        ]
    );
}

/// `serve` schedules a recategorisation the scenario declares: both webhooks arrive as the
/// manual clock passes them, and the template is MARKETING from day 1.
#[tokio::test]
async fn serve_follows_a_recategorisation_declared_in_the_scenario() {
    let (rx, url) = receiver().await;
    let world = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/default.toml"),
    )
    .unwrap();
    let hello = "name = \"hello_world\"\nlanguage = \"en_US\"\ncategory = \"UTILITY\"\n";
    assert!(world.contains(hello));
    let world = world.replacen(
        hello,
        &format!(
            "{hello}recategorise = {{ to = \"MARKETING\", on = \"day 1\", notice_hours = 12 }}\n"
        ),
        1,
    );
    let s = start_scenario(&format!(
        "start_unix = 1768478400\n{world}\n[webhooks]\nurl = \"{url}\"\napi_version = \"v23.0\"\n"
    ))
    .await;
    // Nothing before the notice (12 h before day 1).
    s.advance(11.0 * 3600.0).await;
    assert!(changes(&rx, "template_category_update").is_empty());
    assert_eq!(template(&s, "hello_world").await["category"], "UTILITY");
    s.advance(3600.0).await;
    let v = wait_for(&rx, "template_category_update", 1).await;
    assert_eq!(v[0]["correct_category"], "MARKETING");
    assert_eq!(v[0]["category_update_timestamp"], 1768478400 + 86400);
    s.advance(12.0 * 3600.0).await;
    let v = wait_for(&rx, "template_category_update", 2).await;
    assert_eq!(v[1]["previous_category"], "UTILITY");
    assert_eq!(template(&s, "hello_world").await["category"], "MARKETING");
}
