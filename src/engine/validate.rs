//! [`ValidWorld`]: a world description with every check that building it needs already made.
//!
//! The core builds only from a `ValidWorld` ([`build`](super::build::build),
//! [`Portfolios::new`](super::Portfolios::new)), so building cannot fail and the core never
//! reads or checks a file format. The type lives here, with the data it guards, but making one
//! is the scenario's job: `scenario` turns a file into a world and a [`Setup`], calls
//! [`ValidWorld::new`] and maps each [`WorldError`] to `file: field: message`.
//!
//! [`ValidWorld::new`] is the one place a world is checked: rule, policy and audience ranges
//! and segments, unique ids and tokens, one template per name and language, template
//! placeholders, display numbers, throughputs and the pricing section against the rate cards.
//! It reports every problem, each with its field path, not just the first.

use super::build::Setup;
use super::charging::{embedded_book, Charging};
use super::events::DisplayNumber;
use super::ids::{BusinessId, PhoneNumberId, TemplateId, WabaId};
use super::templates::{Lookup, Template, TemplateBook};
use super::world::{BusinessSpec, WabaSpec, WorldSpec};
use crate::clock::SimTime;
use crate::pricing::RateBook;
use std::collections::HashSet;
use std::sync::Arc;

/// A problem in a world description, naming the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct WorldError {
    pub field: String,
    pub message: String,
}

