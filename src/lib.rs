//! wabasim: a load-testing simulator of the WhatsApp Business Platform.
//!
//! Modules, top to bottom; each imports only modules below it (`scripts/deps.sh` checks this):
//! - [`cmd`]: the command line, one module per subcommand; the only layer that imports the doors.
//! - [`server`]: door: the hyper mock Cloud API (Graph wire format, `/_sim` control, `/metrics`).
//! - [`load`]: door: the load generator behind `run` (HTTP client, webhook receiver, report).
//! - [`simulate`]: door: the same traffic on a virtual clock, days in seconds.
//! - [`render`]: door: HTML pages of `run` and `simulate` reports.
//! - [`webhooks`]: door: serialisation, signing and delivery (with retries) of engine events.
//! - [`scenario`]: the TOML scenario format (world + traffic), parsed and validated.
//! - [`traffic`]: the traffic model `run` and `simulate` share: plan, schedules, sender policy,
//!   and the picker that chooses each message.
//! - [`engine`]: the sans-I/O policy core: rules as plain data, every call takes `now`.
//! - [`pricing`]: pricing models, rate cards, markup and the ledger.
//! - [`clock`]: simulated instants and the clocks that drive the engine (wall, scaled, manual).
//! - [`schema`]: JSON Schema helpers for the serde types of every layer.
pub mod clock;
pub mod cmd;
pub mod engine;
pub mod load;
pub mod pricing;
pub mod render;
pub mod scenario;
pub mod schema;
pub mod server;
pub mod simulate;
pub mod traffic;
pub mod webhooks;
