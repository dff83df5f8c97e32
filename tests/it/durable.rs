//! `serve --state-dir`: the binary is killed (SIGKILL, SIGTERM) while its webhook receiver is
//! down and restarted with the same directory; every status event of the messages sent
//! arrives once after dedupe by its identity (wamid, status), the world continues, a
//! directory of another world is refused, a torn journal tail is dropped, and without the
//! flag nothing is written. A manual clock drives every status, so no wait depends on timing
//! (waits poll for a state, with a generous limit).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

const VERIFY: &str = "durable-verify";

/// A webhook receiver that can be down (answers 503) or up (records the body, 200).
#[derive(Default)]
struct Receiver {
    down: AtomicBool,
    accepted: Mutex<Vec<Value>>,
}

impl Receiver {
    /// Every status change received, as (wamid, status), duplicates kept.
    fn statuses(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for body in self.accepted.lock().iter() {
            for e in body["entry"].as_array().into_iter().flatten() {
                for c in e["changes"].as_array().into_iter().flatten() {
                    for s in c["value"]["statuses"].as_array().into_iter().flatten() {
                        out.push((
                            s["id"].as_str().unwrap().to_string(),
                            s["status"].as_str().unwrap().to_string(),
                        ));
                    }
                }
            }
        }
        out
    }
}

async fn receive(rx: Arc<Receiver>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let reply = |s: StatusCode, b: String| {
        Response::builder()
            .status(s)
            .body(Full::new(Bytes::from(b)))
            .unwrap()
    };
    if req.method() == hyper::Method::GET {
        let q = req.uri().query().unwrap_or("").to_string();
        let challenge = q
            .split('&')
            .find_map(|kv| kv.strip_prefix("hub.challenge="))
            .unwrap_or("")
            .to_string();
        return reply(StatusCode::OK, challenge);
    }
    let body = req.into_body().collect().await.unwrap().to_bytes();
    if rx.down.load(SeqCst) {
        return reply(StatusCode::SERVICE_UNAVAILABLE, "down".into());
    }
    rx.accepted
        .lock()
        .push(serde_json::from_slice(&body).unwrap());
    reply(StatusCode::OK, String::new())
}

/// Starts a receiver on `rt`; returns it and its URL.
fn receiver(rt: &tokio::runtime::Runtime) -> (Arc<Receiver>, String) {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let rx = Arc::new(Receiver::default());
    let state = rx.clone();
    rt.spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let state = state.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let st = state.clone();
                    async move { Ok::<_, std::convert::Infallible>(receive(st, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(sock), svc)
                    .await;
            });
        }
    });
    (rx, url)
}

/// A `wabasim serve` process and what its banner said.
struct Serve {
    child: Child,
    addr: String,
    token: String,
    phone: String,
    waba: String,
    stderr: Arc<Mutex<String>>,
    /// Reads stderr until the process closes it.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Serve {
    /// Starts `serve --clock manual` with `extra` flags in `cwd`; waits for the banner.
    fn start(cwd: &Path, extra: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wabasim"))
            .current_dir(cwd)
            .args(["serve", "--listen", "127.0.0.1:0", "--clock", "manual"])
            .args(["--verify-token", VERIFY, "--grace", "1s"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut banner = String::new();
        let mut line = String::new();
        while !banner.contains("Try:") {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                let _ = child.wait();
                panic!("serve exited: {}\n{}", banner, stderr.lock());
            }
            banner.push_str(&line);
        }
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let word_after = |key: &str| {
            let i = banner.find(key).unwrap() + key.len();
            banner[i..]
                .split(|c: char| c.is_whitespace() || c == ',' || c == ')')
                .find(|w| !w.is_empty())
                .unwrap()
                .to_string()
        };
        Serve {
            addr: word_after("listening on http://"),
            token: word_after("token "),
            phone: word_after("phone number id "),
            waba: word_after("WABA "),
            child,
            stderr,
            reader: Some(reader),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.raw(method, path, "application/json", body.as_bytes())
    }

    fn raw(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr, self.token, body.len()
        )
        .unwrap();
        s.write_all(body).unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let status = text[9..12].parse().unwrap();
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, v) = self.call(method, path, body);
        assert_eq!(status, 200, "{method} {path}: {v}");
        v
    }

