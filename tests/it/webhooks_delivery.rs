//! Webhook delivery over real HTTP on loopback: a small hyper receiver checks every signature;
//! a manual clock drives retries, so nothing depends on wall-clock timing (waits only poll for
//! a state, with a generous limit).

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde_json::Value;
use sha2::Sha256;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;
use wabasim::clock::{Clock, ClockMode, SimTime, MICROS_PER_SEC};
use wabasim::engine::events::{
    Billing, DeliveryStatus, Event, EventBody, MessageInfo, PhoneMeta, Wamid,
};
use wabasim::engine::ids::{PhoneNumberId, WaId, WabaId};
use wabasim::webhooks::{self, WebhookConfig, WebhookStats};

const SECRET: &str = "s3cr3t-app";
const TOKEN: &str = "verify me&please";
const T0: u64 = 1_750_000_000;

const OK: u8 = 0;
const FAIL: u8 = 1;
const WRONG_ECHO: u8 = 2;

/// What the receiver saw and how it answers.
#[derive(Default)]
struct Receiver {
    mode: AtomicU8,
    /// Parsed bodies of POSTs that were answered 200.
    accepted: Mutex<Vec<Value>>,
    posts: AtomicU64,
    bad_signatures: AtomicU64,
    bad_headers: AtomicU64,
    non_ascii_bodies: AtomicU64,
}

