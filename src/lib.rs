//! wabasim: a load-testing simulator of the WhatsApp Business Platform.
//!
//! Layout (one engine, two clocks, three doors):
//! - [`engine`]: the sans-I/O policy engine. World state and rules as plain data; every call
//!   takes `now` and returns decisions plus the events they caused.
//! - [`clock`]: simulated instants and the clocks that drive the engine (wall, scaled, manual).
//! - [`scenario`]: the TOML scenario format (world + traffic), parsed and validated.
//! - [`server`]: the hyper front door speaking the Graph API wire format, the `/_sim` control API
//!   and `/metrics`.
//! - [`webhooks`]: serialisation, signing and delivery (with retries) of engine events.
//! - [`pricing`]: pricing models, rate cards and the ledger.
//! - [`load`]: the scenario-driven load generator.
pub mod clock;
pub mod cmd;
pub mod engine;
pub mod load;
pub mod pricing;
pub mod render;
pub mod scenario;
pub mod server;
pub mod simulate;
pub mod traffic;
pub mod webhooks;
