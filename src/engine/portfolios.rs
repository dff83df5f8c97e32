//! [`Portfolios`]: a world's portfolios, routed to by token and id, each held in the cell its
//! door chooses.
//!
//! The simulator and the tests own a world outright (`Portfolios<RefCell<Portfolio>>`, the
//! default: no locks); the server holds each portfolio behind its own mutex, so requests for
//! different portfolios never wait for each other and requests for one are serialised, which
//! costs nothing at the platform's own rates. Either way each call locks one portfolio at a
//! time, except the world-wide reads (snapshot, cost), which lock them in index order.

use super::build::build;
use super::directory::Directory;
use super::errors::ErrorCode;
use super::events::Wamid;
use super::feedback::{ActionOutcome, UserAction};
use super::ids::{BusinessId, PhoneNumberId, TemplateId, WaId, WabaId};
use super::integrity::{self, ContactStatus, Reregistration, StandingView};
use super::message::Outbound;
use super::portfolio::{Config, Portfolio};
use super::templates::{Template, TemplateRequest};
use super::validate::ValidWorld;
use super::views::{ObjectKind, PhoneNumberView, StateSnapshot, WabaView};
use super::world::{BusinessProfile, QualityRating, TemplateCategory, TemplateStatus};
use super::{Rejection, SendReceipt, Sink};
use crate::clock::SimTime;
use crate::pricing::CostSummary;
use std::cell::{RefCell, RefMut};
use std::ops::DerefMut;

/// How a door holds one portfolio: lent out one caller at a time.
pub trait PortfolioCell {
    type Guard<'a>: DerefMut<Target = Portfolio>
    where
        Self: 'a;
    fn new(p: Portfolio) -> Self;
    fn lock(&self) -> Self::Guard<'_>;
}

/// Single-owner worlds (simulator, tests, benches): a borrow flag, no lock.
impl PortfolioCell for RefCell<Portfolio> {
    type Guard<'a> = RefMut<'a, Portfolio>;
    fn new(p: Portfolio) -> Self {
        RefCell::new(p)
    }
    fn lock(&self) -> RefMut<'_, Portfolio> {
        self.borrow_mut()
    }
}

pub struct Portfolios<C: PortfolioCell = RefCell<Portfolio>> {
    directory: Directory,
    cells: Vec<C>,
    config: std::sync::Arc<Config>,
}

