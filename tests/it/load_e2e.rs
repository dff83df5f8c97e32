//! End-to-end runs of the load generator against a small fake Cloud API server on 127.0.0.1:0.
//!
//! The fake server is deterministic: every 5th send gets 429/130429, free-form text to a user who
//! has not written in gets 400/131047, everything else 200 with a wamid (and, when a webhook URL
//! is set, a signed `delivered` status shortly after). It counts what it answered, so the report
//! can be reconciled against the server's own books. No assertion depends on wall-clock timing.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};

use wabasim::cmd::run::{finish, start_receiver};
use wabasim::load::receiver::sign;
use wabasim::load::report::{exit_code, PhaseReport, Report};
use wabasim::load::{run, RunOptions, Target};
use wabasim::traffic::plan::{LoadPlan, PlanContext, RecipientPool, Segment};
use wabasim::traffic::spec::LoadScenario;

#[derive(Default)]
struct Books {
    sends: AtomicU64,
    ok: AtomicU64,
    throttled: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    inbound: AtomicU64,
    webhooks_pending: AtomicU64,
    webhooks_bad: AtomicU64,
    window: Mutex<HashSet<String>>,
    /// Request bodies already throttled once: a retry is never throttled again, so the
    /// "nothing gives up" assertions do not depend on how concurrent sends interleave.
    throttled_bodies: Mutex<HashSet<Vec<u8>>>,
}

struct Fake {
    books: Arc<Books>,
    /// Receiver address and app secret, for delivered statuses.
    webhook: Option<(SocketAddr, String)>,
    /// Every n-th send answers 500 (0: never).
    fail_every: u64,
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r
}

fn graph_error(code: i64) -> String {
    format!(
        r#"{{"error":{{"message":"(#{code}) x","type":"OAuthException","code":{code},"error_data":{{"details":"d"}},"fbtrace_id":"AbC"}}}}"#
    )
}

async fn handle(
    fake: Arc<Fake>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let auth_ok = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some("Bearer test-token");
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let b = &fake.books;
    if path == "/_sim/inbound" {
        b.inbound.fetch_add(1, Ordering::SeqCst);
        b.window
            .lock()
            .insert(v["from"].as_str().unwrap_or("").to_string());
        return Ok(json(StatusCode::OK, r#"{"success":true}"#.into()));
    }
    assert!(
        path.starts_with("/v23.0/") && path.ends_with("/messages"),
        "{path}"
    );
    assert!(auth_ok, "missing bearer token");
    let n = b.sends.fetch_add(1, Ordering::SeqCst);
    if fake.fail_every > 0 && n % fake.fail_every == fake.fail_every - 1 {
        b.failed.fetch_add(1, Ordering::SeqCst);
        return Ok(json(StatusCode::INTERNAL_SERVER_ERROR, "oops".into()));
    }
    if n % 5 == 4 && b.throttled_bodies.lock().insert(body.to_vec()) {
        b.throttled.fetch_add(1, Ordering::SeqCst);
        return Ok(json(StatusCode::TOO_MANY_REQUESTS, graph_error(130429)));
    }
    let to = v["to"].as_str().unwrap_or("").to_string();
    assert_eq!(v["messaging_product"], "whatsapp");
    if v["type"] == "text" && !b.window.lock().contains(&to) {
        b.refused.fetch_add(1, Ordering::SeqCst);
        return Ok(json(StatusCode::BAD_REQUEST, graph_error(131047)));
    }
    if v["type"] == "template" {
        assert!(v["template"]["name"].is_string() && v["template"]["language"]["code"].is_string());
    }
    b.ok.fetch_add(1, Ordering::SeqCst);
    let id = format!("wamid.T{n}");
    if let Some((addr, secret)) = fake.webhook.clone() {
        b.webhooks_pending.fetch_add(1, Ordering::SeqCst);
        // Every 10th delivery is signed with the wrong secret, to be caught by the receiver.
        let bad = n % 10 == 3;
        if bad {
            b.webhooks_bad.fetch_add(1, Ordering::SeqCst);
        }
        let books = fake.books.clone();
        let id2 = id.clone();
        let to = to.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let body = format!(
                r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","statuses":[{{"id":"{id2}","status":"delivered","timestamp":"1","recipient_id":"{to}"}}]}}}}]}}]}}"#
            );
            let sig = sign(
                if bad { b"wrong" } else { secret.as_bytes() },
                body.as_bytes(),
            );
            post(addr, body, sig).await;
            books.webhooks_pending.fetch_sub(1, Ordering::SeqCst);
        });
    }
    Ok(json(
        StatusCode::OK,
        format!(
            r#"{{"messaging_product":"whatsapp","contacts":[{{"input":"{to}","wa_id":"{to}"}}],"messages":[{{"id":"{id}"}}]}}"#
        ),
    ))
}

