//! Webhook delivery. (Temporary minimal outbox until the full dispatcher lands.)

use crate::clock::Clock;
use crate::engine::events::Event;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub url: Option<String>,
    pub app_secret: String,
    pub verify_token: String,
    pub api_version: String,
    pub batch_max: usize,
    pub max_in_flight: usize,
    pub retry_initial_s: u64,
    pub retry_max_s: u64,
    pub horizon_s: u64,
    pub timeout_ms: u64,
    pub max_pending: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            url: None,
            app_secret: String::new(),
            verify_token: String::new(),
            api_version: "v23.0".into(),
            batch_max: 1,
            max_in_flight: 32,
            retry_initial_s: 1,
            retry_max_s: 3600,
            horizon_s: 7 * 86400,
            timeout_ms: 5000,
            max_pending: 1_000_000,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct WebhookStats {
    pub no_url: u64,
}

#[derive(Clone)]
pub struct Outbox {
    no_url: Arc<AtomicU64>,
}

impl Outbox {
    pub fn push(&self, events: &mut Vec<Event>) {
        self.no_url
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        events.clear();
    }
    pub fn stats(&self) -> WebhookStats {
        WebhookStats {
            no_url: self.no_url.load(Ordering::Relaxed),
        }
    }
}

pub fn start(_cfg: WebhookConfig, _clock: Arc<Clock>) -> (Outbox, tokio::task::JoinHandle<()>) {
    (
        Outbox {
            no_url: Arc::new(AtomicU64::new(0)),
        },
        tokio::spawn(async {}),
    )
}

pub async fn verify_endpoint(_cfg: &WebhookConfig) -> Result<(), String> {
    Ok(())
}
