//! The Media API over HTTP (issue 17 item 1) and the Graph envelope fixes (item 6): upload,
//! retrieve, download, delete, business scoping, limits, retention, sends by media id.
//! Facts: docs/policy-model.md § Media.

use crate::common::*;
use hyper::Method;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const DAY: f64 = 86_400.0;

/// Uploads `data` as a PNG with the default token; returns the media id.
async fn upload_png(s: &TestServer, data: &[u8]) -> String {
    let v = s
        .upload(TOKEN, PHONE, "image/png", Some("image/png"), data)
        .await
        .ok();
    v["id"].as_str().expect("id is a string").to_string()
}

/// The path and query of an absolute URL on the test server.
fn local_path(s: &TestServer, url: &str) -> String {
    url.strip_prefix(&s.base)
        .unwrap_or_else(|| panic!("{url} is not on {}", s.base))
        .to_string()
}

fn media_send(kind: &str, obj: Value) -> Value {
    json!({"messaging_product":"whatsapp","to":USER,"type":kind, kind: obj})
}

/// Sends `body`, expects the 200, and returns whether the message then failed with 131053
/// (rule `media_available`) in the decision log.
async fn failed_with_131053(s: &TestServer, body: &Value) -> bool {
    let v = s.send(body).await.ok();
    let wamid = v["messages"][0]["id"].as_str().unwrap().to_string();
    s.all_events().await.iter().any(|e| {
        e["wamid"] == wamid.as_str() && e["code"] == 131053 && e["rule"] == "media_available"
    })
}