impl<C: PortfolioCell> Portfolios<C> {
    /// Builds the world's portfolios. `now` stamps template creation times.
    pub fn new(world: &ValidWorld, now: SimTime) -> Self {
        let (config, directory, portfolios) = build(world, now);
        Portfolios {
            directory,
            cells: portfolios.into_iter().map(C::new).collect(),
            config,
        }
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn rules(&self) -> &super::config::RulesConfig {
        &self.config.rules
    }

    pub fn policy(&self) -> &super::policy::PolicyConfig {
        &self.config.policy
    }

    pub fn audience(&self) -> &super::audience::Audience {
        &self.config.audience
    }

    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    /// Every portfolio, in the order the world declares them.
    pub fn cells(&self) -> &[C] {
        &self.cells
    }

    /// The business a bearer token acts for.
    pub fn authorize(&self, token: &str) -> Option<BusinessId> {
        self.directory.authorize(token)
    }

    /// Whether an id names a phone number, a WABA or a template (for routing `/{id}`).
    pub fn kind_of(&self, id: u64) -> Option<ObjectKind> {
        if self.directory.number(PhoneNumberId(id)).is_some() {
            Some(ObjectKind::PhoneNumber)
        } else if self.directory.waba(WabaId(id)).is_some() {
            Some(ObjectKind::Waba)
        } else if self.template_owner(TemplateId(id)).is_some() {
            Some(ObjectKind::Template)
        } else {
            None
        }
    }

    /// The WABA a phone number, WABA or template id belongs to (`None` for other ids): the key
    /// of the `X-Business-Use-Case-Usage` header a call about that object carries.
    pub fn waba_of_object(&self, id: u64) -> Option<WabaId> {
        if let Some(i) = self.directory.number(PhoneNumberId(id)) {
            let p = self.cells[i].lock();
            let n = p.index(PhoneNumberId(id)).ok()?;
            return Some(p.numbers[n].waba);
        }
        if self.directory.waba(WabaId(id)).is_some() {
            return Some(WabaId(id));
        }
        let i = self.template_owner(TemplateId(id))?;
        let waba = self.cells[i]
            .lock()
            .template(TemplateId(id))
            .map(|t| t.waba);
        waba
    }

    fn template_owner(&self, id: TemplateId) -> Option<usize> {
        self.cells
            .iter()
            .position(|c| c.lock().template(id).is_some())
    }

    /// Checks that `id` is a phone number `business` may use.
    pub fn check_number(&self, business: BusinessId, id: PhoneNumberId) -> Result<(), Rejection> {
        self.directory.number_of(business, id).map(|_| ())
    }

    /// Runs `f` on portfolio `i`, held for the call only.
    fn on<R>(&self, i: usize, f: impl FnOnce(&mut Portfolio) -> R) -> R {
        f(&mut self.cells[i].lock())
    }

    /// Runs `f` on the portfolio of number `phone`, which `business` must own.
    pub fn with_number<R>(
        &self,
        business: BusinessId,
        phone: PhoneNumberId,
        f: impl FnOnce(&mut Portfolio) -> R,
    ) -> Result<R, Rejection> {
        Ok(self.on(self.directory.number_of(business, phone)?, f))
    }

    /// Runs `f` on the portfolio of WABA `waba`, which `business` must own.
    pub fn with_waba<R>(
        &self,
        business: BusinessId,
        waba: WabaId,
        f: impl FnOnce(&mut Portfolio) -> R,
    ) -> Result<R, Rejection> {
        Ok(self.on(self.directory.waba_of(business, waba)?, f))
    }

    /// Runs `f` on the portfolio of number `phone`, whoever asks (control API, simulator).
    fn with_any_number<R>(
        &self,
        phone: PhoneNumberId,
        f: impl FnOnce(&mut Portfolio) -> R,
    ) -> Result<R, Rejection> {
        Ok(self.on(known(phone, self.directory.number(phone))?, f))
    }

    fn with_business<R>(
        &self,
        business: BusinessId,
        f: impl FnOnce(&mut Portfolio) -> R,
    ) -> Result<R, Rejection> {
        Ok(self.on(known(business, self.directory.business(business))?, f))
    }

    // ----- Messages ------------------------------------------------------------------------

    /// See [`Portfolio::send`].
    pub fn send(
        &self,
        now: SimTime,
        business: BusinessId,
        phone: PhoneNumberId,
        msg: &Outbound,
        sink: &mut impl Sink,
    ) -> Result<SendReceipt, Rejection> {
        self.with_number(business, phone, |p| p.send(now, phone, msg, sink))?
    }

    /// See [`Portfolio::block_users`].
    pub fn block_users(
        &self,
        now: SimTime,
        business: BusinessId,
        phone: PhoneNumberId,
        users: &[WaId],
        sink: &mut impl Sink,
    ) -> Result<Vec<super::blocking::UserOutcome>, Rejection> {
        self.with_number(business, phone, |p| p.block_users(now, phone, users, sink))?
    }

    /// See [`Portfolio::unblock_users`].
    pub fn unblock_users(
        &self,
        now: SimTime,
        business: BusinessId,
        phone: PhoneNumberId,
        users: &[WaId],
        sink: &mut impl Sink,
    ) -> Result<Vec<super::blocking::UserOutcome>, Rejection> {
        self.with_number(business, phone, |p| {
            p.unblock_users(now, phone, users, sink)
        })?
    }

    /// See [`Portfolio::resolve_user_id`]: in the portfolio of `phone`, which `business` owns.
    pub fn resolve_user_id(
        &self,
        business: BusinessId,
        phone: PhoneNumberId,
        text: &str,
    ) -> Result<WaId, Rejection> {
        self.with_number(business, phone, |p| p.resolve_user_id(text))?
    }

    /// See [`Portfolio::delete_contact`]; `phone` must be a number of `business`.
    pub fn delete_contact(
        &self,
        business: BusinessId,
        phone: PhoneNumberId,
        text: &str,
    ) -> Result<bool, Rejection> {
        self.with_number(business, phone, |p| p.delete_contact(text))?
    }

    /// See [`Portfolio::blocked_users`].
    pub fn blocked_users(
        &self,
        business: BusinessId,
        phone: PhoneNumberId,
    ) -> Result<Vec<WaId>, Rejection> {
        self.with_number(business, phone, |p| p.blocked_users(phone))?
    }

    /// A user writes to a business number (see [`Portfolio::inbound`]).
    pub fn inbound(
        &self,
        now: SimTime,
        phone: PhoneNumberId,
        from: WaId,
        text: &str,
        sink: &mut impl Sink,
    ) -> Result<Wamid, Rejection> {
        self.with_any_number(phone, |p| p.inbound(now, phone, from, text, false, sink))?
    }

    /// As [`Self::inbound`], for a user who came from a Click-to-WhatsApp ad or a Page CTA.
    pub fn inbound_from_ad(
        &self,
        now: SimTime,
        phone: PhoneNumberId,
        from: WaId,
        text: &str,
        sink: &mut impl Sink,
    ) -> Result<Wamid, Rejection> {
        self.with_any_number(phone, |p| p.inbound(now, phone, from, text, true, sink))?
    }

    pub fn mark_read(
        &self,
        business: BusinessId,
        phone: PhoneNumberId,
        message_id: &str,
    ) -> Result<(), Rejection> {
        self.with_number(business, phone, |p| p.mark_read(phone, message_id))?
    }

    /// Whether the customer service window between `phone` and `user` is open at `now`.
    pub fn window_open(&self, now: SimTime, phone: PhoneNumberId, user: WaId) -> bool {
        self.with_any_number(phone, |p| p.window_open(now, phone, user))
            .unwrap_or(false)
    }

    /// Makes a user react now (control API). `phone` defaults to the number that has a
    /// conversation with the user, or the only number of the world.
    pub fn user_action(
        &self,
        now: SimTime,
        phone: Option<PhoneNumberId>,
        user: WaId,
        action: UserAction,
        sink: &mut impl Sink,
    ) -> Result<ActionOutcome, Rejection> {
        let phone = match phone {
            Some(p) => p,
            None => self.number_for(user).ok_or_else(|| {
                Rejection::new(
                    ErrorCode::RequiredParameterMissing,
                    format!("phone_number_id: {user} has no conversation with any number; say which number the user reacts to."),
                )
            })?,
        };
        self.with_any_number(phone, |p| p.user_action(now, phone, user, action, sink))?
    }

    fn number_for(&self, user: WaId) -> Option<PhoneNumberId> {
        if let [only] = self.directory.numbers() {
            return Some(*only);
        }
        self.cells
            .iter()
            .find_map(|c| c.lock().number_talking_to(user))
    }

    // ----- Timers --------------------------------------------------------------------------

    /// The earliest pending timer of any portfolio.
    pub fn poll_timeout(&self) -> Option<SimTime> {
        self.cells
            .iter()
            .filter_map(|c| c.lock().poll_timeout())
            .min()
    }

    /// Fires every timer due at or before `now` in every portfolio, then delivers the
    /// re-registrations they drew to every portfolio (only timers draw them).
    pub fn handle_timeouts(&self, now: SimTime, sink: &mut impl Sink) {
        let mut drawn = Vec::new();
        for c in &self.cells {
            let mut p = c.lock();
            p.handle_timeout(now, sink);
            drawn.extend(p.take_reregistrations());
        }
        for (at, user) in drawn {
            // A wa_id the audience delivered to is a phone number: this cannot be refused.
            let _ = self.reregister(at, user, sink);
        }
    }

    /// Scheduled events not yet due (a `/metrics` gauge).
    pub fn pending_timers(&self) -> usize {
        self.cells.iter().map(|c| c.lock().pending_timers()).sum()
    }

    // ----- Identity ------------------------------------------------------------------------

    /// A user's number is re-registered: every portfolio is told (see
    /// [`Portfolio::reregister`]).
    pub fn reregister(
        &self,
        now: SimTime,
        user: WaId,
        sink: &mut impl Sink,
    ) -> Result<Reregistration, Rejection> {
        if user.0 < 10_000_000 {
            return Err(Rejection::new(
                ErrorCode::ParameterValueInvalid,
                format!("wa_id: '{user}' is not a phone number"),
            ));
        }
        // Every portfolio hears of every re-registration, so all give the same generation.
        let mut generation = 0;
        let mut notified = Vec::new();
        for c in &self.cells {
            let (g, told) = c.lock().reregister(now, user, sink);
            generation = generation.max(g);
            notified.extend(told);
        }
        notified.sort();
        Ok(integrity::reregistration(
            self.seed(),
            user,
            generation,
            notified,
        ))
    }

    /// The user's current identity: (generation, key hash).
    pub fn identity_of(&self, user: WaId) -> (u32, String) {
        let g = self
            .cells
            .first()
            .map_or(0, |c| c.lock().identity_generation(user));
        (g, integrity::identity_hash(self.seed(), user, g))
    }

    pub fn acknowledge_identity(
        &self,
        now: SimTime,
        business: BusinessId,
        user: WaId,
        hash: &str,
        sink: &mut impl Sink,
    ) -> Result<usize, Rejection> {
        self.with_business(business, |p| p.acknowledge_identity(now, user, hash, sink))?
    }

    pub fn set_identity_check(
        &self,
        business: BusinessId,
        phone: PhoneNumberId,
        on: bool,
    ) -> Result<(), Rejection> {
        self.with_number(business, phone, |p| p.set_identity_check(phone, on))?
    }

    pub fn identity_check(
        &self,
        business: BusinessId,
        phone: PhoneNumberId,
    ) -> Result<bool, Rejection> {
        self.with_number(business, phone, |p| p.identity_check(phone))?
    }

    /// Messages a number holds for identity acknowledgements.
    pub fn held_count(&self, phone: PhoneNumberId) -> usize {
        self.with_any_number(phone, |p| p.held_count(phone))
            .unwrap_or(0)
    }

    // ----- Standing and contacts -------------------------------------------------------------

    pub fn check_contacts(
        &self,
        now: SimTime,
        business: BusinessId,
        inputs: &[String],
    ) -> Result<Vec<ContactStatus>, Rejection> {
        self.with_business(business, |p| p.check_contacts(now, inputs))?
    }

    /// Lifts a portfolio's ban (control API). Returns whether it was disabled.
    /// See [`Portfolio::onboard_marketing_messages`].
    pub fn onboard_marketing_messages(
        &self,
        now: SimTime,
        business: BusinessId,
        sink: &mut impl Sink,
    ) -> Result<u64, Rejection> {
        self.with_business(business, |p| p.onboard_marketing_messages(now, sink))?
    }

    /// See [`Portfolio::marketing_messages_status`].
    pub fn marketing_messages_status(
        &self,
        business: BusinessId,
        waba: WabaId,
    ) -> Result<&'static str, Rejection> {
        self.with_waba(business, waba, |p| p.marketing_messages_status(waba))?
            .ok_or_else(|| Rejection::unknown_object(&waba.to_string()))
    }

