//! The core's test and bench harness: validate and build a world from a description and drive
//! it with an explicit `now`, collecting what it did in an [`Effects`](super::Effects). Core
//! tests and benches build their worlds through here, so a change to how worlds are built is
//! made once.

use super::build::Setup;
pub use super::config::RulesConfig;
pub use super::ids::{BusinessId, PhoneNumberId, TemplateId};
pub use super::message::Outbound;
pub use super::policy::PolicyConfig;
pub use super::templates::TemplateRequest;
use super::validate::{InvalidWorld, ValidWorld};
use super::world::WorldSpec;
#[cfg(test)]
use super::PortfolioCell;
pub use super::{Portfolios, Sink};
pub use crate::clock::SimTime;

/// The world `spec` with `rules`, default policy and pricing, built at `now`.
pub fn build_world(
    spec: &WorldSpec,
    rules: RulesConfig,
    seed: u64,
    now: SimTime,
) -> Result<Portfolios, InvalidWorld> {
    build_world_with_policy(spec, rules, PolicyConfig::default(), seed, now)
}

/// As [`build_world`], with explicit platform-dynamics knobs. The world is validated first:
/// a test of a refusal gets every problem.
pub fn build_world_with_policy(
    spec: &WorldSpec,
    rules: RulesConfig,
    policy: PolicyConfig,
    seed: u64,
    now: SimTime,
) -> Result<Portfolios, InvalidWorld> {
    let setup = Setup {
        rules,
        policy,
        seed,
        ..Setup::default()
    };
    let world = ValidWorld::new(spec.clone(), setup)?;
    Ok(Portfolios::new(&world, now))
}

#[cfg(test)]
/// Runs `f` on phone number `id`'s state (for tests of the core's own bookkeeping).
pub(super) fn with_number<R>(
    e: &Portfolios,
    id: PhoneNumberId,
    f: impl FnOnce(&super::number::Number) -> R,
) -> R {
    let i = e.directory().number(id).expect("a number of the world");
    let p = e.cells()[i].lock();
    f(&p.numbers[p.index(id).expect("a number of its portfolio")])
}
