//! The baseline of the loopback benchmark: a minimal hyper server that answers every request
//! with a fixed send-message JSON. `wabasim serve` is compared against it (see
//! `benches/loopback/run.sh`).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use std::convert::Infallible;

const BODY: &[u8] = br#"{"messaging_product":"whatsapp","contacts":[{"input":"6281300000001","wa_id":"6281300000001"}],"messages":[{"id":"wamid.HBgNNjI4MTMwMDAwMDAwMRUCABEYFDg0RUEwMDAwMDAwMDAwMDAwMDAxAA=="}]}"#;

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18181".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    eprintln!("fixed JSON server on http://{addr}");
    loop {
        let (stream, _) = listener.accept().await.expect("accept");
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(
                |req: hyper::Request<hyper::body::Incoming>| async move {
                    // Read the body like the real server does, so both pay for it.
                    let _ = req.into_body().collect().await;
                    let mut r = hyper::Response::new(Full::new(Bytes::from_static(BODY)));
                    r.headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    Ok::<_, Infallible>(r)
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}