    pub fn reinstate(
        &self,
        now: SimTime,
        business: BusinessId,
        sink: &mut impl Sink,
    ) -> Result<bool, Rejection> {
        self.with_business(business, |p| p.reinstate(now, sink))
    }

    /// Standing of every portfolio, by id.
    pub fn standings(&self) -> Vec<StandingView> {
        let mut v: Vec<StandingView> = self.cells.iter().map(|c| c.lock().standing()).collect();
        v.sort_by_key(|s| s.id);
        v
    }

    // ----- Templates -------------------------------------------------------------------------

    pub fn create_template(
        &self,
        now: SimTime,
        business: BusinessId,
        waba: WabaId,
        req: &TemplateRequest,
        sink: &mut impl Sink,
    ) -> Result<Template, Rejection> {
        self.with_waba(business, waba, |p| p.create_template(now, waba, req, sink))?
    }

    /// Templates of a WABA, in creation order.
    pub fn templates(
        &self,
        business: BusinessId,
        waba: WabaId,
    ) -> Result<Vec<Template>, Rejection> {
        self.with_waba(business, waba, |p| p.templates(waba).map(<[_]>::to_vec))?
    }

    pub fn delete_template(
        &self,
        business: BusinessId,
        waba: WabaId,
        name: &str,
        id: Option<TemplateId>,
    ) -> Result<usize, Rejection> {
        self.with_waba(business, waba, |p| p.delete_template(waba, name, id))?
    }