#[tokio::test]
async fn upload_get_download_delete_round_trip() {
    let s = start_default().await;
    let data: Vec<u8> = (0..5_000u32).map(|i| (i % 251) as u8).collect();
    let id = upload_png(&s, &data).await;
    assert!(
        id.bytes().all(|b| b.is_ascii_digit()) && id.len() >= 15,
        "{id}"
    );

    let v = s.get(&format!("/v23.0/{id}")).await.ok();
    assert_eq!(v["messaging_product"], "whatsapp");
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["mime_type"], "image/png");
    assert_eq!(v["file_size"], "5000", "a string, as Meta sends it");
    assert_eq!(v["sha256"], hex::encode(Sha256::digest(&data)));
    let url = v["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!(
            "{}/whatsapp_business/attachments/?mid={id}&ext=",
            s.base
        )),
        "{url}"
    );

    // The bytes, with the token; without it, Graph's 190.
    let path = local_path(&s, url);
    let r = s.get(&path).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "image/png");
    assert_eq!(&r.body[..], &data[..]);
    let r = s.request(Method::GET, &path, None, None).await;
    assert_graph_error(&r, 401, 190);
    let r = s
        .request(Method::GET, &path, Some("not-a-token"), None)
        .await;
    assert_graph_error(&r, 401, 190);
    // An edited URL does not download.
    let r = s.get(&path.replace("hash=AT", "hash=XX")).await;
    assert_eq!(r.status, 404);

    // `?phone_number_id=` must name the number the media was uploaded on.
    s.get(&format!("/v23.0/{id}?phone_number_id={PHONE}"))
        .await
        .ok();
    let r = s.get(&format!("/v23.0/{id}?phone_number_id=123")).await;
    assert_eq!(assert_graph_error(&r, 400, 100)["error_subcode"], 33);

    let v = s.delete(&format!("/v23.0/{id}")).await.ok();
    assert_eq!(v, json!({"success": true}));
    let r = s.get(&format!("/v23.0/{id}")).await;
    let e = assert_graph_error(&r, 400, 100);
    assert_eq!(e["error_subcode"], 33);
    assert!(e["message"]
        .as_str()
        .unwrap()
        .starts_with(&format!("Unsupported get request. Object with ID '{id}'")));
    let r = s.delete(&format!("/v23.0/{id}")).await;
    assert_eq!(assert_graph_error(&r, 400, 100)["error_subcode"], 33);
    assert_eq!(
        s.get(&path).await.status,
        404,
        "deleted media do not download"
    );

    // `/metrics` counts the Media API under its own label.
    let m = s.request(Method::GET, "/metrics", None, None).await.text();
    assert!(
        m.contains(r#"wabasim_http_requests_total{route="media",status="200"}"#),
        "{m}"
    );
    assert!(m.contains(r#"wabasim_http_requests_total{route="media",status="404"}"#));
}

#[tokio::test]
async fn the_url_lives_five_minutes() {
    let s = start_default().await;
    let id = upload_png(&s, b"png bytes").await;
    let v = s.get(&format!("/v23.0/{id}")).await.ok();
    let path = local_path(&s, v["url"].as_str().unwrap());
    s.advance(299.0).await;
    assert_eq!(s.get(&path).await.status, 200);
    s.advance(2.0).await;
    assert_eq!(s.get(&path).await.status, 404, "expired URL");
    // A fresh URL works again.
    let v = s.get(&format!("/v23.0/{id}")).await.ok();
    let path = local_path(&s, v["url"].as_str().unwrap());
    assert_eq!(s.get(&path).await.status, 200);
}

const TWO_BUSINESSES: &str = r#"
[[businesses]]
id = "200000000000001"
name = "Alpha"
tokens = ["token-alpha"]
[[businesses.wabas]]
id = "200000000000011"
name = "Alpha WABA"
[[businesses.wabas.phone_numbers]]
id = "200000000000111"
display_phone_number = "+62 812-1111-0001"
verified_name = "Alpha"

[[businesses]]
id = "200000000000002"
name = "Beta"
tokens = ["token-beta"]
[[businesses.wabas]]
id = "200000000000022"
name = "Beta WABA"
[[businesses.wabas.phone_numbers]]
id = "200000000000222"
display_phone_number = "+62 812-2222-0001"
verified_name = "Beta"
"#;

/// Media ids belong to the uploading business: another business's token gets Graph's "object
/// does not exist" (100/33), its downloads a 404, and it cannot upload on a number not its own.
#[tokio::test]
async fn media_are_scoped_to_the_uploading_business() {
    let s = start_scenario(TWO_BUSINESSES).await;
    let alpha_phone = "200000000000111";
    let v = s
        .upload(
            "token-alpha",
            alpha_phone,
            "application/pdf",
            None,
            b"%PDF-1.4",
        )
        .await
        .ok();
    let id = v["id"].as_str().unwrap().to_string();
    let path = format!("/v23.0/{id}");
    let beta = Some("token-beta");
    let r = s.request(Method::GET, &path, beta, None).await;
    assert_eq!(assert_graph_error(&r, 400, 100)["error_subcode"], 33);
    let r = s.request(Method::DELETE, &path, beta, None).await;
    assert_eq!(assert_graph_error(&r, 400, 100)["error_subcode"], 33);
    let v = s
        .request(Method::GET, &path, Some("token-alpha"), None)
        .await
        .ok();
    assert_eq!(
        v["mime_type"], "application/pdf",
        "the type came from the file part"
    );
    let url = local_path(&s, v["url"].as_str().unwrap());
    assert_eq!(s.request(Method::GET, &url, beta, None).await.status, 404);
    let r = s
        .request(Method::GET, &url, Some("token-alpha"), None)
        .await;
    assert_eq!(&r.body[..], b"%PDF-1.4");
    // Beta uploading on Alpha's number: the number's permission error, as for sends.
    let r = s
        .upload("token-beta", alpha_phone, "image/png", None, b"x")
        .await;
    assert_graph_error(&r, 403, 200);
}

#[tokio::test]
async fn uploads_refuse_bad_types_sizes_and_missing_parts() {
    let s = start_default().await;
    // Unsupported MIME: Graph's synchronous #100 with the list of types.
    let r = s
        .upload(TOKEN, PHONE, "image/gif", Some("image/gif"), b"GIF89a")
        .await;
    let e = assert_graph_error(&r, 400, 100);
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.starts_with(
            "(#100) Param file must be a file with one of the following types: audio/aac"
        ),
        "{msg}"
    );
    // Over the per-type maximum (image: 5 MB).
    let big = vec![0u8; (5 << 20) + 1];
    let r = s
        .upload(TOKEN, PHONE, "image/jpeg", Some("image/jpeg"), &big)
        .await;
    let e = assert_graph_error(&r, 400, 100);
    assert!(details(&e).contains("at most 5242880 bytes"), "{e}");
    // The same bytes as a document are fine (100 MB).
    s.upload(TOKEN, PHONE, "application/pdf", None, &big)
        .await
        .ok();
    // Stickers: 500 KB.
    let r = s
        .upload(TOKEN, PHONE, "image/webp", None, &vec![0u8; 500 * 1024 + 1])
        .await;
    assert_graph_error(&r, 400, 100);

    // Missing parts.
    let (ct, body) = multipart(&[("file", Some("image/png"), b"x".to_vec())]);
    let path = format!("/v23.0/{PHONE}/media");
    let r = s
        .request_typed(Method::POST, &path, Some(TOKEN), &ct, body)
        .await;
    let e = assert_graph_error(&r, 400, 100);
    assert!(details(&e).contains("messaging_product"), "{e}");
    let (ct, body) = multipart(&[("messaging_product", None, b"whatsapp".to_vec())]);
    let r = s
        .request_typed(Method::POST, &path, Some(TOKEN), &ct, body)
        .await;
    let e = assert_graph_error(&r, 400, 100);
    assert!(details(&e).contains("parameter file is required"), "{e}");
    // Not multipart at all, or a broken body: Graph's #100, never a panic.
    let r = s
        .post(&path, &json!({"messaging_product": "whatsapp"}))
        .await;
    assert_graph_error(&r, 400, 100);
    let r = s
        .request_typed(
            Method::POST,
            &path,
            Some(TOKEN),
            "multipart/form-data; boundary=abc",
            b"--abc\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ntrunc".to_vec(),
        )
        .await;
    assert_graph_error(&r, 400, 100);
    // No token: 190 before the body is read.
    let (ct, body) = multipart(&[("file", Some("image/png"), b"x".to_vec())]);
    let r = s.request_typed(Method::POST, &path, None, &ct, body).await;
    assert_graph_error(&r, 401, 190);
    // Wrong methods on the edge: "unsupported" (100/33).
    let r = s.get(&path).await;
    assert_eq!(assert_graph_error(&r, 400, 100)["error_subcode"], 33);
}

/// The upload route's body limit is `--max-media-bytes` (plus framing), not the 1 MiB of
/// other routes; past it, 413.
#[tokio::test]
async fn the_upload_body_limit_is_the_media_limit() {
    let s = start_server(None, &["--max-media-bytes", "2000000"]).await;
    let two_mib_less = vec![1u8; 1_900_000];
    s.upload(TOKEN, PHONE, "image/png", None, &two_mib_less)
        .await
        .ok();
    let r = s
        .upload(TOKEN, PHONE, "application/pdf", None, &vec![1u8; 2_100_000])
        .await;
    assert_eq!(r.status, 413, "{}", r.text());
    let r = s
        .upload(TOKEN, PHONE, "application/pdf", None, &vec![1u8; 2_010_000])
        .await;
    assert_graph_error(&r, 400, 100);
}

#[tokio::test]
async fn the_store_is_bounded() {
    let s = start_server(
        None,
        &["--media-store-bytes", "3000", "--media-store-entries", "2"],
    )
    .await;
    let a = upload_png(&s, &[0u8; 2_000]).await;
    let r = s
        .upload(TOKEN, PHONE, "image/png", None, &[0u8; 1_500])
        .await;
    let e = assert_graph_error(&r, 503, 2);
    assert!(details(&e).contains("--media-store-bytes"), "{e}");
    upload_png(&s, &[0u8; 500]).await;
    let r = s.upload(TOKEN, PHONE, "image/png", None, &[0u8; 10]).await;
    let e = assert_graph_error(&r, 503, 2);
    assert!(details(&e).contains("--media-store-entries"), "{e}");
    s.delete(&format!("/v23.0/{a}")).await.ok();
    upload_png(&s, &[0u8; 10]).await;
}

/// Uploaded media are kept 30 days (simulated time), then they are gone.
#[tokio::test]
async fn media_expire_after_thirty_days() {
    let s = start_default().await;
    let id = upload_png(&s, b"png").await;
    s.advance(29.0 * DAY).await;
    s.get(&format!("/v23.0/{id}")).await.ok();
    s.advance(DAY).await;
    let r = s.get(&format!("/v23.0/{id}")).await;
    assert_eq!(assert_graph_error(&r, 400, 100)["error_subcode"], 33);
    s.inbound(USER, "still there?").await;
    assert!(failed_with_131053(&s, &media_send("image", json!({"id": id}))).await);
}

/// A send by media `id` must name media this business keeps: otherwise it is accepted and then
/// fails with 131053 (a failed status), as Meta reports media failures in sends. By `link` it
/// is not checked.
#[tokio::test]
async fn sends_by_unusable_media_ids_fail_with_131053() {
    let s = start_default().await;
    s.inbound(USER, "hi").await;
    let unknown = media_send("image", json!({"id": "1037000000099999"}));
    assert!(failed_with_131053(&s, &unknown).await);

    let id = upload_png(&s, b"png").await;
    let by_id = media_send("image", json!({"id": id, "caption": "ok"}));
    assert!(!failed_with_131053(&s, &by_id).await);
    let by_link = media_send("document", json!({"link": "https://example.com/a.pdf"}));
    assert!(!failed_with_131053(&s, &by_link).await);

    s.delete(&format!("/v23.0/{id}")).await.ok();
    assert!(failed_with_131053(&s, &media_send("image", json!({"id": id}))).await);
    assert!(failed_with_131053(&s, &media_send("sticker", json!({"id": "x"}))).await);
}

/// `--media-id-errors sync`: refused at once with Graph's "object does not exist" (100/33).
#[tokio::test]
async fn sync_media_id_errors_refuse_at_once() {
    let s = start_server(None, &["--media-id-errors", "sync"]).await;
    s.inbound(USER, "hi").await;
    let r = s
        .send(&media_send("image", json!({"id": "1037000000099999"})))
        .await;
    let e = assert_graph_error(&r, 400, 100);
    assert_eq!(e["error_subcode"], 33);
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("'1037000000099999'"));
    let id = upload_png(&s, b"png").await;
    s.send(&media_send("image", json!({"id": id}))).await.ok();
}

