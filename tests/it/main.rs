//! The integration tests of wabasim, in one test binary (one link of the crate and its
//! dependencies instead of one per file). Each module is a former `tests/<name>.rs`; run one
//! with `cargo test --test it <module>::`.
//!
//! Tests run on parallel threads of this one process: each starts its own server on
//! `127.0.0.1:0`, writes temporary files under names unique to it, and none sets environment
//! variables, changes the current directory or installs a global tracing subscriber.

mod common;

mod block_http;
mod bsuid_http;
mod contact_book_http;
mod contract_openapi;
mod dashboard_browser;
mod dashboard_http;
mod durable;
mod dynamics_http;
mod generated_world;
mod hardening;
mod inbound_media_http;
mod library;
mod load_e2e;
mod marketing_messages_http;
mod media_http;
mod onboarding_http;
mod pacing_http;
mod parent_bsuid_http;
mod partitions;
mod policy_http;
mod pricing_cli;
mod pricing_models;
mod pricing_recategorise;
mod pricing_server;
mod properties;
mod run_embedded;
mod scale_out;
mod server_http;
mod simulate;
mod usage_http;
mod webhooks_delivery;
mod webhooks_load;