pub(super) fn world_err(field: impl Into<String>, message: impl Into<String>) -> WorldError {
    WorldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Every problem of a world that failed validation, in the order of its description (never
/// empty); shown one per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidWorld(pub Vec<WorldError>);

impl std::fmt::Display for InvalidWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InvalidWorld {}

/// Ids of templates created through the API start here (scenario ids are far below); a
/// template the description leaves without an id gets the next one up from here.
pub(super) const API_TEMPLATE_IDS: u64 = 1_000_000_000_000_000;

/// A world that builds: made only by [`ValidWorld::new`], which checked everything building
/// it needs.
#[derive(Clone, Debug)]
pub struct ValidWorld {
    /// The description, every template given its id.
    world: WorldSpec,
    setup: Setup,
    /// The embedded rate cards, parsed once for the check and reused by the build.
    book: Arc<RateBook>,
    /// The last template id handed out to a template declared without one.
    last_template_id: u64,
}

impl ValidWorld {
    /// Checks `world` built with `setup`; every problem found, each naming its field.
    pub fn new(mut world: WorldSpec, setup: Setup) -> Result<ValidWorld, InvalidWorld> {
        let mut p = Problems::default();
        p.check(setup.rules.validate());
        p.check(setup.policy.validate());
        p.check(world.audience.validate());
        for (field, message) in world.audience.segment_problems() {
            p.push(world_err(field, message));
        }
        let book = embedded_book().map_err(|e| InvalidWorld(vec![e]))?;
        let mut ids = Ids::default();
        let mut last_template_id = API_TEMPLATE_IDS;
        for (bi, b) in world.businesses.iter_mut().enumerate() {
            let bf = format!("businesses[{bi}]");
            ids.check(&mut p, &bf, b);
            for (wi, w) in b.wabas.iter_mut().enumerate() {
                let wf = format!("{bf}.wabas[{wi}]");
                templates(&mut p, &mut ids.templates, &mut last_template_id, &wf, w);
                numbers(&mut p, &wf, w);
            }
            let currencies = b.wabas.iter().map(|w| (w.id, w.currency.as_str()));
            if let Err(e) = Charging::new(book.clone(), &setup.pricing, currencies) {
                p.push(e);
            }
        }
        if !p.0.is_empty() {
            return Err(InvalidWorld(p.0));
        }
        Ok(ValidWorld {
            world,
            setup,
            book,
            last_template_id,
        })
    }

    /// The description, with every template's id filled in.
    pub fn world(&self) -> &WorldSpec {
        &self.world
    }

    /// The rules, policy, pricing and seed it is built with.
    pub fn setup(&self) -> &Setup {
        &self.setup
    }

    pub(super) fn book(&self) -> &Arc<RateBook> {
        &self.book
    }

    /// The last template id handed out during validation (API-created ids follow).
    pub(super) fn last_template_id(&self) -> u64 {
        self.last_template_id
    }
}

/// The problems found so far; one already reported (the same pricing problem in every
/// business, say) is not repeated.
#[derive(Default)]
struct Problems(Vec<WorldError>);

impl Problems {
    fn push(&mut self, e: WorldError) {
        if !self.0.contains(&e) {
            self.0.push(e);
        }
    }

    fn check(&mut self, r: Result<(), (String, String)>) {
        if let Err((field, message)) = r {
            self.push(WorldError { field, message });
        }
    }
}

/// Ids and tokens seen so far: each names one object in the whole world.
#[derive(Default)]
struct Ids {
    businesses: HashSet<BusinessId>,
    tokens: HashSet<String>,
    wabas: HashSet<WabaId>,
    numbers: HashSet<PhoneNumberId>,
    templates: HashSet<TemplateId>,
}

impl Ids {
    /// Business `b` (field `bf`): its id, tokens, WABA and number ids are not taken yet.
    fn check(&mut self, p: &mut Problems, bf: &str, b: &BusinessSpec) {
        if !self.businesses.insert(b.id) {
            p.push(world_err(
                format!("{bf}.id"),
                format!("duplicate id {}", b.id),
            ));
        }
        for (ti, t) in b.tokens.iter().enumerate() {
            if t.is_empty() {
                p.push(world_err(format!("{bf}.tokens[{ti}]"), "empty token"));
            } else if !self.tokens.insert(t.clone()) {
                p.push(world_err(
                    format!("{bf}.tokens[{ti}]"),
                    "token already belongs to a business",
                ));
            }
        }
        for (wi, w) in b.wabas.iter().enumerate() {
            let wf = format!("{bf}.wabas[{wi}]");
            if !self.wabas.insert(w.id) {
                p.push(world_err(
                    format!("{wf}.id"),
                    format!("duplicate id {}", w.id),
                ));
            }
            for (pi, n) in w.phone_numbers.iter().enumerate() {
                if !self.numbers.insert(n.id) {
                    p.push(world_err(
                        format!("{wf}.phone_numbers[{pi}].id"),
                        format!("duplicate id {}", n.id),
                    ));
                }
            }
        }
    }
}

/// The templates of WABA `w` (field `wf`): each gets its id (the next one up for those
/// declared without), which no other template has; one per name and language; placeholders
/// that parse (the same conversion the build makes).
fn templates(
    p: &mut Problems,
    seen: &mut HashSet<TemplateId>,
    last_id: &mut u64,
    wf: &str,
    w: &mut WabaSpec,
) {
    let waba = w.id;
    let mut book = TemplateBook::default();
    for (ti, t) in w.templates.iter_mut().enumerate() {
        let tf = format!("{wf}.templates[{ti}]");
        let id = *t.id.get_or_insert_with(|| {
            *last_id += 1;
            TemplateId(*last_id)
        });
        if !seen.insert(id) {
            p.push(world_err(format!("{tf}.id"), format!("duplicate id {id}")));
        }
        if matches!(book.find(&t.name, &t.language), Lookup::Found(_)) {
            p.push(world_err(
                format!("{tf}.name"),
                format!("'{}' already exists in {}", t.name, t.language),
            ));
            continue;
        }
        if let Some(r) = &t.recategorise {
            recategorise(p, &format!("{tf}.recategorise"), t.category, r);
        }
        match Template::from_spec(t, id, waba, SimTime::ZERO) {
            Ok(tpl) => book.insert(tpl),
            Err(m) => p.push(world_err(tf, m)),
        }
    }
}

/// A scheduled recategorisation (field `f`) of a template of category `from`: it must change
/// the category, and only to MARKETING or UTILITY (a template that should be authentication is
/// rejected by Meta, not recategorised [M:categ]).
fn recategorise(
    p: &mut Problems,
    f: &str,
    from: super::world::TemplateCategory,
    r: &super::world::Recategorise,
) {
    use super::world::TemplateCategory;
    if r.to == from {
        p.push(world_err(
            format!("{f}.to"),
            format!("the template is already {}", from.as_str()),
        ));
    } else if r.to == TemplateCategory::Authentication {
        p.push(world_err(
            format!("{f}.to"),
            "Meta recategorises only to MARKETING or UTILITY (a template that should be AUTHENTICATION is rejected instead)",
        ));
    }
    if r.notice_hours > 24 * 31 {
        p.push(world_err(
            format!("{f}.notice_hours"),
            format!("{} is more than 744 (31 days)", r.notice_hours),
        ));
    }
}

/// The phone numbers of WABA `w` (field `wf`): a display number the webhooks can carry, and a
/// throughput of at least one message a second (the rules' default is checked with the rules).
fn numbers(p: &mut Problems, wf: &str, w: &WabaSpec) {
    for (pi, n) in w.phone_numbers.iter().enumerate() {
        let pf = format!("{wf}.phone_numbers[{pi}]");
        if display_number(&n.display_phone_number).is_none() {
            p.push(world_err(
                format!("{pf}.display_phone_number"),
                format!(
                    "needs 5 to {} digits, not starting with 0",
                    DisplayNumber::MAX_DIGITS
                ),
            ));
        }
        if n.throughput_mps == Some(0) {
            p.push(world_err(
                format!("{pf}.throughput_mps"),
                "must be at least 1",
            ));
        }
        if n.coexistence && n.throughput_mps.is_some_and(|m| m != COEXISTENCE_MPS) {
            p.push(world_err(
                format!("{pf}.throughput_mps"),
                format!(
                    "a coexistence number is fixed at {COEXISTENCE_MPS} msg/s; leave throughput_mps out"
                ),
            ));
        }
    }
}

/// Throughput of a number shared with the WhatsApp Business app (coexistence): fixed, never
/// upgraded [M:throughput] (cloud-api.md §4, cloud-api-2026.md §9).
pub const COEXISTENCE_MPS: u32 = 20;

/// The display number of `text` (its digits, 5 or more, not starting with 0).
pub(super) fn display_number(text: &str) -> Option<DisplayNumber> {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    DisplayNumber::parse(&digits).filter(|_| digits.len() >= 5)
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
