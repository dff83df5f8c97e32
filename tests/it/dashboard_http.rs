//! The dashboard over plain HTTP: the page, the Server-Sent Events stream (its ticks change
//! after sends) and the message inspector endpoint. The browser test is `dashboard_browser`.

use crate::common::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// An open event stream, read tick by tick.
struct Stream {
    body: Incoming,
    buf: String,
}

async fn open_stream(s: &TestServer) -> hyper::Response<Incoming> {
    open_stream_at(&s.base).await
}

async fn open_stream_at(base: &str) -> hyper::Response<Incoming> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let req = Request::get(format!("{base}/_sim/ui/events"))
        .body(Empty::new())
        .unwrap();
    tokio::time::timeout(TIMEOUT, client.request(req))
        .await
        .expect("stream answers in time")
        .expect("stream request")
}

impl Stream {
    async fn open(s: &TestServer) -> Stream {
        Stream::open_at(&s.base).await
    }

    async fn open_at(base: &str) -> Stream {
        let r = open_stream_at(base).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        Stream {
            body: r.into_body(),
            buf: String::new(),
        }
    }

    /// The next `tick` event's data.
    async fn tick(&mut self) -> Value {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let event: String = self.buf.drain(..end + 2).collect();
                let mut name = "";
                let mut data = String::new();
                for line in event.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = n;
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    }
                }
                assert_eq!(name, "tick", "{event}");
                return serde_json::from_str(&data).expect("tick data is JSON");
            }
            let frame = tokio::time::timeout(TIMEOUT, self.body.frame())
                .await
                .expect("a tick within the timeout")
                .expect("stream still open")
                .expect("frame");
            if let Ok(data) = frame.into_data() {
                self.buf
                    .push_str(std::str::from_utf8(&data).expect("utf-8"));
            }
        }
    }

    /// Ticks until `done` holds (at most 10 s of ticks).
    async fn until(&mut self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let t = self.tick().await;
            if done(&t) {
                return t;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no tick showed {what}; last: {t}"
            );
        }
    }
}

#[tokio::test]
async fn the_page_is_one_self_contained_html_file() {
    let s = start_default().await;
    let r = s.sim_get("ui").await;
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("connect-src 'self'"));
    let page = r.text();
    assert!(page.contains("new EventSource(withToken(\"/_sim/ui/events\"))"));
    assert!(page.contains("/_sim/inspect?"));
    // Nothing fetched from elsewhere: the only absolute URL is the SVG namespace name.
    let external: Vec<&str> = page
        .match_indices("http")
        .map(|(i, _)| &page[i..(i + 40).min(page.len())])
        .filter(|u| !u.starts_with("http://www.w3.org/2000/svg"))
        .collect();
    assert!(external.is_empty(), "external URLs: {external:?}");
    assert!(!page.contains("src=\"") && !page.contains("<link"));
}

#[tokio::test]
async fn ticks_show_sends_refusals_by_code_and_webhooks() {
    let s = start_default().await;
    let mut stream = Stream::open(&s).await;
    let first = stream.tick().await;
    assert_eq!(first["server"]["accepted"], 0, "{first}");
    assert_eq!(first["numbers"][0]["id"], PHONE);
    assert_eq!(first["numbers"][0]["quality_rating"], "GREEN");
    assert!(first["templates"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "hello_world" && t["status"] == "APPROVED"));
    assert!(first["webhooks"]["delivered"].is_u64(), "{first}");
    assert!(first["now"].as_u64().unwrap() > 1_600_000_000_000_000);
    assert!(first.get("load").is_none(), "serve attaches no load feed");

    for _ in 0..2 {
        s.send(&hello_world(USER)).await.ok();
    }
    // Free-form text with no customer service window: 131047.
    let r = s.send(&text_msg(USER, "hi")).await;
    assert_eq!(r.status, 400);
    let t = stream
        .until("2 accepted and 1 refused", |t| {
            t["server"]["accepted"] == 2 && t["server"]["refused"]["131047"] == 1
        })
        .await;
    assert_eq!(
        t["code_names"]["131047"], "Re-engagement message",
        "codes carry Meta's names"
    );
    assert_eq!(t["numbers"][0]["accepted"], 2);
    assert_eq!(t["numbers"][0]["refused"], 1);
    let recent = t["recent"].as_array().unwrap();
    assert_eq!(recent[0]["rule"], "service_window", "newest first: {t}");
    assert_eq!(recent[0]["code"], 131047);
    assert_eq!(recent[1]["rule"], "accepted");
    assert_eq!(recent[1]["user"], USER);
}