    /// Sends the hello_world template to audience member `i`; returns the wamid.
    fn send(&self, i: u32) -> String {
        let to = format!("628130000{i:04}");
        let body = json!({"messaging_product": "whatsapp", "to": to, "type": "template",
            "template": {"name": "hello_world", "language": {"code": "en_US"}}});
        let v = self.ok(
            "POST",
            &format!("/v23.0/{}/messages", self.phone),
            Some(&body),
        );
        v["messages"][0]["id"].as_str().unwrap().to_string()
    }

    fn advance(&self, seconds: u64) {
        self.ok(
            "POST",
            "/_sim/clock/advance",
            Some(&json!({"seconds": seconds})),
        );
    }

    fn now(&self) -> u64 {
        self.ok("GET", "/_sim/health", None)["now"]
            .as_u64()
            .unwrap()
    }

    fn webhooks(&self) -> Value {
        self.ok("GET", "/_sim/webhooks", None)
    }

    /// (messages, amount) of the ledger's USD totals.
    fn ledger(&self) -> (u64, String) {
        let v = self.ok("GET", "/_sim/ledger", None);
        let usd = &v["summary"]["by_currency"]["USD"];
        (
            usd["messages"].as_u64().unwrap_or(0),
            usd["amount"].to_string(),
        )
    }

    fn template_names(&self) -> Vec<String> {
        let v = self.ok(
            "GET",
            &format!("/v23.0/{}/message_templates?limit=100", self.waba),
            None,
        );
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    }

