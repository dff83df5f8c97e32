//! Connection hygiene of `serve`: slow and idle connections are closed after the header
//! timeout, connections past the cap and requests past the in-flight cap get Graph's 503
//! (code 2), and the health check is never shed. Small limits, so every test takes well under
//! two seconds; the flood figures are measured by `scripts/hardening.sh`.

use crate::common;

use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the peer closes (or `limit` passes); returns what was read and whether it
/// closed.
async fn read_to_close(s: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(limit, s.read_to_end(&mut buf))
        .await
        .is_ok();
    (String::from_utf8_lossy(&buf).into_owned(), closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed_after_the_header_timeout() {
    let srv = common::start_server(None, &["--header-timeout", "300ms"]).await;
    // A client trickling its request head (slowloris).
    let mut slow = TcpStream::connect(srv.addr).await.unwrap();
    slow.write_all(b"GET /_sim/health HTTP/1.1\r\nHo")
        .await
        .unwrap();
    // A client that connects and says nothing.
    let mut idle = TcpStream::connect(srv.addr).await.unwrap();
    let t = Instant::now();
    let (_, slow_closed) = read_to_close(&mut slow, Duration::from_secs(3)).await;
    let (_, idle_closed) = read_to_close(&mut idle, Duration::from_secs(3)).await;
    assert!(slow_closed && idle_closed, "both closed");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // A client that sends its request in time is served.
    let r = srv.sim_get("health").await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_get_a_graph_503_and_are_closed() {
    let srv =
        common::start_server(None, &["--max-connections", "2", "--header-timeout", "5s"]).await;
    let _a = TcpStream::connect(srv.addr).await.unwrap();
    let _b = TcpStream::connect(srv.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = TcpStream::connect(srv.addr).await.unwrap();
    let (text, closed) = read_to_close(&mut c, Duration::from_secs(2)).await;
    assert!(closed);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    let body = text.split("\r\n\r\n").nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["error"]["code"], 2);
    assert!(
        srv.state
            .in_flight
            .shed
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    // Once a connection closes, a new one is served again.
    drop(_a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut d = TcpStream::connect(srv.addr).await.unwrap();
    d.write_all(b"GET /_sim/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (text, _) = read_to_close(&mut d, Duration::from_secs(2)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_in_flight_cap_are_shed_but_health_is_not() {
    let srv = common::start_server(None, &["--max-in-flight", "1"]).await;
    // Every Graph request waits 800 ms: one in flight fills the cap.
    let r = srv
        .sim_post("faults", &json!({"route": "*", "latency_ms": 800}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let base = srv.base.clone();
    let slow = tokio::spawn(async move {
        let mut s = TcpStream::connect(base.trim_start_matches("http://"))
            .await
            .unwrap();
        s.write_all(b"GET /v23.0/106540352242922 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wabasim-dev-token\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        read_to_close(&mut s, Duration::from_secs(5)).await.0
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let shed = srv
        .request(
            hyper::Method::GET,
            "/v23.0/106540352242922",
            Some("wabasim-dev-token"),
            None,
        )
        .await;
    assert_eq!(shed.status, 503, "{}", shed.text());
    assert!(shed.text().contains("\"code\":2"), "{}", shed.text());
    // The health check answers at once while the cap is full.
    let t = Instant::now();
    assert_eq!(srv.sim_get("health").await.status, 200);
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    let first = slow.await.unwrap();
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
}

/// Sends SIGTERM to `child` (what Docker, Kubernetes and CI runners send) with the system's
/// `kill`.
fn sigterm(child: &std::process::Child) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok);
}

#[test]
fn sigterm_stops_run_with_its_partial_report() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hardening");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("{}-term.json", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quickstart.toml");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_wabasim"))
        .args(["run", scenario, "--quiet", "--out"])
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    sigterm(&child);
    let t = Instant::now();
    let done = child.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    assert_eq!(
        done.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(report["partial"], true);
    assert_eq!(report["stop_reason"], "interrupted");
    assert!(report["total"]["requests"]["total"].as_u64().unwrap() > 0);
}

#[test]
fn sigterm_stops_serve_gracefully() {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_wabasim"))
        .args(["serve", "--listen", "127.0.0.1:0", "--grace", "1s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    sigterm(&child);
    let t = Instant::now();
    let done = child.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(done.status.code(), Some(0));
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(
        err.contains("wabasim: stopped; webhooks:\n  0 events: 0 delivered"),
        "{err}"
    );
}

#[test]
fn remote_control_cannot_start_without_a_token() {
    use clap::Parser;
    use wabasim::cmd::serve::ServePlan;
    use wabasim::cmd::{Cli, Command};
    let plan = |extra: &[&str]| {
        let mut argv = vec!["wabasim", "serve"];
        argv.extend_from_slice(extra);
        let Command::Serve(args) = Cli::parse_from(argv).command else {
            panic!("serve")
        };
        ServePlan::from_args(&args).map(|p| p.server.control_access)
    };
    let e = plan(&["--control-from-any"]).err().unwrap();
    assert!(e.contains("needs --control-token"), "{e}");
    let e = plan(&["--control-from-any", "--control-token", "short"])
        .err()
        .unwrap();
    assert!(e.contains("at least 16 characters"), "{e}");
    let e = plan(&["--control-token", "a-long-enough-control-token"])
        .err()
        .unwrap();
    assert!(e.contains("only used with --control-from-any"), "{e}");
    let ok = plan(&[
        "--control-from-any",
        "--control-token",
        "a-long-enough-control-token",
    ])
    .unwrap();
    assert_eq!(
        ok,
        wabasim::server::ControlAccess::Token("a-long-enough-control-token".into())
    );
    assert_eq!(plan(&[]).unwrap(), wabasim::server::ControlAccess::Loopback);
}