fn hmac_hex(body: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

fn query_param(q: &str, key: &str) -> Option<String> {
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

async fn handle(rx: Arc<Receiver>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let reply = |s: StatusCode, b: &str| {
        Response::builder()
            .status(s)
            .body(Full::new(Bytes::from(b.to_string())))
            .unwrap()
    };
    if req.method() == hyper::Method::GET {
        let q = req.uri().query().unwrap_or("").to_string();
        if query_param(&q, "hub.mode").as_deref() != Some("subscribe")
            || query_param(&q, "hub.verify_token").as_deref() != Some(TOKEN)
        {
            return reply(StatusCode::FORBIDDEN, "verify token mismatch");
        }
        if rx.mode.load(SeqCst) == WRONG_ECHO {
            return reply(StatusCode::OK, "not-the-challenge");
        }
        return reply(StatusCode::OK, &query_param(&q, "hub.challenge").unwrap());
    }
    rx.posts.fetch_add(1, SeqCst);
    let h = req.headers().clone();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let sig = h
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if sig.strip_prefix("sha256=") != Some(hmac_hex(&body).as_str()) {
        rx.bad_signatures.fetch_add(1, SeqCst);
    }
    if h.get("content-type").map(|v| v.as_bytes()) != Some(b"application/json")
        || h.get("user-agent").map(|v| v.as_bytes()) != Some(b"facebookexternalua")
    {
        rx.bad_headers.fetch_add(1, SeqCst);
    }
    if !body.is_ascii() {
        rx.non_ascii_bodies.fetch_add(1, SeqCst);
    }
    if rx.mode.load(SeqCst) == FAIL {
        return reply(StatusCode::INTERNAL_SERVER_ERROR, "down");
    }
    rx.accepted
        .lock()
        .push(serde_json::from_slice(&body).expect("body is JSON"));
    reply(StatusCode::OK, "")
}

/// Starts the receiver on 127.0.0.1:0; returns it and its URL.
async fn receiver() -> (Arc<Receiver>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let rx = Arc::new(Receiver::default());
    let state = rx.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
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

fn config(url: &str) -> WebhookConfig {
    WebhookConfig {
        url: Some(url.to_string()),
        app_secret: SECRET.into(),
        verify_token: TOKEN.into(),
        ..Default::default()
    }
}

fn manual_clock() -> Arc<Clock> {
    Arc::new(Clock::new(ClockMode::Manual, SimTime::from_secs(T0), 1.0))
}

fn phone() -> PhoneMeta {
    PhoneMeta {
        id: PhoneNumberId(106540352242922),
        display: wabasim::engine::events::DisplayNumber::parse("15550783881").unwrap(),
    }
}

fn sent(seq: u64) -> Event {
    Event {
        at: SimTime::from_secs(T0),
        waba: WabaId(102290129340398),
        body: EventBody::Status {
            info: MessageInfo {
                wamid: Wamid {
                    user: WaId(16505551234),
                    seq,
                    tag: 1,
                    inbound: false,
                },
                phone: phone(),
                billing: Billing::pmp(
                    wabasim::pricing::Category::Utility,
                    wabasim::pricing::PricingType::Regular,
                    true,
                    wabasim::pricing::ConversationId(7, 42),
                    SimTime::from_secs(T0 + 86_400),
                ),
                template: None,
                feedback_category: wabasim::engine::reactions::FeedbackCategory::Service,
                biz_opaque_callback_data: None,
                sent_at: SimTime::from_secs(T0),
                recipient_identity_key_hash: None,
                user: wabasim::engine::events::UserRef::plain(wabasim::engine::bsuid::user_id(
                    1,
                    wabasim::engine::ids::BusinessId(1),
                    WaId(16505551234),
                    0,
                )),
            },
            status: DeliveryStatus::Sent,
            error: None,
        },
    }
}

fn inbound(seq: u64, text: &str) -> Event {
    Event {
        at: SimTime::from_secs(T0),
        waba: WabaId(102290129340398),
        body: EventBody::Inbound {
            phone: phone(),
            from: WaId(4915112345678),
            profile_name: "Zoë".into(),
            wamid: Wamid {
                user: WaId(4915112345678),
                seq,
                tag: 1,
                inbound: true,
            },
            text: text.into(),
            identity_key_hash: None,
            media: None,
            user: wabasim::engine::events::UserRef::plain(wabasim::engine::bsuid::user_id(
                1,
                wabasim::engine::ids::BusinessId(1),
                WaId(4915112345678),
                0,
            )),
        },
    }
}

/// Ids of every status and message the receiver accepted.
fn accepted_ids(rx: &Receiver) -> Vec<String> {
    let mut ids = Vec::new();
    for body in rx.accepted.lock().iter() {
        assert_eq!(body["object"], "whatsapp_business_account");
        for entry in body["entry"].as_array().unwrap() {
            for change in entry["changes"].as_array().unwrap() {
                let v = &change["value"];
                for key in ["statuses", "messages"] {
                    for item in v[key].as_array().into_iter().flatten() {
                        ids.push(item["id"].as_str().unwrap().to_string());
                    }
                }
            }
        }
    }
    ids
}

/// Polls `cond` on the stats until it holds; panics with the stats after 20 s.
async fn wait_for(outbox: &webhooks::Outbox, what: &str, cond: impl Fn(&WebhookStats) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let s = outbox.stats();
        if cond(&s) {
            return;
        }
        if std::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}: {s:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn handshake_succeeds_when_the_challenge_is_echoed() {
    let (_rx, url) = receiver().await;
    webhooks::verify_endpoint(&config(&url)).await.unwrap();
}

#[tokio::test]
async fn handshake_fails_clearly_on_a_wrong_echo() {
    let (rx, url) = receiver().await;
    rx.mode.store(WRONG_ECHO, SeqCst);
    let e = webhooks::verify_endpoint(&config(&url)).await.unwrap_err();
    assert!(e.contains("HTTP 200"), "{e}");
    assert!(e.contains("not-the-challenge"), "{e}");
    assert!(
        e.contains("expected HTTP 200 with exactly the hub.challenge"),
        "{e}"
    );
}

#[tokio::test]
async fn handshake_fails_clearly_on_a_wrong_token() {
    let (_rx, url) = receiver().await;
    let cfg = WebhookConfig {
        verify_token: "another token".into(),
        ..config(&url)
    };
    let e = webhooks::verify_endpoint(&cfg).await.unwrap_err();
    assert!(e.contains("HTTP 403"), "{e}");
    assert!(e.contains("verify token mismatch"), "{e}");
}

#[tokio::test]
async fn handshake_fails_clearly_when_nobody_listens() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = webhooks::verify_endpoint(&config(&format!("http://127.0.0.1:{port}/hook")))
        .await
        .unwrap_err();
    assert!(e.contains("webhook verification failed"), "{e}");
}

#[tokio::test]
async fn deliveries_arrive_signed_ascii_and_one_change_per_post() {
    let (rx, url) = receiver().await;
    let (outbox, _task) = webhooks::start(config(&url), manual_clock());
    let mut evs = vec![sent(1), sent(2), inbound(3, "Grüße 😀"), sent(4)];
    outbox.push(&mut evs);
    assert!(evs.is_empty());
    wait_for(&outbox, "4 deliveries", |s| s.delivered == 4).await;
    let s = outbox.stats();
    assert!(s.adds_up(), "{s:?}");
    assert_eq!((s.posts, s.failed_attempts, s.pending()), (4, 0, 0));
    assert_eq!(rx.bad_signatures.load(SeqCst), 0);
    assert_eq!(rx.bad_headers.load(SeqCst), 0);
    assert_eq!(rx.non_ascii_bodies.load(SeqCst), 0);
    let bodies = rx.accepted.lock().clone();
    assert_eq!(bodies.len(), 4);
    for b in &bodies {
        assert_eq!(b["entry"][0]["changes"].as_array().unwrap().len(), 1);
    }
    let text = bodies
        .iter()
        .find_map(|b| b["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"].as_str())
        .unwrap();
    assert_eq!(text, "Grüße 😀");
    assert_eq!(accepted_ids(&rx).len(), 4);
}

#[tokio::test]
async fn batching_puts_changes_of_one_waba_in_one_post() {
    let (rx, url) = receiver().await;
    let cfg = WebhookConfig {
        batch_max: 10,
        ..config(&url)
    };
    let (outbox, _task) = webhooks::start(cfg, manual_clock());
    // On the current-thread test runtime the dispatcher runs only once we await, so the five
    // events are all waiting when it builds the first body.
    let mut evs: Vec<Event> = (1..=5).map(sent).collect();
    outbox.push(&mut evs);
    wait_for(&outbox, "5 deliveries", |s| s.delivered == 5).await;
    assert_eq!(outbox.stats().posts, 1);
    assert_eq!(rx.bad_signatures.load(SeqCst), 0);
    let ids: HashSet<_> = accepted_ids(&rx).into_iter().collect();
    assert_eq!(ids.len(), 5);
}

// Multi-threaded, like the server: POSTs and the dispatcher run in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_then_recovery_delivers_every_event_on_the_simulated_clock() {
    let (rx, url) = receiver().await;
    rx.mode.store(FAIL, SeqCst);
    let clock = manual_clock();
    let (outbox, _task) = webhooks::start(config(&url), clock.clone());
    let mut evs: Vec<Event> = (1..=10).map(sent).collect();
    evs.push(inbound(11, "olá"));
    outbox.push(&mut evs);

    // First attempt and the immediate retry fail; then everything waits for simulated time.
    wait_for(&outbox, "all awaiting retry", |s| s.awaiting_retry == 11).await;
    let s = outbox.stats();
    assert_eq!(
        (s.posts, s.failed_attempts, s.retried),
        (22, 22, 11),
        "{s:?}"
    );
    assert_eq!(s.delivered, 0);
    assert_eq!(s.last_error.as_deref(), Some("HTTP 500"));
    assert!(s.adds_up(), "{s:?}");
    // The clock stands still: no further attempts happen.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(outbox.stats().posts, 22);

    // Still down one simulated second later: one more round, then a 2 s wait.
    clock.advance(MICROS_PER_SEC);
    wait_for(&outbox, "second round", |s| {
        s.posts == 33 && s.awaiting_retry == 11
    })
    .await;

    // Recovery: nothing happens until the next retry is due (2 s after the last failure).
    rx.mode.store(OK, SeqCst);
    clock.advance(MICROS_PER_SEC);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(outbox.stats().delivered, 0);
    clock.advance(MICROS_PER_SEC);
    wait_for(&outbox, "all delivered", |s| s.delivered == 11).await;

    let s = outbox.stats();
    assert!(s.adds_up(), "{s:?}");
    assert_eq!((s.pending(), s.expired, s.dropped_overflow), (0, 0, 0));
    assert_eq!(rx.bad_signatures.load(SeqCst), 0);
    let ids = accepted_ids(&rx);
    let unique: HashSet<_> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), 11, "every event delivered");
    assert_eq!(ids.len(), 11, "each exactly once");
}