#[tokio::test]
async fn streams_are_bounded_and_a_full_server_says_so() {
    let s = start_default().await;
    let mut open = Vec::new();
    for _ in 0..wabasim::server::ui::MAX_STREAMS {
        open.push(Stream::open(&s).await);
    }
    let r = s.sim_get("ui/events").await;
    let e = assert_graph_error(&r, 503, 2);
    assert!(details(&e).contains("at most 8"), "{e}");
    // A closed stream frees its slot.
    drop(open.pop());
    let start = Instant::now();
    loop {
        let r = open_stream(&s).await;
        if r.status() == 200 {
            break;
        }
        assert!(start.elapsed() < TIMEOUT, "slot never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn inspector_shows_a_conversation_with_rules_statuses_user_actions_and_prices() {
    let s = start_default().await;
    let inbound = s.inbound(USER, "Halo").await;
    let in_wamid = inbound["message_id"].as_str().unwrap().to_string();
    let sent = s.send(&text_msg(USER, "Terima kasih")).await.ok();
    let wamid = sent["messages"][0]["id"].as_str().unwrap().to_string();
    // Another user's message must not show up.
    let other = s.send(&hello_world("6281300000002")).await.ok();
    let other = other["messages"][0]["id"].as_str().unwrap().to_string();
    s.advance(3600.0).await;
    // What the user did: a forced block shows as the user's feedback.
    s.sim_post(
        &format!("recipients/{USER}/actions"),
        &json!({"action": "block"}),
    )
    .await
    .ok();

    let v = s.sim_get(&format!("inspect?wamid={wamid}")).await.ok();
    assert_eq!(v["user"], USER);
    assert_eq!(v["phone_number_id"], PHONE);
    let items = v["items"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = items
        .iter()
        .map(|i| {
            let k = i["kind"].as_str().unwrap();
            let what = match k {
                "decision" => i["rule"].as_str().unwrap(),
                "status" => i["status"].as_str().unwrap(),
                _ => i["category"].as_str().unwrap(),
            };
            (k, what)
        })
        .collect();
    assert!(kinds.contains(&("decision", "inbound_message")), "{v}");
    assert!(kinds.contains(&("decision", "accepted")), "{v}");
    assert!(kinds.contains(&("status", "sent")), "{v}");
    assert!(kinds.contains(&("status", "delivered")), "{v}");
    let times: Vec<u64> = items.iter().map(|i| i["at"].as_u64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
    assert!(
        items.iter().all(|i| i["wamid"] != other.as_str()),
        "only this user's messages: {v}"
    );
    assert!(items.iter().any(|i| i["wamid"] == in_wamid.as_str()));
    assert!(
        items
            .iter()
            .any(|i| i["rule"] == "user_feedback" && i["detail"].as_str().is_some()),
        "the block shows: {v}"
    );
    let accepted = items.iter().find(|i| i["rule"] == "accepted").unwrap();
    assert_eq!(accepted["wamid"], wamid.as_str());
    assert_eq!(accepted["direction"], "outbound");
    // The price charged on delivery, from the ledger, tied to the message.
    let charge = items
        .iter()
        .find(|i| i["kind"] == "charge")
        .unwrap_or_else(|| panic!("a ledger line: {v}"));
    assert_eq!(charge["wamid"], wamid.as_str(), "{v}");
    assert_eq!(charge["category"], "service");
    assert_eq!(charge["currency"], "USD");
    assert!(charge["amount"].is_string());
    // The other user's message is charged too, but not shown here.
    let all = s.sim_get("ledger").await.ok();
    assert_eq!(all["lines"].as_array().unwrap().len(), 2, "{all}");
    assert_eq!(items.iter().filter(|i| i["kind"] == "charge").count(), 1);

    // By user: the same conversation; a refused send shows its rule and code name.
    s.send(&template_msg(USER, "no_such_template", "en_US", json!([])))
        .await;
    let by_user = s.sim_get(&format!("inspect?user=%2B{USER}")).await.ok();
    let items = by_user["items"].as_array().unwrap();
    let refused = items
        .iter()
        .find(|i| i["rule"] == "template_exists")
        .unwrap_or_else(|| panic!("{by_user}"));
    assert_eq!(refused["code"], 132001);
    assert!(refused["code_name"].as_str().unwrap().len() > 3);
    assert!(by_user["phone_number_id"].is_null());

    // A user the mock never saw: nothing, not an error.
    let none = s.sim_get("inspect?user=6281300009999").await.ok();
    assert_eq!(none["items"], json!([]));
    // A limit keeps the newest entries and says so.
    let one = s
        .sim_get(&format!("inspect?user={USER}&limit=1"))
        .await
        .ok();
    assert_eq!(one["items"].as_array().unwrap().len(), 1);
    assert_eq!(one["truncated"], true);
    assert_eq!(one["items"][0]["rule"], "template_exists");
}

#[tokio::test]
async fn inspector_refuses_bad_queries_in_the_graph_shape() {
    let s = start_default().await;
    for (q, needle) in [
        ("inspect", "exactly one"),
        ("inspect?user=1&wamid=wamid.x", "exactly one"),
        ("inspect?wamid=wamid.bm9wZQ", "wamid: 'wamid.bm9wZQ'"),
        ("inspect?user=abc", "user: 'abc'"),
        ("inspect?user=1&limit=0", "limit: '0'"),
        ("inspect?user=1&limit=99999", "limit: '99999'"),
    ] {
        let r = s.sim_get(q).await;
        let e = assert_graph_error(&r, 400, 100);
        assert!(details(&e).contains(needle), "{q}: {e}");
    }
}

/// `wabasim run --dashboard` prints the embedded server's dashboard URL, and its ticks carry the
/// generator's samples: asked and achieved rates, latency percentiles, counts by class.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_dashboard_streams_the_generators_samples() {
    use std::io::BufRead;
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quickstart.toml");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wabasim"))
        .args([
            "run",
            scenario,
            "--dashboard",
            "--metrics-listen",
            "127.0.0.1:0",
            "--duration",
            "20s",
            "--quiet",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start wabasim run");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stderr = child.stderr.take().unwrap();
    let _child = Kill(child);
    // Read stderr on a thread (to its end, so the child never blocks on a full pipe).
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let (mut url, mut metrics) = (None, None);
    while url.is_none() || metrics.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("run printed no dashboard or metrics URL in time");
        if let Some(rest) = line.strip_prefix("wabasim: dashboard on ") {
            url = Some(rest.trim().to_string());
        }
        if let Some(rest) = line.strip_prefix("wabasim: generator metrics on ") {
            metrics = Some(rest.trim().to_string());
        }
    }
    let (url, metrics) = (url.unwrap(), metrics.unwrap());
    let base = url.strip_suffix("/_sim/ui").expect("URL ends in /_sim/ui");

    let mut stream = Stream::open_at(base).await;
    let mut seen: Vec<Value> = Vec::new();
    let start = Instant::now();
    while seen.len() < 3 {
        let t = stream.tick().await;
        seen.extend(t["load"].as_array().cloned().unwrap_or_default());
        assert!(start.elapsed() < Duration::from_secs(15), "ticks: {seen:?}");
    }
    let last = seen.last().unwrap();
    assert!(last["requests"]["ok"].as_u64().unwrap() > 0, "{last}");
    assert!(last["achieved_rate"].as_f64().unwrap() > 0.0, "{last}");
    assert!(last["target_rate"].as_f64().unwrap() > 0.0, "{last}");
    assert!(last["p99_ms"].as_f64().unwrap() >= last["p50_ms"].as_f64().unwrap());
    assert!(!last["phase"].as_str().unwrap().is_empty());
    let seqs: Vec<u64> = seen.iter().map(|s| s["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "each sample once: {seqs:?}"
    );
    let first_ok = seen[0]["requests"]["ok"].as_u64().unwrap();
    assert!(
        last["requests"]["ok"].as_u64().unwrap() > first_ok,
        "counts grow"
    );
    // The generator's own Prometheus endpoint shows the same counts as counters.
    let addr = metrics
        .strip_prefix("http://")
        .and_then(|m| m.strip_suffix("/metrics"))
        .expect("http://ADDR/metrics");
    let text = {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        s
    };
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let ok: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("wabasim_load_requests_total{class=\"ok\"} "))
        .expect("ok counter")
        .parse()
        .unwrap();
    assert!(ok >= first_ok, "{text}");
    assert!(
        text.contains("# TYPE wabasim_load_achieved_rate gauge"),
        "{text}"
    );
}

#[test]
fn run_dashboard_needs_the_embedded_server() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wabasim"))
        .args([
            "run",
            concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quickstart.toml"),
            "--dashboard",
            "--target",
            "http://127.0.0.1:9",
        ])
        .output()
        .expect("run wabasim");
    assert_eq!(out.status.code(), Some(2), "usage error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--dashboard needs the embedded server"),
        "{err}"
    );
}