    /// One template by id.
    pub fn template(&self, business: BusinessId, id: TemplateId) -> Result<Template, Rejection> {
        let i = known(id, self.template_owner(id))?;
        if self.directory.business(business) != Some(i) {
            return Err(Rejection::permission(id));
        }
        // Looked up again under the lock: another caller may have deleted it in between.
        let found = self.on(i, |p| p.template(id).cloned());
        found.ok_or_else(|| Rejection::unknown_object(&id.to_string()))
    }

    /// Orders Meta's recategorisation of template `id` (control API): announced now, in effect
    /// after `notice_hours` (at once with 0). Returns when it takes effect.
    pub fn order_recategorisation(
        &self,
        now: SimTime,
        id: TemplateId,
        to: TemplateCategory,
        notice_hours: u32,
        sink: &mut impl Sink,
    ) -> Result<SimTime, Rejection> {
        let i = known(id, self.template_owner(id))?;
        self.on(i, |p| {
            p.order_recategorisation(now, id, to, notice_hours, sink)
        })
    }

    /// Sets a template's status directly (control API, scenario scripting).
    pub fn set_template_status(
        &self,
        now: SimTime,
        waba: WabaId,
        id: TemplateId,
        status: TemplateStatus,
        sink: &mut impl Sink,
    ) -> Result<(), Rejection> {
        let i = known(waba, self.directory.waba(waba))?;
        self.on(i, |p| p.set_template_status(now, waba, id, status, sink))
    }