// Multi-threaded, like the server: POSTs and the dispatcher run in parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_receiver_expires_events_at_the_horizon() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = WebhookConfig {
        horizon_s: 10,
        retry_initial_s: 1,
        retry_max_s: 4,
        ..config(&format!("http://127.0.0.1:{port}/webhook"))
    };
    let clock = manual_clock();
    let (outbox, _task) = webhooks::start(cfg, clock.clone());
    let mut evs: Vec<Event> = (1..=3).map(sent).collect();
    outbox.push(&mut evs);
    wait_for(&outbox, "all awaiting retry", |s| s.awaiting_retry == 3).await;
    assert!(outbox
        .stats()
        .last_error
        .unwrap()
        .contains("connection error"));

    // Up to 9 s after the first attempt nothing expires.
    for _ in 1..=9 {
        clock.advance(MICROS_PER_SEC);
        tokio::time::sleep(Duration::from_millis(20)).await;
        wait_for(&outbox, "quiet", |s| s.in_flight == 0 && s.queued == 0).await;
    }
    // Failures so far happened before the horizon, whatever their exact times.
    wait_for(&outbox, "all still awaiting retry", |s| {
        s.awaiting_retry == 3
    })
    .await;
    assert_eq!(outbox.stats().expired, 0);

    // The last attempt is made at the horizon itself; its failure expires the events.
    clock.advance(MICROS_PER_SEC);
    wait_for(&outbox, "expiry", |s| s.expired == 3).await;
    let s = outbox.stats();
    assert!(s.adds_up(), "{s:?}");
    assert_eq!((s.pending(), s.delivered), (0, 0));
    assert!(
        s.posts >= 3 * 5,
        "first, immediate, +1 s, +2 s, +4 s at least: {s:?}"
    );
}

