//! Platform dynamics end to end over HTTP with `--clock manual`: send a marketing campaign,
//! force reports through the control API, watch the number go RED / FLAGGED and the template
//! pause and unpause, read it all back through the Graph API, and receive the webhooks.

use crate::common::*;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// All changes received so far, as (field, value).
pub(crate) fn changes(got: &Mutex<Vec<Value>>) -> Vec<(String, Value)> {
    got.lock()
        .iter()
        .flat_map(|b| {
            b["entry"][0]["changes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|c| {
            (
                c["field"].as_str().unwrap_or("").to_string(),
                c["value"].clone(),
            )
        })
        .collect()
}

/// Polls until `pred` holds on the received changes (webhooks are delivered by a task).
pub(crate) async fn wait_for(
    got: &Mutex<Vec<Value>>,
    what: &str,
    pred: impl Fn(&[(String, Value)]) -> bool,
) {
    let start = std::time::Instant::now();
    while !pred(&changes(got)) {
        assert!(
            start.elapsed() < TIMEOUT,
            "timed out waiting for {what}: {:#?}",
            changes(got)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The default world, users who never react on their own, legacy quality webhooks on.
fn scenario() -> String {
    format!(
        "{}\n{}",
        wabasim::scenario::DEFAULT_WORLD,
        r#"
[audience.profiles.marketing]
[audience.profiles.utility]
[audience.profiles.service]

[policy]
legacy_webhooks = true
per_user_marketing = [0, 0]
"#
    )
}

fn promo(to: &str) -> Value {
    template_msg(to, "promo_diskon", "id", body_params(&["Ayu"]))
}

async fn phone(s: &TestServer) -> Value {
    s.get(&format!("/v23.0/{PHONE}?fields=quality_rating,status"))
        .await
        .ok()
}

/// The scenario's server, delivering its webhooks to a fresh receiver.
async fn start_with_receiver() -> (TestServer, Arc<Mutex<Vec<Value>>>) {
    start_with_webhooks(Some(&scenario())).await
}

#[tokio::test]
async fn careless_campaign_turns_the_number_red_and_pauses_the_template() {
    let (s, got) = start_with_receiver().await;
    let users: Vec<String> = (0..20).map(|i| format!("62813000001{i:02}")).collect();
    for u in &users {
        s.send(&promo(u)).await.ok();
    }
    s.advance(5.0).await; // delivered
    let v = phone(&s).await;
    assert_eq!(
        (v["quality_rating"].as_str(), v["status"].as_str()),
        (Some("GREEN"), Some("CONNECTED"))
    );

    // 15 users report the number as spam: weight 2 each = 30 / 1,000 = 3% → RED.
    for u in &users[..15] {
        let r = s
            .sim_post(
                &format!("recipients/{u}/actions"),
                &json!({"action": "report", "reason": "spam"}),
            )
            .await
            .ok();
        assert_eq!(r["action"], "report");
        assert_eq!(r["phone_number_id"], PHONE);
    }
    let v = phone(&s).await;
    assert_eq!(v["quality_rating"], "RED");
    assert_eq!(v["status"], "FLAGGED");

    // The template was charged with the reports: paused on its third (3 × 2 / 200 = 3%).
    let list = s
        .get(&format!("/v23.0/{WABA}/message_templates?name=promo_diskon&language=id&fields=id,status,quality_score"))
        .await
        .ok();
    let t = &list["data"][0];
    assert_eq!(t["status"], "PAUSED");
    let tid = t["id"].as_str().unwrap().to_string();
    let r = s.send(&promo(&users[19])).await;
    assert_graph_error(&r, 400, 132015);

    wait_for(&got, "FIRST_PAUSE, quality and FLAGGED webhooks", |c| {
        c.iter().any(|(f, v)| {
            f == "message_template_status_update" && v["other_info"]["title"] == "FIRST_PAUSE"
        }) && c
            .iter()
            .any(|(f, v)| f == "message_template_quality_update" && v["new_quality_score"] == "RED")
            && c.iter()
                .any(|(f, v)| f == "phone_number_quality_update" && v["event"] == "FLAGGED")
    })
    .await;
    let pause = changes(&got)
        .into_iter()
        .find(|(f, v)| {
            f == "message_template_status_update" && v["other_info"]["title"] == "FIRST_PAUSE"
        })
        .unwrap()
        .1;
    assert_eq!(pause["event"], "PAUSED");
    assert_eq!(pause["reason"], "NONE");
    assert_eq!(pause["message_template_name"], "promo_diskon");
    assert_eq!(
        pause["message_template_id"].as_u64().unwrap().to_string(),
        tid
    );
    let flagged = changes(&got)
        .into_iter()
        .find(|(f, _)| f == "phone_number_quality_update")
        .unwrap()
        .1;
    assert_eq!(flagged["display_phone_number"], "6281200000001");
    assert_eq!(flagged["current_limit"], "TIER_250");

    // Exactly 3 hours after the pause (at t = 5 s) the template is APPROVED again.
    s.advance(3.0 * 3600.0 - 1.0).await;
    let t = s.get(&format!("/v23.0/{tid}?fields=status")).await.ok();
    assert_eq!(t["status"], "PAUSED");
    s.advance(1.0).await;
    let t = s.get(&format!("/v23.0/{tid}?fields=status")).await.ok();
    assert_eq!(t["status"], "APPROVED");
    wait_for(&got, "UNPAUSE", |c| {
        c.iter().any(|(f, v)| {
            f == "message_template_status_update" && v["other_info"]["title"] == "UNPAUSE"
        })
    })
    .await;

    // Meanwhile the reports aged (weight halves every 48 h): 30 fell below 3% within the
    // first hour, so the number is YELLOW and unflagged again.
    let v = phone(&s).await;
    assert_eq!(v["quality_rating"], "YELLOW");
    assert_eq!(v["status"], "CONNECTED");
    wait_for(&got, "UNFLAGGED", |c| {
        c.iter()
            .any(|(f, v)| f == "phone_number_quality_update" && v["event"] == "UNFLAGGED")
    })
    .await;

    // The state endpoint explains it.
    let st = s.sim_get("state").await.ok();
    let n = &st["numbers"][0];
    assert_eq!(n["quality_rating"], "YELLOW");
    assert_eq!(n["counters"]["reports"], 15);
    assert!(n["quality_score"].as_f64().unwrap() > 0.01);
    assert_eq!(st["businesses"][0]["low_quality_numbers"], json!([]));
    assert_eq!(st["businesses"][0]["messaging_limit_used"], 20);
    let id_of = |v: &Value| {
        v.as_str()
            .map(String::from)
            .or(v.as_u64().map(|n| n.to_string()))
    };
    let tpl = st["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| id_of(&t["id"]).as_deref() == Some(tid.as_str()))
        .unwrap();
    assert_eq!(tpl["pauses"], 1);
    assert_eq!(tpl["status"], "APPROVED");
}

#[tokio::test]
async fn opt_out_then_marketing_fails_with_131050() {
    let (s, got) = start_with_receiver().await;
    let u = "6281300000042";
    let r = s
        .sim_post(
            &format!("recipients/{u}/actions"),
            &json!({"action": "opt_out", "text": "STOP", "phone_number_id": PHONE}),
        )
        .await
        .ok();
    assert_eq!(r["action"], "opt_out");
    let pref = |value: &'static str| {
        move |c: &[(String, Value)]| {
            c.iter().any(|(f, v)| {
                f == "user_preferences"
                    && v["user_preferences"][0]["wa_id"] == u
                    && v["user_preferences"][0]["value"] == value
            })
        }
    };
    wait_for(&got, "user_preferences stop", pref("stop")).await;
    let ok = s.send(&promo(u)).await.ok();
    let id = ok["messages"][0]["id"].as_str().unwrap().to_string();
    s.advance(1.0).await;
    let ev = s.all_events().await;
    assert!(
        ev.iter().any(|e| e["wamid"] == id.as_str()
            && e["code"] == 131050
            && e["rule"] == "marketing_opt_out"),
        "{ev:#?}"
    );
    // A reply opens the service window and shows as an inbound message in the log.
    s.sim_post(
        &format!("recipients/{u}/actions"),
        &json!({"action": "reply", "text": "halo"}),
    )
    .await
    .ok();
    assert!(s
        .all_events()
        .await
        .iter()
        .any(|e| e["rule"] == "inbound_message" && e["recipient"].to_string().contains(u)));
    // Resume: the webhook says so and marketing is delivered again.
    s.sim_post(
        &format!("recipients/{u}/actions"),
        &json!({"action": "resume"}),
    )
    .await
    .ok();
    wait_for(&got, "user_preferences resume", pref("resume")).await;
    let ok = s.send(&promo(u)).await.ok();
    let id = ok["messages"][0]["id"].as_str().unwrap().to_string();
    s.advance(5.0).await;
    assert!(!s
        .all_events()
        .await
        .iter()
        .any(|e| e["wamid"] == id.as_str() && e["code"] == 131050));
}

#[tokio::test]
async fn bad_actions_get_graph_errors() {
    let s = start_scenario(&scenario()).await;
    let post = |path: String, body: Value| {
        let s = &s;
        async move { s.sim_post(&path, &body).await }
    };
    let r = post(
        format!("recipients/{USER}/actions"),
        json!({"action": "dance"}),
    )
    .await;
    assert!(details(&assert_graph_error(&r, 400, 100)).contains("action"));
    let r = post(
        format!("recipients/{USER}/actions"),
        json!({"action": "block", "reason": "boredom"}),
    )
    .await;
    assert!(details(&assert_graph_error(&r, 400, 100)).contains("reason"));
    let r = post(
        "recipients/not-a-number/actions".into(),
        json!({"action": "block"}),
    )
    .await;
    assert!(details(&assert_graph_error(&r, 400, 100)).contains("wa_id"));
    let r = post(
        format!("recipients/{USER}/actions"),
        json!({"action": "block", "phone_number_id": "999"}),
    )
    .await;
    assert_graph_error(&r, 400, 100);
    // Re-registration goes through the same endpoint; a bad wa_id is a Graph error.
    let r = post(
        format!("recipients/{USER}/actions"),
        json!({"action": "reregister"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post(
        "recipients/12/actions".to_string(),
        json!({"action": "reregister"}),
    )
    .await;
    assert_graph_error(&r, 400, 100);
    let r = post(
        format!("recipients/{USER}/actions"),
        json!({"action": "block", "extra": 1}),
    )
    .await;
    assert_graph_error(&r, 400, 100);
    let r = s
        .request(
            hyper::Method::POST,
            &format!("/_sim/recipients/{USER}/actions"),
            None,
            Some(b"[]".to_vec()),
        )
        .await;
    assert_graph_error(&r, 400, 100);
}

/// The demo scenario parses and does what its header says, on the engine with a manual clock.
#[test]
fn careless_campaign_scenario_pauses_then_disables_the_template() {
    use wabasim::clock::{SimTime, MICROS_PER_SEC};
    use wabasim::engine::ids::{BusinessId, PhoneNumberId, WaId};
    use wabasim::engine::message::Outbound;
    use wabasim::engine::templates::{TemplateParam, TemplateSend};
    use wabasim::engine::{Effects, Portfolios};
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/careless-campaign.toml"
    ))
    .unwrap();
    let sc = wabasim::scenario::Scenario::parse(&text, "careless-campaign.toml").unwrap();
    let t0 = SimTime::from_secs(1_760_000_000);
    let e: Portfolios = Portfolios::new(&sc.valid_world("careless-campaign.toml").unwrap(), t0);
    let (biz, phone) = (BusinessId(100000000000001), PhoneNumberId(106540352242922));
    let mut out = Effects::default();
    let mut first_pause = None;
    let mut ratings = Vec::new();
    let mut statuses = Vec::new();
    for day in 0..4u64 {
        let start = t0.plus(day * 86_400 * MICROS_PER_SEC);
        for i in 0..240u64 {
            let m = Outbound::template(
                WaId(6281300000000 + day * 1_000 + i),
                TemplateSend {
                    name: "promo_diskon".into(),
                    language: "id".into(),
                    header: vec![],
                    body: vec![TemplateParam {
                        name: None,
                        text: Some("Ayu".into()),
                    }],
                },
            );
            let _ = e.send(
                start.plus(i * 60 * MICROS_PER_SEC),
                biz,
                phone,
                &m,
                &mut out,
            );
            e.handle_timeouts(start.plus(i * 60 * MICROS_PER_SEC), &mut out);
        }
        e.handle_timeouts(start.plus(86_399 * MICROS_PER_SEC), &mut out);
        let st = e.snapshot();
        let t = st
            .templates
            .iter()
            .find(|t| t.name == "promo_diskon" && t.language == "id")
            .unwrap();
        if first_pause.is_none() && t.pauses > 0 {
            first_pause = Some(day);
        }
        ratings.push(st.numbers[0].quality_rating.as_str());
        statuses.push(t.status);
    }
    assert_eq!(first_pause, Some(0), "the template is paused on day 0");
    assert_eq!(statuses.last(), Some(&"DISABLED"), "{statuses:?}");
    // The pauses protect the number: its rating falls to YELLOW, then recovers once the
    // disabled template stops the campaign.
    assert_eq!(ratings[0], "GREEN", "{ratings:?}");
    assert!(ratings.contains(&"YELLOW"), "{ratings:?}");
    assert_eq!(ratings.last(), Some(&"GREEN"), "{ratings:?}");
}
