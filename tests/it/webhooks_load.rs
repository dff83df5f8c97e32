//! `wabasim webhooks-load` against receivers on loopback: the load generator's own signature-
//! checking receiver (every webhook signed and well formed, three statuses per message plus
//! the inbound ones and the duplicates), a wrong secret (401s: the run fails), a slow receiver
//! (Meta's 250 ms median missed: the run fails), and the command line's exit codes.

use std::convert::Infallible;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wabasim::load::receiver::Receiver;
use wabasim::load::report::exit_code;
use wabasim::load::webhook_load::{run, WebhookLoad};
use wabasim::traffic::spec::WebhookSpec;

fn load(url: String, secret: &str) -> WebhookLoad {
    WebhookLoad {
        url,
        app_secret: secret.into(),
        rate: 40.0,
        inbound_rate: 10.0,
        duration: Duration::from_secs(1),
        concurrency: 16,
        duplicates: 0.25,
        out_of_order: 0.5,
        timeout: Duration::from_secs(5),
        api_version: "v23.0".into(),
        seed: 3,
    }
}

async fn receiver() -> Receiver {
    Receiver::start(&WebhookSpec {
        listen: "127.0.0.1:0".into(),
        app_secret: "s3cret".into(),
        verify_token: "v".into(),
        track: 1000,
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_receiver_gets_every_webhook_signed_and_meets_the_targets() {
    let r = receiver().await;
    let report = run(&load(r.url(), "s3cret"), std::future::pending::<()>())
        .await
        .unwrap();
    let k = |name: &str| report.by_kind.get(name).copied().unwrap_or(0);
    assert_eq!(
        (k("sent"), k("delivered"), k("read"), k("inbound")),
        (40, 40, 40, 10)
    );
    assert!(k("duplicate") > 0, "{:?}", report.by_kind);
    assert_eq!(report.posts, 130 + k("duplicate"));
    assert_eq!(report.posts, report.intended);
    assert_eq!(report.ok, report.posts, "{:?}", report.failed);
    assert_eq!(report.latency.count, report.posts);
    assert_eq!(report.exit_code(), exit_code::OK, "{}", report.summary());
    // What the receiver checked: all signed, all Meta-shaped.
    let seen = r.snapshot();
    assert_eq!(seen.posts, report.posts);
    assert_eq!((seen.bad_signature, seen.malformed), (0, 0));
    let statuses: u64 = seen.statuses.values().sum();
    assert_eq!(statuses + seen.inbound_messages, report.posts);
    assert!(seen.statuses["read"] >= 40 && seen.statuses["delivered"] >= 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_fails_the_run() {
    let r = receiver().await;
    let mut l = load(r.url(), "not-the-secret");
    l.duplicates = 0.0;
    let report = run(&l, std::future::pending::<()>()).await.unwrap();
    assert_eq!(report.failed.get("http_401"), Some(&report.posts));
    assert_eq!(r.snapshot().bad_signature, report.posts);
    assert_eq!(report.exit_code(), exit_code::THRESHOLDS_FAILED);
    assert!(
        report.summary().contains("FAIL failed == 0"),
        "{}",
        report.summary()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_receiver_misses_metas_median() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(|_req: Request<hyper::body::Incoming>| async {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let mut l = load(format!("http://{addr}/hook"), "s");
    l.rate = 10.0;
    l.inbound_rate = 0.0;
    let report = run(&l, std::future::pending::<()>()).await.unwrap();
    assert_eq!(report.ok, report.posts);
    assert!(report.latency.p50_ms >= 300.0, "{}", report.summary());
    assert!(
        !report.targets[0].passed && report.targets[1].passed,
        "{:?}",
        report.targets
    );
    assert_eq!(report.exit_code(), exit_code::THRESHOLDS_FAILED);
}

#[test]
fn the_command_line_says_what_is_wrong() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_wabasim"))
            .arg("webhooks-load")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&[
        "--url",
        "http://127.0.0.1:9/h",
        "--app-secret",
        "s",
        "--duplicates",
        "2",
    ]);
    assert_eq!(code, exit_code::USAGE, "{err}");
    assert!(err.contains("--duplicates: a probability"), "{err}");
    let (code, err) = run(&[
        "--url",
        "http://127.0.0.1:9/h",
        "--app-secret",
        "s",
        "--rate",
        "0",
    ]);
    assert_eq!(code, exit_code::USAGE, "{err}");
    let (code, err) = run(&[
        "--url",
        "http://127.0.0.1:9/h",
        "--app-secret",
        "s",
        "--duration",
        "1s",
    ]);
    assert_eq!(code, exit_code::RUN_ERROR, "{err}");
    assert!(err.contains("cannot connect to the receiver"), "{err}");
}
