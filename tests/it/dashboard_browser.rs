//! The dashboard in a real browser: Debian's chromium, headless, driven over the DevTools
//! protocol. It loads `/_sim/ui` from a running server, the test sends messages, and the
//! numbers on the page must change; then the inspector form shows the conversation.
//!
//! chromium is a prerequisite of the test suite (`apt-get install -y chromium`): without it this
//! test fails and says so, it is never skipped.

use crate::common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// How long chromium may take to start and the page to show a change (2 busy cores).
const PATIENCE: Duration = Duration::from_secs(40);

/// The chromium binary: Debian's, or the first `chromium` on PATH.
fn chromium() -> PathBuf {
    let debian = PathBuf::from("/usr/bin/chromium");
    if debian.exists() {
        return debian;
    }
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("chromium"))
                .find(|c| c.exists())
        })
        .unwrap_or_else(|| {
            panic!(
                "chromium is not installed: the dashboard browser test needs it \
                 (Debian: `apt-get install -y chromium`; see docs/testing.md)"
            )
        })
}

/// A headless chromium with its own profile directory; killed and cleaned up on drop.
struct Browser {
    child: Child,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    fn start() -> Browser {
        let profile = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "chromium-profile-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&profile).expect("profile dir");
        let child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start chromium: {e}"));
        Browser { child, profile }
    }

    /// The DevTools port chromium chose (it writes it to `DevToolsActivePort`).
    async fn port(&mut self) -> u16 {
        let file = self.profile.join("DevToolsActivePort");
        let start = Instant::now();
        loop {
            if let Some(port) = std::fs::read_to_string(&file)
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
            {
                return port;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("chromium exited before opening DevTools: {status}");
            }
            assert!(start.elapsed() < PATIENCE, "chromium never opened DevTools");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A DevTools session on one page.
struct Page {
    ws: Ws,
    next_id: u64,
}

impl Page {
    /// Attaches to the browser's first page.
    async fn attach(port: u16) -> Page {
        let start = Instant::now();
        let url = loop {
            let list = http_get(port, "/json/list").await;
            let page = list.and_then(|v: Value| {
                v.as_array()?
                    .iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str().map(str::to_string))
            });
            if let Some(u) = page {
                break u;
            }
            assert!(start.elapsed() < PATIENCE, "chromium shows no page");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("DevTools WebSocket");
        Page { ws, next_id: 1 }
    }

    /// One DevTools call; events that arrive meanwhile are skipped.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws
            .send(Message::text(msg))
            .await
            .expect("send to DevTools");
        loop {
            let m = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("DevTools did not answer {method}"))
                .expect("DevTools closed")
                .expect("DevTools read");
            let Message::Text(text) = m else { continue };
            let v: Value = serde_json::from_str(&text).expect("DevTools JSON");
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("{method}: {e}");
                }
                return v["result"].clone();
            }
        }
    }

    /// Evaluates JavaScript in the page and returns its value.
    async fn eval(&mut self, js: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": js, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{js}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Evaluates `js` until it returns a string `done` accepts; returns that string.
    async fn wait_for(&mut self, what: &str, js: &str, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let v = self.eval(js).await;
            let text = v.as_str().unwrap_or("").to_string();
            if done(&text) {
                return text;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "the page never showed {what}; last value: {v}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A plain HTTP GET to the DevTools port; `None` until it answers.
async fn http_get(port: u16, path: &str) -> Option<Value> {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let uri: hyper::Uri = format!("http://127.0.0.1:{port}{path}").parse().ok()?;
    let r = tokio::time::timeout(Duration::from_secs(5), client.get(uri))
        .await
        .ok()?
        .ok()?;
    let body = tokio::time::timeout(Duration::from_secs(5), r.into_body().collect())
        .await
        .ok()?
        .ok()?
        .to_bytes();
    serde_json::from_slice(&body).ok()
}

/// The text of an element, `null` while the page (still loading) has none.
fn text_of(id: &str) -> String {
    format!("(document.getElementById('{id}') || {{}}).textContent || null")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_updates_live_in_chromium_and_inspects_a_conversation() {
    let s = start_default().await;
    let mut browser = Browser::start();
    let port = browser.port().await;
    let mut page = Page::attach(port).await;
    page.call("Runtime.enable", json!({})).await;
    page.call(
        "Page.navigate",
        json!({"url": format!("{}/_sim/ui", s.base)}),
    )
    .await;

    // Connected: the first tick filled the tiles.
    page.wait_for("the first tick", &text_of("conn"), |t| t == "live")
        .await;
    let before = page
        .wait_for("accepted = 0", &text_of("v-accepted"), |t| t == "0")
        .await;
    assert_eq!(before, "0");
    let clock = page.eval(&text_of("clock")).await;
    assert!(
        clock.as_str().unwrap().ends_with("UTC"),
        "simulated time shown: {clock}"
    );
    let numbers = page.eval(&text_of("t-numbers")).await;
    assert!(
        numbers.as_str().unwrap().contains(PHONE) && numbers.as_str().unwrap().contains("GREEN"),
        "{numbers}"
    );

    // Sends: the numbers on the page change.
    let mut wamid = String::new();
    for _ in 0..3 {
        let r = s.send(&hello_world(USER)).await.ok();
        wamid = r["messages"][0]["id"].as_str().unwrap().to_string();
    }
    s.send(&text_msg(USER, "no window")).await; // refused: 131047
    page.wait_for("accepted = 3", &text_of("v-accepted"), |t| t == "3")
        .await;
    page.wait_for("refused = 1", &text_of("v-refused"), |t| t == "1")
        .await;
    let codes = page
        .wait_for("131047 by name", &text_of("t-codes"), |t| {
            t.contains("131047")
        })
        .await;
    assert!(codes.contains("Re-engagement message"), "{codes}");

    // Time passes: delivered shows, and the inspector shows the message's life.
    s.advance(3600.0).await;
    page.wait_for("delivered = 3", &text_of("v-delivered"), |t| t == "3")
        .await;
    page.eval(&format!(
        "document.getElementById('inspect-q').value = '{wamid}'; \
         document.getElementById('inspect-go').click(); 'ok'"
    ))
    .await;
    let timeline = page
        .wait_for("the inspector's timeline", &text_of("t-inspect"), |t| {
            t.contains("status: delivered")
        })
        .await;
    assert!(timeline.contains("sent (accepted)"), "{timeline}");
    assert!(timeline.contains("status: sent"), "{timeline}");
    assert!(timeline.contains("charged"), "{timeline}");
}