#[tokio::test]
async fn overflow_is_counted_never_silent() {
    let (rx, url) = receiver().await;
    rx.mode.store(FAIL, SeqCst);
    let cfg = WebhookConfig {
        max_pending: 4,
        ..config(&url)
    };
    let (outbox, _task) = webhooks::start(cfg, manual_clock());
    let mut evs: Vec<Event> = (1..=6).map(sent).collect();
    outbox.push(&mut evs);
    let s = outbox.stats();
    assert_eq!((s.pushed, s.dropped_overflow, s.queued), (6, 2, 4));
    assert!(s.adds_up(), "{s:?}");
    wait_for(&outbox, "awaiting retry", |s| s.awaiting_retry == 4).await;
    assert!(outbox.stats().adds_up());
}

#[tokio::test]
async fn shutdown_stops_delivery_and_keeps_pending_visible() {
    let (rx, url) = receiver().await;
    rx.mode.store(FAIL, SeqCst);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (outbox, task) = webhooks::start_with_shutdown(config(&url), manual_clock(), async {
        let _ = stop_rx.await;
    });
    let mut evs: Vec<Event> = (1..=3).map(sent).collect();
    outbox.push(&mut evs);
    wait_for(&outbox, "awaiting retry", |s| s.awaiting_retry == 3).await;
    stop_tx.send(()).unwrap();
    task.await.unwrap();
    let s = outbox.stats();
    assert_eq!((s.awaiting_retry, s.delivered), (3, 0));
    assert!(s.adds_up(), "{s:?}");
}