    pub fn template_quality(&self, waba: WabaId, id: TemplateId) -> (Option<QualityRating>, u8) {
        match self.directory.waba(waba) {
            Some(i) => self.cells[i].lock().template_quality(waba, id),
            None => (None, 0),
        }
    }

    // ----- Phone numbers and WABAs ---------------------------------------------------------

    pub fn phone_number(
        &self,
        business: BusinessId,
        id: PhoneNumberId,
    ) -> Result<PhoneNumberView, Rejection> {
        self.with_number(business, id, |p| p.phone_number(id))?
    }

    pub fn waba_phone_numbers(
        &self,
        business: BusinessId,
        waba: WabaId,
    ) -> Result<Vec<PhoneNumberView>, Rejection> {
        self.with_waba(business, waba, |p| p.waba_phone_numbers(waba))?
    }

    pub fn waba_view(&self, business: BusinessId, waba: WabaId) -> Result<WabaView, Rejection> {
        self.with_waba(business, waba, |p| p.waba_view(waba))?
    }

    pub fn business_profile(
        &self,
        business: BusinessId,
        id: PhoneNumberId,
    ) -> Result<BusinessProfile, Rejection> {
        self.with_number(business, id, |p| p.business_profile(id))?
    }

    pub fn update_business_profile(
        &self,
        business: BusinessId,
        id: PhoneNumberId,
        update: BusinessProfile,
    ) -> Result<(), Rejection> {
        self.with_number(business, id, |p| p.update_business_profile(id, update))?
    }

    // ----- World-wide reads ----------------------------------------------------------------

    /// Everything `GET /_sim/state` shows.
    pub fn snapshot(&self) -> StateSnapshot {
        // The latest instant any number has seen stands for `now` (the core has no clock).
        let latest = self
            .cells
            .iter()
            .map(|c| c.lock().latest())
            .max()
            .unwrap_or_default();
        let mut businesses = Vec::new();
        let mut numbers = Vec::new();
        let mut templates = Vec::new();
        let mut pending_timers = 0;
        for c in &self.cells {
            let mut p = c.lock();
            let tokens = self.directory.tokens_of(p.id());
            businesses.push(p.business_view(latest, tokens));
            numbers.extend(p.number_views());
            templates.extend(p.template_views());
            pending_timers += p.pending_timers();
        }
        businesses.sort_by_key(|b| b.id);
        numbers.sort_by_key(|n| n.id);
        templates.sort_by_key(|t| t.id);
        StateSnapshot {
            businesses,
            numbers,
            templates,
            pending_timers,
        }
    }

    /// Exact cost totals of everything delivered so far, over every WABA.
    pub fn cost_summary(&self) -> CostSummary {
        let guards: Vec<_> = self.cells.iter().map(|c| c.lock()).collect();
        let markup = guards.iter().any(|g| g.charging().markup());
        let ledgers = guards.iter().flat_map(|g| g.charging().ledgers());
        CostSummary::from_ledgers(ledgers.map(|(_, l)| l), markup)
    }

    /// Each portfolio's totals (standing, number counters summed, cost), by business id.
    pub fn business_totals(&self) -> Vec<super::views::BusinessTotals> {
        let mut v: Vec<_> = self.cells.iter().map(|c| c.lock().totals()).collect();
        v.sort_by_key(|t| t.standing.id);
        v
    }

    /// `GET /_sim/ledger`: totals plus ledger lines at position `since` or later (at most
    /// `limit`, oldest first; see [`super::charging::ledger_page`]).
    pub fn ledger_page(&self, since: u64, limit: usize) -> super::charging::LedgerPage {
        let guards: Vec<_> = self.cells.iter().map(|c| c.lock()).collect();
        let mut ledgers: Vec<_> = guards.iter().flat_map(|g| g.charging().ledgers()).collect();
        ledgers.sort_by_key(|(id, _)| *id);
        let markup = guards.iter().any(|g| g.charging().markup());
        let summary = CostSummary::from_ledgers(ledgers.iter().map(|(_, l)| *l), markup);
        super::charging::ledger_page(ledgers.iter().map(|(_, l)| *l), since, limit, summary)
    }
}

/// The portfolio an id was found in, or Graph's answer for an id that does not exist.
fn known(id: impl std::fmt::Display, found: Option<usize>) -> Result<usize, Rejection> {
    found.ok_or_else(|| Rejection::unknown_object(&id.to_string()))
}
