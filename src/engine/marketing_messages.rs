//! The Marketing Messages API for WhatsApp (`/marketing_messages`, formerly "MM Lite"): which
//! API a marketing template really goes through, the WABA's terms, and the template's sync to
//! the ad account. Sources: cloud-api-2026.md §6 ([M:mm-send], [M:mm-onb], [M:errors26]) and
//! 360dialog's observed error responses; docs/policy-model.md lists each rule.

use super::errors::ErrorCode;
use super::events::{EventBody, Rule};
use super::ids::{TemplateId, WabaId};
use super::message::Channel;
use super::portfolio::{Business, Portfolio};
use super::world::TemplateCategory;
use super::{Rejection, Sink};
use crate::clock::{SimTime, MICROS_PER_DAY, MICROS_PER_SEC};

/// A new template syncs to the ad account in about 10 minutes [M:mm-send].
pub const SYNC: u64 = 10 * 60 * MICROS_PER_SEC;
/// A template not sent through the API for more than 7 days syncs again [M:mm-send].
pub const IDLE: u64 = 7 * MICROS_PER_DAY;

/// How an accepted template send travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The Cloud API (`/messages`, or `/marketing_messages` falling back): priced as its
    /// category.
    CloudApi,
    /// The Marketing Messages API: `pricing.category` `marketing_lite`, Cloud API marketing
    /// rates.
    MarketingMessages,
}

impl Business {
    /// The API rules for a template send through `channel` of template `id` (category `cat`)
    /// on WABA `waba`, in order: marketing only on `/marketing_messages` (131055), the terms
    /// (131055 with STRICT, else the Cloud API fallback), marketing disabled on the Cloud API
    /// (131063), the template's sync (134101).
    pub(super) fn route_template(
        &mut self,
        now: SimTime,
        waba: WabaId,
        channel: Channel,
        id: TemplateId,
        cat: TemplateCategory,
    ) -> Result<Route, Rejection> {
        let w = self
            .waba_mut(waba)
            .expect("a number's WABA is in its portfolio");
        let via_mm = match channel {
            Channel::CloudApi => false,
            Channel::MarketingMessages { .. } if cat != TemplateCategory::Marketing => {
                return Err(rule(
                    ErrorCode::MarketingMessagesOnly,
                    ErrorCode::MarketingMessagesOnly.default_details().into(),
                ));
            }
            Channel::MarketingMessages { strict } => {
                if !w.mm_onboarded && strict {
                    return Err(rule(
                        ErrorCode::MarketingMessagesOnly,
                        "You must accept the Marketing Messages Lite API terms to use the API \
                         (product_policy STRICT: no Cloud API fallback)."
                            .into(),
                    ));
                }
                w.mm_onboarded
            }
        };
        if !via_mm {
            if cat == TemplateCategory::Marketing && w.mm_only {
                return Err(rule(
                    ErrorCode::MarketingDisabledOnCloudApi,
                    ErrorCode::MarketingDisabledOnCloudApi
                        .default_details()
                        .into(),
                ));
            }
            return Ok(Route::CloudApi);
        }
        let t = w
            .templates
            .get_mut(id)
            .expect("the template was just found in this book");
        if now >= t.mm_synced_at && now.since(t.mm_last_sent) > IDLE {
            t.mm_synced_at = now.plus(SYNC);
            t.mm_last_sent = t.mm_synced_at;
        }
        if now < t.mm_synced_at {
            return Err(rule(
                ErrorCode::TemplateSyncing,
                format!(
                    "Template {} is still syncing to the ad account; retry in {} s.",
                    t.name,
                    t.mm_synced_at.since(now).div_ceil(MICROS_PER_SEC)
                ),
            ));
        }
        t.mm_last_sent = now;
        Ok(Route::MarketingMessages)
    }
}

fn rule(code: ErrorCode, details: String) -> Rejection {
    Rejection::rule(code, Rule::MarketingMessages, details)
}

impl Portfolio {
    /// `POST /{business-id}/onboard_partners_to_mm_lite`: the business accepts the terms for
    /// every WABA of the portfolio at once (the acceptance is per business portfolio), each
    /// announced by `account_update` MM_LITE_TERMS_SIGNED. The `request_id` is derived from the
    /// seed and the business. Already onboarded everywhere: 1752041.
    pub fn onboard_marketing_messages(
        &mut self,
        now: SimTime,
        sink: &mut impl Sink,
    ) -> Result<u64, Rejection> {
        if self.biz.wabas.iter().all(|w| w.mm_onboarded) {
            return Err(Rejection::new(
                ErrorCode::DuplicateOnboarding,
                ErrorCode::DuplicateOnboarding.default_details(),
            ));
        }
        let owner_business = self.biz.id;
        for w in &mut self.biz.wabas {
            if !w.mm_onboarded {
                w.mm_onboarded = true;
                sink.event(super::events::Event {
                    at: now,
                    waba: w.id,
                    body: EventBody::MarketingMessagesTermsSigned { owner_business },
                });
            }
        }
        let h = super::audience::splitmix(self.biz.cfg.seed ^ owner_business.0.rotate_left(23));
        // 15 digits, like Meta's example `893436979557695`.
        Ok(100_000_000_000_000 + h % 900_000_000_000_000)
    }

    /// `marketing_messages_onboarding_status` of a WABA: ONBOARDED or ELIGIBLE.
    pub fn marketing_messages_status(&self, waba: WabaId) -> Option<&'static str> {
        self.biz.waba(waba).map(|w| {
            if w.mm_onboarded {
                "ONBOARDED"
            } else {
                "ELIGIBLE"
            }
        })
    }
}
