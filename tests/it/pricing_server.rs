//! Pricing over real HTTP on loopback: sends through the mock server, the manual clock
//! advanced, status webhooks received by a small hyper receiver, and `GET /_sim/ledger`
//! compared with them.

use crate::common::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Collects webhook bodies; answers the verification handshake.
#[derive(Default)]
pub(crate) struct Receiver {
    pub(crate) bodies: Mutex<Vec<Value>>,
}

async fn handle(rx: Arc<Receiver>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() == hyper::Method::GET {
        let q = req.uri().query().unwrap_or("").to_string();
        let challenge = q
            .split('&')
            .find_map(|kv| kv.strip_prefix("hub.challenge="))
            .unwrap_or("")
            .to_string();
        return Response::new(Full::new(Bytes::from(challenge)));
    }
    let body = req.into_body().collect().await.unwrap().to_bytes();
    rx.bodies
        .lock()
        .push(serde_json::from_slice(&body).expect("webhook body is JSON"));
    Response::builder()
        .status(StatusCode::OK)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

pub(crate) async fn receiver() -> (Arc<Receiver>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let rx = Arc::new(Receiver::default());
    let state = rx.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let state = state.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let st = state.clone();
                    async move { Ok::<_, std::convert::Infallible>(handle(st, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    (rx, url)
}

/// Every status object received so far.
pub(crate) fn statuses(rx: &Receiver) -> Vec<Value> {
    let mut out = Vec::new();
    for body in rx.bodies.lock().iter() {
        for entry in body["entry"].as_array().unwrap() {
            for change in entry["changes"].as_array().unwrap() {
                for s in change["value"]["statuses"].as_array().into_iter().flatten() {
                    out.push(s.clone());
                }
            }
        }
    }
    out
}

pub(crate) async fn wait_for_delivered(rx: &Receiver, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let d: Vec<Value> = statuses(rx)
            .into_iter()
            .filter(|s| s["status"] == "delivered")
            .collect();
        if d.len() >= n {
            return d;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} delivered statuses arrived",
            d.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn scenario(url: &str) -> String {
    // The default world (no businesses declared) on 2026-01-15, everyone on WhatsApp.
    format!(
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
[pricing.markup]
fixed_per_message = "0.001"
"#
    )
}

#[tokio::test]
async fn status_webhook_pricing_equals_the_ledger_and_totals_add_up() {
    let (rx, url) = receiver().await;
    let s = start_scenario(&scenario(&url)).await;
    let other = "6281300000002";
    // Marketing to a user, utility inside an open window to another (free), a service reply.
    s.send(&template_msg(
        USER,
        "promo_diskon",
        "id",
        json!([{"type": "body", "parameters": [{"type": "text", "text": "Ayu"}]}]),
    ))
    .await
    .ok();
    s.inbound(other, "halo").await;
    s.send(&hello_world(other)).await.ok();
    s.send(&text_msg(other, "terima kasih")).await.ok();
    // Nothing is charged before delivery.
    let before = s.sim_get("ledger").await.ok();
    assert_eq!(before["summary"]["lines_total"], 0);
    s.advance(5.0).await;
    let delivered = wait_for_delivered(&rx, 3).await;

    let ledger = s.sim_get("ledger?since=0&limit=100").await.ok();
    let lines = ledger["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 3);
    for st in &delivered {
        let conv = st["conversation"]["id"].as_str().unwrap();
        let line = lines
            .iter()
            .find(|l| l["conversation_id"] == conv)
            .unwrap_or_else(|| panic!("no ledger line for conversation {conv}"));
        assert_eq!(
            st["pricing"],
            json!({
                "billable": line["billable"],
                "pricing_model": "PMP",
                "type": line["type"],
                "category": line["category"],
            }),
            "status {st} vs line {line}"
        );
        assert_eq!(st["recipient_id"].as_str().unwrap().len(), 13);
    }
    let by_type: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["category"].as_str().unwrap(), l["type"].as_str().unwrap()))
        .collect();
    assert!(by_type.contains(&("marketing", "regular")));
    assert!(by_type.contains(&("utility", "free_customer_service")));
    assert!(by_type.contains(&("service", "free_customer_service")));

    // Totals equal the sum of the lines, for platform cost and BSP price.
    let sum = |field: &str| -> f64 {
        lines
            .iter()
            .map(|l| l[field].as_str().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    let usd = &ledger["summary"]["by_currency"]["USD"];
    let amount: f64 = usd["amount"].as_str().unwrap().parse().unwrap();
    let bsp: f64 = usd["bsp_price"].as_str().unwrap().parse().unwrap();
    assert!((amount - sum("amount")).abs() < 1e-9);
    assert!(
        (amount - 0.0411).abs() < 1e-9,
        "one marketing message to ID"
    );
    assert!((bsp - sum("bsp_price")).abs() < 1e-9);
    assert!(
        (bsp - (0.0411 + 3.0 * 0.001)).abs() < 1e-9,
        "fixed fee on every message: {usd}"
    );
    assert_eq!(ledger["summary"]["markup"], true);
    let rows_total: f64 = ledger["summary"]["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["amount"].as_str().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!((rows_total - amount).abs() < 1e-9);

    // Paging: one line at a time, following `next`.
    let p1 = s.sim_get("ledger?limit=1").await.ok();
    assert_eq!(p1["lines"].as_array().unwrap().len(), 1);
    assert_eq!(p1["more"], true);
    let p2 = s
        .sim_get(&format!("ledger?since={}&limit=5", p1["next"]))
        .await
        .ok();
    assert_eq!(p2["lines"].as_array().unwrap().len(), 2);
    assert_eq!(p2["more"], false);
}

#[tokio::test]
async fn ledger_rejects_bad_paging_with_the_graph_envelope() {
    let s = start_default().await;
    let r = s.sim_get("ledger?since=abc").await;
    let e = assert_graph_error(&r, 400, 100);
    assert!(details(&e).contains("since"), "{e}");
    let r = s.sim_get("ledger?limit=-1").await;
    assert_graph_error(&r, 400, 100);
}

#[tokio::test]
async fn scenario_pricing_errors_name_the_field() {
    let path = scenario_file("[pricing]\ncard = \"no-such-card\"\n");
    let e = wabasim::scenario::Scenario::load(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("pricing.card"), "{e}");
    let path = scenario_file("[pricing]\ncolour = 1\n");
    let e = wabasim::scenario::Scenario::load(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains(":2:1:") && e.contains("colour"), "{e}");
}