// ----- Envelope fixes (issue 17 item 6) ------------------------------------------------------

/// `(#2500)` names the unknown components after the node, with no `error_data`.
#[tokio::test]
async fn unknown_paths_name_their_components() {
    let s = start_default().await;
    let r = s.get(&format!("/v23.0/{PHONE}/foo/bar")).await;
    let e = assert_graph_error(&r, 400, 2500);
    assert_eq!(e["message"], "Unknown path components: /foo/bar");
    assert!(e.get("error_data").is_none(), "{e}");
}

/// Graph refuses a JSON array as a message, and takes form-encoded sends.
#[tokio::test]
async fn array_bodies_are_refused_and_forms_accepted() {
    let s = start_default().await;
    s.inbound(USER, "hi").await;
    let path = format!("/v23.0/{PHONE}/messages");
    let r = s
        .request(
            Method::POST,
            &path,
            Some(TOKEN),
            Some(br#"["whatsapp","individual","6281300000001","text"]"#.to_vec()),
        )
        .await;
    let e = assert_graph_error(&r, 400, 100);
    assert!(e.get("error_data").is_none());
    let form = format!(
        "messaging_product=whatsapp&to={USER}&type=text&text=%7B%22body%22%3A%22hello%22%7D"
    );
    let v = s
        .request_typed(
            Method::POST,
            &path,
            Some(TOKEN),
            "application/x-www-form-urlencoded",
            form.into_bytes(),
        )
        .await
        .ok();
    assert_eq!(v["contacts"][0]["input"], USER);
}

/// Two servers do not hand out the same trace ids.
#[tokio::test]
async fn trace_ids_differ_between_servers() {
    let a = start_default().await;
    let b = start_default().await;
    let ta = a.get(&format!("/v23.0/{PHONE}")).await.headers["x-fb-trace-id"].clone();
    let tb = b.get(&format!("/v23.0/{PHONE}")).await.headers["x-fb-trace-id"].clone();
    assert_ne!(ta, tb);
}
