//! `[pricing]` of a scenario. The section is defined by the pricing module, which turns it into
//! a pricer configuration (see [`crate::pricing::section`]); it is re-exported here so the
//! scenario format reads as one tree.

pub use crate::pricing::section::{FieldError, PricingSection};
