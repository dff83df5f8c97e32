//! Template pacing over HTTP with `--clock manual`: the send response's `message_status`
//! (`accepted`, then `held_for_quality_assessment` past the threshold), and the webhooks that
//! follow the assessment: sent/delivered for released messages, or `failed` 132015 for each
//! held one with the template PAUSED.

use crate::common::*;
use crate::dynamics_http::{changes, wait_for};
use serde_json::{json, Value};

/// The default world with pacing on (3 sends go out, then holds; decided from 2 deliveries),
/// everybody on WhatsApp and reading, users who never react on their own.
fn scenario() -> String {
    let world = wabasim::scenario::DEFAULT_WORLD
        .replace(
            "not_on_whatsapp_ratio = 0.02",
            "not_on_whatsapp_ratio = 0.0",
        )
        .replace("read_ratio = 0.7", "read_ratio = 1.0");
    assert!(
        world.contains("read_ratio = 1.0"),
        "the default world changed"
    );
    format!(
        "{world}\n{}",
        r#"
[audience.profiles.marketing]
[audience.profiles.utility]
[audience.profiles.service]

[policy]
per_user_marketing = [0, 0]

[rules.pacing]
enabled = true
threshold = 3
min_delivered = 2
"#
    )
}

async fn start() -> (TestServer, std::sync::Arc<parking_lot::Mutex<Vec<Value>>>) {
    start_with_webhooks(Some(&scenario())).await
}

fn promo(to: &str) -> Value {
    template_msg(to, "promo_diskon", "id", body_params(&["Ayu"]))
}

/// Sends `promo_diskon` to 5 users: (wamid, message_status) of each.
async fn campaign(s: &TestServer) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in 0..5 {
        let v = s.send(&promo(&format!("628130000010{i}"))).await.ok();
        let m = &v["messages"][0];
        out.push((
            m["id"].as_str().unwrap().to_string(),
            m["message_status"].as_str().unwrap().to_string(),
        ));
    }
    out
}

/// The statuses received for message `id`, in order, with their error code.
fn statuses_of(got: &parking_lot::Mutex<Vec<Value>>, id: &str) -> Vec<(String, Option<u64>)> {
    changes(got)
        .into_iter()
        .filter(|(f, _)| f == "messages")
        .flat_map(|(_, v)| v["statuses"].as_array().cloned().unwrap_or_default())
        .filter(|st| st["id"] == id)
        .map(|st| {
            (
                st["status"].as_str().unwrap_or("").to_string(),
                st["errors"][0]["code"].as_u64(),
            )
        })
        .collect()
}

#[tokio::test]
async fn held_sends_say_so_and_are_released_after_a_good_assessment() {
    let (s, got) = start().await;
    // A text inside a window carries no message_status; a utility template (not paced: no
    // utility template was paused) says accepted.
    s.inbound("6281300000099", "halo").await;
    let v = s.send(&text_msg("6281300000099", "Halo")).await.ok();
    assert!(v["messages"][0].get("message_status").is_none(), "{v}");
    let v = s.send(&hello_world("6281300000099")).await.ok();
    assert_eq!(v["messages"][0]["message_status"], "accepted");

    let sent = campaign(&s).await;
    let kinds: Vec<&str> = sent.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "accepted",
            "accepted",
            "accepted",
            "held_for_quality_assessment",
            "held_for_quality_assessment"
        ]
    );
    s.advance(15.0 * 60.0).await;
    wait_for(&got, "the first sends delivered", |_| {
        sent[..3]
            .iter()
            .all(|(id, _)| statuses_of(&got, id).iter().any(|(st, _)| st == "read"))
    })
    .await;
    for (id, _) in &sent[3..] {
        assert!(statuses_of(&got, id).is_empty(), "held: no status yet");
    }
    // 30 minutes after the first paced send: 3 delivered, 3 read, no blocks: released.
    s.advance(15.0 * 60.0).await;
    s.advance(60.0).await;
    wait_for(&got, "the held messages sent and delivered", |_| {
        sent[3..].iter().all(|(id, _)| {
            let st: Vec<String> = statuses_of(&got, id).into_iter().map(|x| x.0).collect();
            st.starts_with(&["sent".to_string(), "delivered".to_string()])
        })
    })
    .await;
    let c = changes(&got);
    assert!(!c.iter().any(|(f, _)| f == "message_template_status_update"));
}

#[tokio::test]
async fn a_bad_assessment_fails_held_messages_with_132015_and_pauses_the_template() {
    let (s, got) = start().await;
    let sent = campaign(&s).await;
    s.advance(60.0).await;
    // Two of the three who got it report it.
    for i in 0..2 {
        s.sim_post(
            &format!("recipients/628130000010{i}/actions"),
            &json!({"action": "report", "reason": "spam"}),
        )
        .await
        .ok();
    }
    s.advance(30.0 * 60.0).await;
    wait_for(&got, "132015 for each held message and the pause", |c| {
        sent[3..]
            .iter()
            .all(|(id, _)| statuses_of(&got, id) == vec![("failed".to_string(), Some(132015))])
            && c.iter()
                .any(|(f, v)| f == "message_template_status_update" && v["event"] == "PAUSED")
            && c.iter().any(|(f, v)| {
                f == "message_template_quality_update" && v["new_quality_score"] == "RED"
            })
    })
    .await;
    let r = s.send(&promo("6281300000200")).await;
    assert_graph_error(&r, 400, 132015);
}