    fn create_template(&self, name: &str) {
        let t = json!({"name": name, "language": "en_US", "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Your order ships today."}]});
        self.ok(
            "POST",
            &format!("/v23.0/{}/message_templates", self.waba),
            Some(&t),
        );
    }

    /// Stops with SIGKILL or SIGTERM; returns the exit status and stderr.
    fn stop(mut self, signal: &str) -> (Option<i32>, String) {
        let ok = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let status = self.child.wait().unwrap();
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        let err = self.stderr.lock().clone();
        (status.code(), err)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it holds (10 s at most).
fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A directory of its own for one test, removed when dropped (declare it before the servers
/// that use it, so they stop first).
struct Tmp(PathBuf);

impl std::ops::Deref for Tmp {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tmp(name: &str) -> Tmp {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("durable")
        .join(format!("{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Tmp(d)
}

fn settled(s: &Serve) -> bool {
    let w = s.webhooks();
    w["pushed"].as_u64().unwrap() > 0 && w["delivered"] == w["pushed"]
}

const N: u32 = 20;

/// The scripted traffic: a template, N/2 messages delivered while the receiver is up, N/2
/// more while it is down. Returns the wamids.
fn first_life(s: &Serve, rx: &Receiver) -> Vec<String> {
    s.create_template("durable_check");
    let mut wamids: Vec<String> = (1..=N / 2).map(|i| s.send(i)).collect();
    s.advance(3_600);
    wait_for("the first half delivered", || settled(s));
    rx.down.store(true, SeqCst);
    wamids.extend((N / 2 + 1..=N).map(|i| s.send(i)));
    s.advance(3_600);
    wait_for("failed deliveries", || {
        s.webhooks()["failed_attempts"].as_u64().unwrap() > 0
    });
    wamids
}

/// What a server that never stopped sends for the same traffic: (wamid, status) pairs.
fn reference(rt: &tokio::runtime::Runtime) -> BTreeSet<(String, String)> {
    let (rx, url) = receiver(rt);
    let dir = tmp("reference");
    let s = Serve::start(&dir, &["--webhook-url", &url]);
    s.create_template("durable_check");
    for i in 1..=N {
        s.send(i);
        if i == N / 2 {
            s.advance(3_600);
        }
    }
    s.advance(3_600);
    wait_for("the reference deliveries", || settled(&s));
    let got = rx.statuses();
    let set: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(set.len(), got.len(), "no duplicates without a restart");
    set
}

fn kill_and_restart(signal: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let want = reference(&rt);
    let (rx, url) = receiver(&rt);
    let dir = tmp(&format!("state{signal}"));
    let state = dir.join("state");
    let flags = [
        "--webhook-url",
        &url,
        "--state-dir",
        state.to_str().unwrap(),
    ];
    let s = Serve::start(&dir, &flags);
    let wamids = first_life(&s, &rx);
    let before_now = s.now();
    let before_ledger = s.ledger();
    let pending = s.webhooks()["pending"].as_u64().unwrap_or(0);
    let w = s.webhooks();
    assert!(
        w["awaiting_retry"].as_u64().unwrap() + w["queued"].as_u64().unwrap() > 0,
        "events wait for the receiver: {w} {pending}"
    );
    let delivered_before = rx.statuses().len();
    let (_, err) = s.stop(signal);
    if signal == "-TERM" {
        assert!(err.contains("go out after a restart"), "{err}");
    }
    rx.down.store(false, SeqCst);
    let s = Serve::start(&dir, &flags);
    wait_for("the re-queued deliveries", || settled(&s));
    wait_for("the restart line", || s.stderr.lock().contains("continued"));

    // Every status event arrives exactly once: none lost, none sent twice.
    let got = rx.statuses();
    let set: BTreeSet<_> = got.iter().cloned().collect();
    let mut seen = BTreeSet::new();
    let dupes: Vec<_> = got.iter().filter(|e| !seen.insert(*e)).collect();
    assert!(dupes.is_empty(), "{} duplicates: {dupes:?}", dupes.len());
    assert_eq!(set, want, "the same events as a server that never stopped");
    assert!(
        got.len() > delivered_before,
        "some arrived after the restart"
    );
    let mut per_message: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, _) in &got {
        *per_message.entry(id.as_str()).or_default() += 1;
    }
    for w in &wamids {
        assert!(
            per_message.get(w.as_str()).copied().unwrap_or(0) >= 2,
            "{w}: {got:?}"
        );
    }

    // The world continues: the template, the clock, the ledger.
    assert!(s.template_names().contains(&"durable_check".to_string()));
    assert!(s.now() >= before_now, "the clock went back");
    assert_eq!(s.ledger(), before_ledger);
    s.send(N + 1);
    s.advance(60);
    assert_eq!(s.ledger().0, before_ledger.0 + 1, "the ledger continues");
    wait_for("the new message's events", || settled(&s));
}

#[test]
fn sigkill_with_the_receiver_down_loses_and_repeats_no_webhook() {
    kill_and_restart("-KILL");
}

#[test]
fn sigterm_with_the_receiver_down_loses_and_repeats_no_webhook() {
    kill_and_restart("-TERM");
}

#[test]
fn a_state_dir_of_another_world_is_refused() {
    let dir = tmp("mismatch");
    let state = dir.join("state");
    let sd = state.to_str().unwrap();
    let s = Serve::start(&dir, &["--state-dir", sd, "--seed", "1"]);
    s.send(1);
    s.stop("-KILL");
    let out = Command::new(env!("CARGO_BIN_EXE_wabasim"))
        .args(["serve", "--listen", "127.0.0.1:0", "--clock", "manual"])
        .args(["--state-dir", sd, "--seed", "2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(sd) && err.contains("different world"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_wabasim"))
        .args(["serve", "--listen", "127.0.0.1:0", "--clock", "wall"])
        .args(["--state-dir", sd, "--seed", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(sd) && err.contains("--clock manual"), "{err}");
    // The same settings still continue.
    let s = Serve::start(&dir, &["--state-dir", sd, "--seed", "1"]);
    assert_eq!(s.ledger().0, 0, "sent, not yet delivered");
    s.advance(60);
    assert_eq!(s.ledger().0, 1);
}

#[test]
fn a_torn_last_journal_line_is_dropped_and_reported() {
    let dir = tmp("torn");
    let state = dir.join("state");
    let sd = state.to_str().unwrap();
    let s = Serve::start(&dir, &["--state-dir", sd]);
    s.create_template("before_the_tear");
    // Media: binary bytes (journaled as base64) and the multipart boundary.
    let png = vec![0x89, b'P', b'N', b'G', 0, 0xff, 0xfe, 7];
    let (ct, form) = crate::common::multipart(&[
        ("messaging_product", None, b"whatsapp".to_vec()),
        ("file", Some("image/png"), png.clone()),
    ]);
    let (status, up) = s.raw("POST", &format!("/v23.0/{}/media", s.phone), &ct, &form);
    assert_eq!(status, 200, "{up}");
    let media = up["id"].as_str().unwrap().to_string();
    let info = s.ok("GET", &format!("/v23.0/{media}"), None);
    s.send(1);
    s.advance(60);
    let ledger = s.ledger();
    s.stop("-KILL");
    let journal = state.join("journal.jsonl");
    let good = std::fs::read(&journal).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    f.write_all(br#"{"op":"graph","now":1796393220513318,"biz":1000"#)
        .unwrap();
    drop(f);
    let s = Serve::start(&dir, &["--state-dir", sd]);
    // stderr is read by another thread: the note may arrive just after the banner.
    wait_for("the torn record reported", || {
        s.stderr.lock().contains("dropped a torn last record")
    });
    assert!(s.template_names().contains(&"before_the_tear".to_string()));
    assert_eq!(s.ledger(), ledger);
    let again = s.ok("GET", &format!("/v23.0/{media}"), None);
    assert_eq!(again["sha256"], info["sha256"]);
    assert_eq!(again["file_size"], png.len().to_string());
    // The file was cut back to its good part and grows from there.
    s.send(2);
    s.advance(60);
    assert_eq!(s.ledger().0, ledger.0 + 1);
    let now = std::fs::read(&journal).unwrap();
    assert_eq!(&now[..good.len()], &good[..]);
    let text = String::from_utf8(now).unwrap();
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
}

#[test]
fn without_a_state_dir_nothing_is_written() {
    let dir = tmp("memory");
    let s = Serve::start(&dir, &[]);
    s.create_template("in_memory");
    s.send(1);
    s.advance(60);
    assert_eq!(s.ledger().0, 1);
    let (code, _) = s.stop("-TERM");
    assert_eq!(code, Some(0));
    let left: Vec<_> = std::fs::read_dir(&*dir).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    // A new server starts from the scenario again.
    let s = Serve::start(&dir, &[]);
    assert!(!s.template_names().contains(&"in_memory".to_string()));
    assert_eq!(s.ledger().0, 0);
}

/// Two portfolios; with `--partition I/2` the hash gives 200000000000001 to partition 0 and
/// 200000000000002 to partition 1 (tests/it/partitions.rs checks `partition_of`).
static TWO_PORTFOLIOS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    [
        r#"
seed = 5
[audience]
size = 10000
not_on_whatsapp_ratio = 0.0
delivered_delay_ms = [1, 5]
read_ratio = 0.0

"#,
        crate::common::TWO_PORTFOLIOS,
    ]
    .concat()
});

#[test]
fn a_partition_continues_from_its_state_dir_and_another_partition_is_refused() {
    let dir = tmp("partition");
    let scenario = dir.join("two.toml");
    std::fs::write(&scenario, TWO_PORTFOLIOS.as_str()).unwrap();
    let state = dir.join("state");
    let (sc, sd) = (scenario.to_str().unwrap(), state.to_str().unwrap());
    let flags = ["--scenario", sc, "--partition", "1/2", "--state-dir", sd];
    let s = Serve::start(&dir, &flags);
    assert_eq!(s.phone, "202000000000002", "partition 1 serves Dua");
    s.send(1);
    s.send(2);
    s.advance(60);
    let before = s.ledger();
    assert_eq!(before.0, 2);
    let (code, err) = s.stop("-TERM");
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("state kept in"), "{err}");

    // The other partition on this directory would be another world: refused.
    let out = Command::new(env!("CARGO_BIN_EXE_wabasim"))
        .args(["serve", "--listen", "127.0.0.1:0", "--clock", "manual"])
        .args(["--scenario", sc, "--partition", "0/2", "--state-dir", sd])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(sd) && err.contains("different world"), "{err}");

    // The same partition continues: its ledger and its clock came back, and it sends on.
    let s = Serve::start(&dir, &flags);
    assert_eq!(s.phone, "202000000000002");
    assert_eq!(
        s.ledger(),
        before,
        "the portfolio's ledger survived the restart"
    );
    s.send(3);
    s.advance(60);
    assert_eq!(s.ledger().0, 3);
    let (_, err) = s.stop("-TERM");
    assert!(err.contains("continued"), "{err}");
}
