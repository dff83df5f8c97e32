//! Template recategorisation: Meta judges a template to belong to another category and changes
//! it, announcing the change first (`template_category_update` with `correct_category` and the
//! time it takes effect) and reporting it once made (`previous_category`) [M:tcu; M:categ].
//!
//! The change is the template's category itself: from the moment it takes effect every rule
//! that reads the category (per-user marketing limits, marketing opt-out, the messaging limit,
//! feedback, pricing) sees the new one. Messages already sent keep the category they were sent
//! with, also when they are delivered after the change: Meta charges "at the category the
//! template has at the time of use" [M:pricing].
//!
//! A scenario schedules a change per template (`recategorise = { to, on, notice_hours }`,
//! scheduled when the world is built); `serve` schedules one with
//! `POST /_sim/templates/{id}/recategorise`.

use super::enforcement::DynKind;
use super::errors::ErrorCode;
use super::events::{CategoryChange, Event, EventBody};
use super::ids::{TemplateId, WabaId};
use super::portfolio::{Business, Portfolio};
use super::world::{Recategorise, TemplateCategory};
use super::{Rejection, Sink};
use crate::clock::{SimTime, MICROS_PER_HOUR};

/// When a change ordered at `now` to take effect at `effective` is announced: `notice_hours`
/// before it, but not before `now`; `None` without notice.
fn notice_at(now: SimTime, effective: SimTime, notice_hours: u32) -> Option<SimTime> {
    if notice_hours == 0 {
        return None;
    }
    let before = effective
        .as_micros()
        .saturating_sub(u64::from(notice_hours) * MICROS_PER_HOUR);
    Some(SimTime(before).max(now))
}

impl Business {
    /// Schedules the scenario's recategorisation of `template` in a world starting at `start`.
    pub(super) fn schedule_recategorisation(
        &mut self,
        start: SimTime,
        waba: WabaId,
        template: TemplateId,
        spec: &Recategorise,
    ) {
        let effective = spec.on.instant(start);
        let to = spec.to;
        if let Some(at) = notice_at(start, effective, spec.notice_hours) {
            let kind = DynKind::CategoryNotice {
                waba,
                template,
                to,
                effective,
            };
            self.timers.schedule(at, kind);
        }
        let kind = DynKind::Recategorise { waba, template, to };
        self.timers.schedule(effective, kind);
    }

    /// The advance notice: the template keeps its category until `effective`.
    pub(super) fn category_notice(
        &mut self,
        at: SimTime,
        waba: WabaId,
        template: TemplateId,
        to: TemplateCategory,
        effective: SimTime,
        sink: &mut impl Sink,
    ) {
        let Some(t) = self
            .waba_mut(waba)
            .and_then(|w| w.templates.get_mut(template))
        else {
            return; // deleted since
        };
        if t.category == to {
            return;
        }
        t.correct_category = Some(to);
        let body = EventBody::TemplateCategoryUpdate {
            template,
            name: t.name.clone(),
            language: t.language.clone(),
            new_category: t.category,
            change: CategoryChange::Notice {
                correct: to,
                effective,
            },
        };
        sink.event(Event { at, waba, body });
    }

    /// The change takes effect: the template is `to` from now on.
    pub(super) fn recategorise(
        &mut self,
        at: SimTime,
        waba: WabaId,
        template: TemplateId,
        to: TemplateCategory,
        sink: &mut impl Sink,
    ) {
        let Some(t) = self
            .waba_mut(waba)
            .and_then(|w| w.templates.get_mut(template))
        else {
            return; // deleted since
        };
        t.correct_category = None;
        if t.category == to {
            return;
        }
        let previous = t.category;
        t.previous_category = Some(previous);
        t.category = to;
        let body = EventBody::TemplateCategoryUpdate {
            template,
            name: t.name.clone(),
            language: t.language.clone(),
            new_category: to,
            change: CategoryChange::Done { previous },
        };
        sink.event(Event { at, waba, body });
    }
}

impl Portfolio {
    /// Orders a recategorisation of `template` to `to`, taking effect `notice_hours` after
    /// `now` (announced at once), or at once without notice. Returns when it takes effect.
    /// The control API's door to the rule; refused for an unknown template, a template already
    /// of that category, or AUTHENTICATION (Meta rejects such templates instead).
    pub fn order_recategorisation(
        &mut self,
        now: SimTime,
        template: TemplateId,
        to: TemplateCategory,
        notice_hours: u32,
        sink: &mut impl Sink,
    ) -> Result<SimTime, Rejection> {
        let (waba, current) = self
            .biz
            .wabas
            .iter()
            .find_map(|w| w.templates.get(template).map(|t| (w.id, t.category)))
            .ok_or_else(|| Rejection::unknown_object(&template.to_string()))?;
        if to == current {
            return Err(Rejection::new(
                ErrorCode::InvalidParameter,
                format!("to: the template is already {}", current.as_str()),
            ));
        }
        if to == TemplateCategory::Authentication {
            return Err(Rejection::new(
                ErrorCode::InvalidParameter,
                "to: Meta recategorises only to MARKETING or UTILITY",
            ));
        }
        if notice_hours > 24 * 31 {
            return Err(Rejection::new(
                ErrorCode::InvalidParameter,
                format!("notice_hours: {notice_hours} is more than 744 (31 days)"),
            ));
        }
        let effective = now.plus(u64::from(notice_hours) * MICROS_PER_HOUR);
        if notice_hours > 0 {
            self.biz
                .category_notice(now, waba, template, to, effective, sink);
            self.biz.timers.push(
                effective,
                DynKind::Recategorise { waba, template, to },
                sink,
            );
        } else {
            self.biz.recategorise(now, waba, template, to, sink);
        }
        Ok(effective)
    }
}