async fn post(addr: SocketAddr, body: String, sig: String) {
    let Ok(stream) = TcpStream::connect(addr).await else {
        return;
    };
    let Ok((mut tx, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    else {
        return;
    };
    tokio::spawn(conn);
    let req = Request::post("/webhook")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sig)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    if let Ok(resp) = tx.send_request(req).await {
        let _ = resp.into_body().collect().await;
    }
}

async fn start_fake(fake: Fake) -> (SocketAddr, Arc<Books>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let books = fake.books.clone();
    let fake = Arc::new(fake);
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                continue;
            };
            let f = fake.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| handle(f.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    (addr, books)
}

fn ctx() -> PlanContext {
    PlanContext {
        phone_numbers: vec!["106540352242922".into(), "106540352242923".into()],
        owners: Vec::new(),
        segments: vec![
            Segment {
                name: "de".into(),
                pool: RecipientPool::Sequence {
                    prefix: "49".into(),
                    start: 0,
                    count: 500,
                    digits: 9,
                },
            },
            Segment {
                name: "vip".into(),
                pool: RecipientPool::List {
                    wa_ids: vec!["4915550001".into(), "4915550002".into()],
                },
            },
        ],
        templates: None,
        service_window: None,
    }
}

fn plan(text: &str) -> LoadPlan {
    let s = LoadScenario::from_toml_str(text, "test.toml").unwrap();
    LoadPlan::build(s.traffic.as_ref().unwrap(), s.thresholds.as_ref(), ctx()).unwrap()
}

fn target(addr: SocketAddr) -> Target {
    Target {
        base_url: format!("http://{addr}"),
        token: "test-token".into(),
        api_version: "v23.0".into(),
        tokens: Default::default(),
    }
}

fn quiet(seed: u64) -> RunOptions {
    RunOptions {
        quiet: true,
        seed,
        ..RunOptions::default()
    }
}

/// The per-phase invariants every report must satisfy.
fn reconcile(p: &PhaseReport) {
    let r = &p.requests;
    assert_eq!(
        r.total,
        r.ok + r.throttled + r.refused + r.failed,
        "{}: classes",
        p.name
    );
    assert_eq!(
        r.total,
        p.messages + p.retries.total,
        "{}: every request is a first attempt or a retry",
        p.name
    );
    assert_eq!(
        p.finals.total + p.abandoned,
        p.messages,
        "{}: every message ends once",
        p.name
    );
    let by_reason: u64 = p.retries.by_reason.values().sum();
    assert_eq!(by_reason, p.retries.total, "{}: retries by reason", p.name);
    let codes: u64 = p.codes.throttled.values().sum();
    assert_eq!(codes, r.throttled, "{}: throttled codes", p.name);
    let codes: u64 = p.codes.refused.values().sum();
    assert_eq!(codes, r.refused, "{}: refused codes", p.name);
    let codes: u64 = p.codes.failed.values().sum();
    assert_eq!(codes, r.failed, "{}: failed codes", p.name);
    assert_eq!(p.latency.ok.count, r.ok);
    assert_eq!(p.latency.throttled.count, r.throttled);
    let tl_sent: u64 = p.timeline.buckets.iter().map(|b| b.sent).sum();
    assert_eq!(tl_sent, p.messages, "{}: timeline sent", p.name);
    let tl_done: u64 = p
        .timeline
        .buckets
        .iter()
        .map(|b| b.ok + b.throttled + b.refused + b.failed)
        .sum();
    assert_eq!(tl_done, r.total, "{}: timeline requests", p.name);
}

const SCENARIO: &str = r#"
[traffic]
connections = 4
grace = "5s"
[traffic.sender]
max_retries = 3
backoff_base = "5ms"
backoff_max = "20ms"
jitter = 0.0

[[traffic.phases]]
name = "burst"
messages = 150
open = { rate = 1000 }
recipients = { returning = 0.2, hot = 2, hot_share = 0.1 }
[[traffic.phases.mix]]
weight = 3
template = { name = "order_update", params = ["{seq}", "{wa_id}"] }
[[traffic.phases.mix]]
inbound = { text = "hello" }
[[traffic.phases.mix]]
text = { body = "thanks {phase}" }

[[traffic.phases]]
name = "users"
messages = 60
closed = { concurrency = 3, think = "1ms" }
recipients = { segments = { vip = 1 } }
numbers = [1]
sender = { per_number_rate = 5000, jitter = 0.0, backoff_base = "5ms", backoff_max = "20ms" }
[[traffic.phases.mix]]
template = { name = "order_update", language = "de" }
[[traffic.phases.mix]]
text = { body = "any", to = "any" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_reconcile_with_the_server() {
    let (addr, books) = start_fake(Fake {
        books: Arc::default(),
        webhook: None,
        fail_every: 0,
    })
    .await;
    let plan = plan(SCENARIO);
    let report = run(
        &plan,
        &target(addr),
        &quiet(3),
        std::future::pending::<()>(),
    )
    .await
    .unwrap();

    assert_eq!(report.stop_reason, "completed");
    assert!(!report.partial);
    assert_eq!(report.phases.len(), 2);
    for p in &report.phases {
        reconcile(p);
    }
    reconcile(&report.total);
    // Window replies that found nobody waiting are not sent (no receiver here: the desk hears
    // of the generator's own inbound messages).
    let burst = &report.phases[0];
    assert!(burst.no_window > 0, "{burst:?}");
    assert_eq!(burst.messages + burst.no_window, 150);
    assert_eq!(report.phases[1].messages, 60);
    assert_eq!(report.phases[0].intended, 150);
    let desk = report.conversations.expect("the plan has window replies");
    assert_eq!(desk.opened, books.inbound.load(Ordering::SeqCst));
    assert_eq!(desk.answered + desk.waiting, desk.opened);
    assert_eq!(report.phases[0].unsent, 0);

    // The server's books and the report agree exactly.
    let t = &report.total.requests;
    let sends = books.sends.load(Ordering::SeqCst);
    let inbound = books.inbound.load(Ordering::SeqCst);
    assert_eq!(t.total, sends + inbound);
    assert_eq!(t.ok, books.ok.load(Ordering::SeqCst) + inbound);
    assert_eq!(t.throttled, books.throttled.load(Ordering::SeqCst));
    assert_eq!(t.refused, books.refused.load(Ordering::SeqCst));
    assert_eq!(t.failed, 0);
    assert!(t.throttled > 0 && t.refused > 0, "{t:?}");
    assert_eq!(
        report.total.codes.throttled.get("130429"),
        Some(&t.throttled)
    );
    assert_eq!(report.total.codes.refused.get("131047"), Some(&t.refused));
    // Every 5th send is throttled (a message at most once) and retried up to 3 times:
    // nothing should give up.
    assert_eq!(report.total.retries.gave_up, 0);
    assert_eq!(
        report.total.retries.by_reason.get("throughput"),
        Some(&t.throttled)
    );
    assert_eq!(report.total.finals.throttled, 0);
    assert!(report.total.retries.recovered > 0);
    // Recipients: the closed phase used only the vip segment.
    let rp = &report.phases[0].recipients;
    assert!(rp.new > 0 && rp.hot > 0);
    assert_eq!(report.abandoned_in_flight, 0);
    // The JSON report round-trips.
    let json = serde_json::to_string(&report).unwrap();
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back.total.requests, report.total.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thresholds_set_the_exit_code() {
    let (addr, _books) = start_fake(Fake {
        books: Arc::default(),
        webhook: None,
        fail_every: 0,
    })
    .await;
    let base =
        "[traffic]\nconnections = 2\n[traffic.sender]\njitter = 0.0\nbackoff_base = \"1ms\"\n\
                [[traffic.phases]]\nname = \"p\"\nmessages = 50\nclosed = { concurrency = 2 }\n\
                [[traffic.phases.mix]]\ntemplate = { name = \"t\" }\n[thresholds]\n";
    let passing = plan(&format!("{base}checks = [\"failed < 1\", \"throttled_ratio < 0.5\", \"p99_ms[p] < 60000\", \"ok >= 50\"]\n"));
    let report = run(
        &passing,
        &target(addr),
        &quiet(1),
        std::future::pending::<()>(),
    )
    .await
    .unwrap();
    assert!(
        report.thresholds.iter().all(|t| t.passed),
        "{:?}",
        report.thresholds
    );
    assert_eq!(report.exit_code(), exit_code::OK);

    let failing = plan(&format!(
        "{base}checks = [\"failed < 1\", \"throttled_ratio < 0.01\"]\n"
    ));
    // A fresh fake: it throttles a body only once, and this run sends the same bodies as the
    // first, so on the first fake how many it throttles would depend on request timing.
    let (addr, _books) = start_fake(Fake {
        books: Arc::default(),
        webhook: None,
        fail_every: 0,
    })
    .await;
    let report = run(
        &failing,
        &target(addr),
        &quiet(1),
        std::future::pending::<()>(),
    )
    .await
    .unwrap();
    assert!(report.thresholds[0].passed);
    assert!(!report.thresholds[1].passed);
    assert!(report.thresholds[1].actual.unwrap() > 0.1);
    let dir = std::env::temp_dir().join(format!("wabasim-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("report.json");
    let junit = dir.join("report.xml");
    let files = wabasim::cmd::run::RunArgs {
        scenario: "t.toml".into(),
        target: None,
        token: None,
        tokens: None,
        api_version: "v23.0".into(),
        duration: None,
        seed: None,
        out: Some(out.clone()),
        junit: Some(junit.clone()),
        summary_md: None,
        quiet: true,
    };
    assert_eq!(finish(&report, &files), exit_code::THRESHOLDS_FAILED);
    // CI reads the failed threshold from the JUnit file, with its actual value.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"failures="1""#), "{xml}");
    assert!(xml.contains("throttled_ratio &lt; 0.01: actual"), "{xml}");
    let written: Report = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(written.schema_version, 1);
    assert!(!written.thresholds[1].passed);
    // The whole `wabasim run` path after parsing: run, summary, JSON, thresholds → exit code.
    let args = wabasim::cmd::run::RunArgs {
        scenario: "t.toml".into(),
        target: Some(format!("http://{addr}")),
        token: Some("test-token".into()),
        tokens: None,
        api_version: "v23.0".into(),
        duration: None,
        seed: Some(1),
        out: Some(dir.join("via-execute.json")),
        quiet: true,
        junit: None,
        summary_md: None,
    };
    let code = wabasim::cmd::run::execute_plan(
        &failing,
        &target(addr),
        &args,
        None,
        std::future::pending::<()>(),
    )
    .await;
    assert_eq!(code, exit_code::THRESHOLDS_FAILED);
    let code = wabasim::cmd::run::execute_plan(
        &passing,
        &target(addr),
        &args,
        None,
        std::future::pending::<()>(),
    )
    .await;
    assert_eq!(code, exit_code::OK);
    assert!(dir.join("via-execute.json").exists());
    // Reports merge: two copies double every count.
    let merged = wabasim::load::report::merge(&[written.clone(), written]).unwrap();
    assert_eq!(merged.total.requests.total, 2 * report.total.requests.total);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_and_reports_partial() {
    let (addr, books) = start_fake(Fake {
        books: Arc::default(),
        webhook: None,
        fail_every: 0,
    })
    .await;
    let plan = plan(
        "[traffic]\nconnections = 2\n[[traffic.phases]]\nname = \"long\"\nduration = \"1h\"\nopen = { rate = 200 }\n\
         [[traffic.phases.mix]]\ntemplate = { name = \"t\" }\n\
         [[traffic.phases]]\nname = \"never\"\nduration = \"1s\"\nopen = { rate = 1 }\n[[traffic.phases.mix]]\ntemplate = { name = \"t\" }\n\
         [thresholds]\nchecks = [\"failed < 1\"]\n",
    );
    // "Ctrl-C" once the server has seen 40 sends (a count, not a time).
    let b = books.clone();
    let shutdown = async move {
        while b.sends.load(Ordering::SeqCst) < 40 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let report = run(&plan, &target(addr), &quiet(1), shutdown)
        .await
        .unwrap();
    assert!(report.partial);
    assert_eq!(report.stop_reason, "interrupted");
    assert_eq!(report.exit_code(), exit_code::INTERRUPTED);
    assert_eq!(report.phases.len(), 1, "the second phase never started");
    let p = &report.phases[0];
    reconcile(p);
    assert!(p.messages >= 40);
    assert_eq!(
        books.sends.load(Ordering::SeqCst),
        p.requests.total + report.abandoned_in_flight
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_failed_not_throttled_and_give_up() {
    let (addr, books) = start_fake(Fake {
        books: Arc::default(),
        webhook: None,
        fail_every: 3,
    })
    .await;
    let plan = plan(
        "[traffic]\nconnections = 2\n[traffic.sender]\nmax_retries = 1\njitter = 0.0\nbackoff_base = \"1ms\"\n\
         [[traffic.phases]]\nname = \"p\"\nmessages = 90\nclosed = { concurrency = 1 }\n\
         [[traffic.phases.mix]]\ntemplate = { name = \"t\" }\n",
    );
    let report = run(
        &plan,
        &target(addr),
        &quiet(1),
        std::future::pending::<()>(),
    )
    .await
    .unwrap();
    let p = &report.phases[0];
    reconcile(p);
    assert_eq!(p.requests.failed, books.failed.load(Ordering::SeqCst));
    assert_eq!(p.requests.throttled, books.throttled.load(Ordering::SeqCst));
    assert_eq!(p.codes.failed.get("http_500"), Some(&p.requests.failed));
    assert!(p.requests.failed > 0 && p.requests.throttled > 0);
    assert!(p.retries.by_reason.contains_key("server_error"));
    assert_eq!(p.finals.ok + p.finals.throttled + p.finals.failed, 90);
    assert_eq!(p.retries.gave_up, p.finals.throttled + p.finals.failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_is_a_run_error() {
    // Bind then drop to get a port nobody listens on.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let plan = plan(
        "[[traffic.phases]]\nname = \"p\"\nmessages = 1\nclosed = { concurrency = 1 }\n[[traffic.phases.mix]]\ntemplate = { name = \"t\" }\n",
    );
    let err = run(
        &plan,
        &target(addr),
        &quiet(1),
        std::future::pending::<()>(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("cannot connect"), "{err}");
    let args = wabasim::cmd::run::RunArgs {
        scenario: "x.toml".into(),
        target: None,
        token: Some("t".into()),
        tokens: None,
        api_version: "v23.0".into(),
        duration: None,
        seed: Some(1),
        out: None,
        quiet: true,
        junit: None,
        summary_md: None,
    };
    let code = wabasim::cmd::run::execute_plan(
        &plan,
        &target(addr),
        &args,
        None,
        std::future::pending::<()>(),
    )
    .await;
    assert_eq!(code, exit_code::RUN_ERROR);
    let bad = Target {
        base_url: "https://example.com".into(),
        ..target(addr)
    };
    let err = run(&plan, &bad, &quiet(1), std::future::pending::<()>())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("only http://"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_received_verified_and_matched() {
    let plan = plan(
        "[traffic]\nconnections = 2\nwebhooks = { app_secret = \"s3cret\" }\n[traffic.sender]\njitter = 0.0\nbackoff_base = \"1ms\"\n\
         [[traffic.phases]]\nname = \"p\"\nmessages = 60\nopen = { rate = 500 }\n\
         [[traffic.phases.mix]]\ntemplate = { name = \"t\" }\n",
    );
    let receiver = start_receiver(&plan).await.unwrap().unwrap();
    let (addr, books) = start_fake(Fake {
        books: Arc::default(),
        webhook: Some((receiver.addr(), "s3cret".into())),
        fail_every: 0,
    })
    .await;
    let opts = RunOptions {
        receiver: Some(receiver.clone()),
        webhook_settle: Some(Duration::from_millis(50)),
        ..quiet(1)
    };
    let report = run(&plan, &target(addr), &opts, std::future::pending::<()>())
        .await
        .unwrap();
    reconcile(&report.phases[0]);
    assert!(report.webhooks.is_some());
    // Wait (by count) for the fake server to finish posting, then read the receiver.
    while books.webhooks_pending.load(Ordering::SeqCst) > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let w = receiver.snapshot();
    let ok = books.ok.load(Ordering::SeqCst);
    let bad = books.webhooks_bad.load(Ordering::SeqCst);
    assert_eq!(w.posts, ok);
    assert_eq!(w.bad_signature, bad);
    assert!(bad > 0);
    assert_eq!(w.statuses.get("delivered").copied().unwrap_or(0), ok - bad);
    assert_eq!(w.matched + w.unmatched, ok - bad);
    assert_eq!(w.delivered_delay.count, w.matched);
    assert!(w.matched > 0);

    // The verification handshake.
    let (code, body) = get(
        receiver.addr(),
        "/webhook?hub.mode=subscribe&hub.verify_token=wabasim&hub.challenge=42",
    )
    .await;
    assert_eq!((code, body.as_str()), (200, "42"));
    let (code, _) = get(
        receiver.addr(),
        "/webhook?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=42",
    )
    .await;
    assert_eq!(code, 403);
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = tx.send_request(req).await.unwrap();
    let code = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (code, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_cap_cuts_the_run_without_marking_it_partial() {
    let (addr, books) = start_fake(Fake {
        books: Arc::default(),
        webhook: None,
        fail_every: 0,
    })
    .await;
    let plan = plan(
        "[traffic]\nconnections = 2\n[[traffic.phases]]\nname = \"long\"\nduration = \"1h\"\nopen = { rate = 100 }\n\
         [[traffic.phases.mix]]\ntemplate = { name = \"t\" }\n\
         [[traffic.phases]]\nname = \"after\"\nmessages = 5\nclosed = { concurrency = 1 }\n[[traffic.phases.mix]]\ntemplate = { name = \"t\" }\n",
    );
    let opts = RunOptions {
        duration_cap: Some(Duration::from_millis(300)),
        ..quiet(1)
    };
    let report = run(&plan, &target(addr), &opts, std::future::pending::<()>())
        .await
        .unwrap();
    eprintln!("{}", wabasim::load::report::render_summary(&report));
    assert_eq!(report.stop_reason, "duration_cap");
    assert!(!report.partial);
    assert_eq!(report.exit_code(), exit_code::OK);
    assert_eq!(report.phases.len(), 1);
    let p = &report.phases[0];
    reconcile(p);
    assert!(p.active_ms <= 300.0 + 1.0, "{}", p.active_ms);
    assert_eq!(books.sends.load(Ordering::SeqCst), p.requests.total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_send_window_delays_but_loses_nothing() {
    let (addr, books) = start_fake(Fake {
        books: Arc::default(),
        webhook: None,
        fail_every: 0,
    })
    .await;
    // One message in flight at a time, arrivals far faster than that: the open model must wait
    // for the window, and the wait must show as generator lag, not disappear.
    let plan = plan(
        "[traffic]\nconnections = 1\n[traffic.sender]\nmax_in_flight = 1\nmax_retries = 0\n\
         [[traffic.phases]]\nname = \"p\"\nmessages = 50\nopen = { rate = 100000, arrivals = \"poisson\" }\n\
         [[traffic.phases.mix]]\ntemplate = { name = \"t\" }\n",
    );
    let report = run(
        &plan,
        &target(addr),
        &quiet(9),
        std::future::pending::<()>(),
    )
    .await
    .unwrap();
    let p = &report.phases[0];
    reconcile(p);
    assert_eq!(p.messages, 50);
    assert_eq!(p.requests.total, 50, "no retries");
    assert_eq!(books.sends.load(Ordering::SeqCst), 50);
    assert_eq!(p.retries.gave_up, p.requests.throttled);
    assert_eq!(p.send_lag.count, 50);
    assert!(p.send_lag.max_ms > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_run_at_the_same_time_with_thresholds_per_stream() {
    let (addr, books) = start_fake(Fake {
        books: Arc::default(),
        webhook: None,
        fail_every: 0,
    })
    .await;
    let plan = plan(
        r#"
[[traffic.streams]]
name = "campaign"
numbers = [0]
[[traffic.streams.phases]]
name = "blast"
duration = "1s"
open = { rate = 100 }
[[traffic.streams.phases.mix]]
template = { name = "promo" }
[[traffic.streams]]
name = "otp"
start = "300ms"
numbers = [1]
[[traffic.streams.phases]]
name = "codes"
duration = "500ms"
open = { rate = 100 }
[[traffic.streams.phases.mix]]
template = { name = "otp" }
[thresholds]
checks = ["failed[otp] < 1", "rate_ratio[campaign] >= 0.9", "ok[otp] > 1000"]
"#,
    );
    let report = run(
        &plan,
        &target(addr),
        &quiet(5),
        std::future::pending::<()>(),
    )
    .await
    .unwrap();
    assert_eq!(report.phases[0].messages, 100);
    assert_eq!(report.phases[1].messages, 50);
    assert_eq!(
        books.sends.load(Ordering::SeqCst),
        report.total.requests.total
    );
    // One after the other they would take 1.5 s; side by side, the longer one's second, and
    // the report says when each started.
    assert!(report.elapsed_ms < 1400.0, "{} ms", report.elapsed_ms);
    let starts: Vec<f64> = report.phases.iter().map(|p| p.start_ms.unwrap()).collect();
    assert!(
        starts[0] < 50.0 && (300.0..400.0).contains(&starts[1]),
        "{starts:?}"
    );
    assert_eq!(report.streams[1].start_ms, Some(starts[1]));
    let names: Vec<&str> = report.streams.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["campaign", "otp"]);
    assert_eq!(report.streams[1].messages, 50);
    for s in &report.streams {
        reconcile(s);
    }
    let passed: Vec<bool> = report.thresholds.iter().map(|t| t.passed).collect();
    assert_eq!(passed, [true, true, false], "{:?}", report.thresholds);
    assert_eq!(
        report.thresholds[2].actual,
        Some(report.streams[1].requests.ok as f64)
    );
}