#[tokio::test]
async fn shutdown_drains_what_is_queued_before_stopping() {
    let (_rx, url) = receiver().await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (outbox, task) = webhooks::start_with_shutdown(config(&url), manual_clock(), async {
        let _ = stop_rx.await;
    });
    let mut evs: Vec<Event> = (1..=5).map(sent).collect();
    outbox.push(&mut evs);
    // Stop at once: the five events are still queued or in flight.
    stop_tx.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), task)
        .await
        .expect("the drain ends by itself")
        .unwrap();
    let s = outbox.stats();
    assert_eq!((s.delivered, s.pending()), (5, 0), "{s:?}");
    assert!(s.adds_up(), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_receiver_is_probed_not_hammered() {
    let (rx, url) = receiver().await;
    rx.mode.store(FAIL, SeqCst);
    let clock = manual_clock();
    let (outbox, _task) = webhooks::start(config(&url), clock.clone());
    let mut evs: Vec<Event> = (1..=200).map(sent).collect();
    outbox.push(&mut evs);
    // Without the breaker every event is posted twice at once (an immediate retry): 400 POSTs.
    // With it, 50 failures in a row open the breaker and nothing more goes out until the
    // pause (simulated time, which stands still here) is over.
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_for(&outbox, "quiet", |s| s.in_flight == 0).await;
    let during = outbox.stats().posts;
    assert!(
        (50..150).contains(&during),
        "{during} POSTs while the receiver was down"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(outbox.stats().posts, during, "open: nothing is sent");
    // One simulated second later: exactly one probe, which fails; the next pause is 2 s.
    clock.advance(1_000_000);
    wait_for(&outbox, "one probe", |s| {
        s.posts == during + 1 && s.in_flight == 0
    })
    .await;
    clock.advance(1_000_000);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(outbox.stats().posts, during + 1, "still paused");
    // The receiver comes back: the next probe succeeds and deliveries resume, none lost.
    rx.mode.store(OK, SeqCst);
    clock.advance(1_000_000);
    wait_for(&outbox, "the probe delivered", |s| s.delivered >= 1).await;
    clock.advance(3_600 * 1_000_000);
    wait_for(&outbox, "every event delivered", |s| s.delivered == 200).await;
    let s = outbox.stats();
    assert!(s.adds_up(), "{s:?}");
    assert_eq!((s.expired, s.pending()), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_expire_at_the_horizon_while_the_breaker_is_open() {
    let (rx, url) = receiver().await;
    rx.mode.store(FAIL, SeqCst);
    let clock = manual_clock();
    let (outbox, _task) = webhooks::start(config(&url), clock.clone());
    let mut evs: Vec<Event> = (1..=200).map(sent).collect();
    outbox.push(&mut evs);
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_for(&outbox, "quiet", |s| s.in_flight == 0).await;
    let before = outbox.stats().posts;
    // Eight simulated days: past the 7-day horizon. Every event expires, with a probe or two,
    // not one more POST per event.
    clock.advance(8 * 86_400 * 1_000_000);
    wait_for(&outbox, "all expired", |s| s.expired == 200).await;
    let s = outbox.stats();
    assert!(
        s.posts - before <= 3,
        "{} POSTs after the breaker opened",
        s.posts - before
    );
    assert!(s.adds_up(), "{s:?}");
    assert_eq!(s.pending(), 0);
}

/// The breaker is per endpoint: a WABA whose override URL is down is paused and probed, while
/// the default URL's deliveries go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_override_endpoint_does_not_hold_back_the_default_one() {
    let (good, url) = receiver().await;
    let (down, down_url) = receiver().await;
    down.mode.store(FAIL, SeqCst);
    let clock = manual_clock();
    let (outbox, _task) = webhooks::start(config(&url), clock.clone());
    let other = WabaId(102290129340399);
    outbox.set_override(other, Some(&down_url)).unwrap();
    // 200 events for the WABA whose receiver is down, then 100 for the healthy default URL.
    let mut evs: Vec<Event> = (1..=200)
        .map(|n| Event {
            waba: other,
            ..sent(n)
        })
        .collect();
    outbox.push(&mut evs);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut evs: Vec<Event> = (201..=300).map(sent).collect();
    outbox.push(&mut evs);
    // The default endpoint gets all of its 100 while the override's breaker is open (the
    // simulated clock stands still, so it stays open).
    wait_for(&outbox, "the default URL's events", |s| s.delivered == 100).await;
    assert_eq!(good.accepted.lock().len(), 100);
    let posts_down = outbox.stats().posts - 100;
    assert!(
        (50..150).contains(&posts_down),
        "{posts_down} POSTs to the down endpoint: its breaker opened"
    );
    // It comes back: a probe a simulated second later, then the rest.
    down.mode.store(OK, SeqCst);
    clock.advance(1_000_000);
    clock.advance(3_600 * 1_000_000);
    wait_for(&outbox, "every event delivered", |s| s.delivered == 300).await;
    let s = outbox.stats();
    assert!(s.adds_up(), "{s:?}");
    assert_eq!((s.expired, s.pending()), (0, 0));
}
