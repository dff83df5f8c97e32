//! The world a scenario describes: business portfolios, WABAs, phone numbers, templates, access
//! tokens and the audience. Plain serde data: the scenario parser fills it, the engine builds its
//! state from it, and the default world ships as a scenario file.

use super::ids::{BusinessId, PhoneNumberId, TemplateId, WabaId};
use serde::{Deserialize, Serialize};

/// Everything that exists when the platform starts.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorldSpec {
    /// Business portfolios, each with its WABAs, numbers, templates and tokens.
    #[serde(default)]
    pub businesses: Vec<BusinessSpec>,
    /// The simulated users the businesses talk to.
    #[serde(default)]
    pub audience: super::audience::AudienceSpec,
}

/// A business portfolio: the unit that owns tokens and (since 2025) the messaging limit.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessSpec {
    pub id: BusinessId,
    pub name: String,
    /// ISO 3166-1 alpha-2 country of the business (e.g. "ID").
    #[serde(default = "default_country")]
    pub country: String,
    /// Business vertical as the Commerce Policy classifies it (free text, e.g. "retail").
    #[serde(default = "default_vertical")]
    pub vertical: String,
    /// Whether the business completed business verification.
    #[serde(default)]
    pub verified: bool,
    /// Access tokens (System User tokens) that act for this business.
    #[serde(default)]
    pub tokens: Vec<String>,
    /// Messaging limit tier of the portfolio.
    #[serde(default)]
    pub messaging_limit: MessagingLimitTier,
    #[serde(default)]
    pub wabas: Vec<WabaSpec>,
    /// How the business reaches the API (`[businesses.bsp]`): through an official BSP (the
    /// default) or not (a policy violation the platform detects; docs/policy-model.md).
    #[serde(default)]
    pub bsp: BspSpec,
    /// The parent BSUID account this portfolio is enrolled in (opt-in, for a managed business
    /// with several portfolios): portfolios naming the same id share one parent BSUID per user
    /// (`CC.ENT.digits`), shown in webhooks as `parent_user_id` and accepted as `recipient`
    /// from any of their numbers [M:bsuid]. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_bsuid_account: Option<BusinessId>,
    /// Meta's contact book for the portfolio (on unless the business disables it): once the
    /// business has sent to a hiding user's phone number, webhooks show that phone until the
    /// entry is deleted (`DELETE /{phone-number-id}/contact_book`). Default true.
    #[serde(default = "default_true")]
    pub contact_book: bool,
}

fn default_true() -> bool {
    true
}

impl BusinessSpec {
    /// Business `id` named `name`, every other field at the scenario's default (Indonesian
    /// retail, unverified, no tokens, TIER_250, no WABA): what `[[businesses]]` with only
    /// `id` and `name` gives.
    pub fn new(id: BusinessId, name: &str) -> BusinessSpec {
        BusinessSpec {
            id,
            name: name.into(),
            country: default_country(),
            vertical: default_vertical(),
            verified: false,
            tokens: Vec::new(),
            messaging_limit: MessagingLimitTier::default(),
            wabas: Vec::new(),
            bsp: BspSpec::default(),
            parent_bsuid_account: None,
            contact_book: default_true(),
        }
    }
}

/// The provider a business's numbers are driven through.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BspSpec {
    /// Whether the provider is an official Business Solution Provider (or Meta's Cloud API
    /// directly). Default true.
    pub official: bool,
    /// Free-text provider name, for reports.
    pub name: Option<String>,
}

impl Default for BspSpec {
    fn default() -> Self {
        BspSpec {
            official: true,
            name: None,
        }
    }
}

fn default_country() -> String {
    "ID".into()
}
fn default_vertical() -> String {
    "retail".into()
}

/// A WhatsApp Business Account.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WabaSpec {
    pub id: WabaId,
    #[serde(default)]
    pub name: String,
    /// Currency the WABA is billed in.
    #[serde(default = "default_currency")]
    pub currency: String,
    #[serde(default)]
    pub phone_numbers: Vec<PhoneNumberSpec>,
    #[serde(default)]
    pub templates: Vec<TemplateSpec>,
    /// Whether the app is subscribed to this WABA's webhooks (`/{waba-id}/subscribed_apps`).
    /// Default `true`, so existing worlds keep receiving webhooks; `false` models a WABA just
    /// shared through Embedded Signup, which gets no webhooks until the partner subscribes.
    #[serde(default = "yes")]
    pub subscribed: bool,
    /// The business accepted the Marketing Messages API terms for this WABA
    /// (`marketing_messages_onboarding_status` ONBOARDED). Default `false` (ELIGIBLE): the
    /// terms need an explicit acceptance [M:mm-onb], so `/marketing_messages` falls back to
    /// the Cloud API, or is refused with `product_policy: STRICT`.
    #[serde(default)]
    pub marketing_messages_onboarded: bool,
    /// `disable_marketing_messages_on_cloud_api`: marketing templates sent through
    /// `/messages` fail with 131063, so marketing goes only through `/marketing_messages`
    /// [M:errors26]. Default `false`.
    #[serde(default)]
    pub disable_marketing_messages_on_cloud_api: bool,
}

fn yes() -> bool {
    true
}

impl WabaSpec {
    /// WABA `id`, every other field at the scenario's default (USD, subscribed, no number, no
    /// template, not onboarded to the Marketing Messages API).
    pub fn new(id: WabaId) -> WabaSpec {
        WabaSpec {
            id,
            name: String::new(),
            currency: default_currency(),
            phone_numbers: Vec::new(),
            templates: Vec::new(),
            subscribed: yes(),
            marketing_messages_onboarded: false,
            disable_marketing_messages_on_cloud_api: false,
        }
    }
}

fn default_currency() -> String {
    "USD".into()
}

/// A business phone number registered on the Cloud API.
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneNumberSpec {
    pub id: PhoneNumberId,
    /// As shown in WhatsApp Manager, e.g. "+62 812-0000-0001". Digits only in webhook metadata.
    pub display_phone_number: String,
    pub verified_name: String,
    #[serde(default)]
    pub status: NumberStatus,
    #[serde(default)]
    pub quality_rating: QualityRating,
    /// Messages per second this number may send (Meta's default is 80).
    #[serde(default)]
    pub throughput_mps: Option<u32>,
    #[serde(default = "default_name_status")]
    pub name_status: String,
    #[serde(default)]
    pub is_official_business_account: bool,
    #[serde(default)]
    pub profile: BusinessProfile,
    /// Registered on the Cloud API (`POST /{id}/register`). Default `true`; `false` models a
    /// number just added through Embedded Signup: sends get 133010 until it is registered.
    #[serde(default = "yes")]
    pub registered: bool,
    /// Its verification code is verified (`code_verification_status`). Default `true`;
    /// `false` (with `registered = false`) makes the flow go through request_code and
    /// verify_code before register (133006 otherwise).
    #[serde(default = "yes")]
    pub code_verified: bool,
    /// Shared with the WhatsApp Business app (coexistence): throughput fixed at 20 msg/s, never
    /// upgraded to 1,000 [M:throughput]. Default `false`.
    #[serde(default)]
    pub coexistence: bool,
}

fn default_name_status() -> String {
    "APPROVED".into()
}

impl PhoneNumberSpec {
    /// Number `id` shown as `display` under `verified_name`, every other field at the
    /// scenario's default (connected, GREEN, registered, default throughput).
    pub fn new(id: PhoneNumberId, display: &str, verified_name: &str) -> PhoneNumberSpec {
        PhoneNumberSpec {
            id,
            display_phone_number: display.into(),
            verified_name: verified_name.into(),
            status: NumberStatus::default(),
            quality_rating: QualityRating::default(),
            throughput_mps: None,
            name_status: default_name_status(),
            is_official_business_account: false,
            profile: BusinessProfile::default(),
            registered: yes(),
            code_verified: yes(),
            coexistence: false,
        }
    }
}

/// The `whatsapp_business_profile` of a number. Field limits follow the OAS.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_picture_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub websites: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vertical: Option<String>,
}

/// A message template as a scenario declares it (the API creates them from `components`).
#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateSpec {
    #[serde(default)]
    pub id: Option<TemplateId>,
    pub name: String,
    pub language: String,
    pub category: TemplateCategory,
    #[serde(default = "approved")]
    pub status: TemplateStatus,
    #[serde(default)]
    pub parameter_format: ParameterFormat,
    /// Text header, may hold one parameter.
    #[serde(default)]
    pub header: Option<String>,
    /// Body text with `{{1}}` (positional) or `{{name}}` (named) parameters.
    pub body: String,
    #[serde(default)]
    pub footer: Option<String>,
    /// Quick-reply button labels.
    #[serde(default)]
    pub quick_replies: Vec<String>,
    /// A category change Meta makes to this template during the run
    /// (`template_category_update`, see [`Recategorise`]). None by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recategorise: Option<Recategorise>,
}

/// A scheduled template recategorisation: Meta judges the template to belong to another
/// category and changes it. Before the change a `template_category_update` advance notice
/// (`correct_category` and the date it takes effect) goes out `notice_hours` earlier; at the
/// change a completed one (`previous_category`). From the change on, the template is sent,
/// counted and priced as `to` (Meta: charged at the category the template has at the time of
/// use). Written `recategorise = { to = "MARKETING", on = "day 12" }`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recategorise {
    /// The category it becomes: `MARKETING` or `UTILITY` (Meta rejects, rather than
    /// recategorises, a template that should be authentication).
    pub to: TemplateCategory,
    /// When the change takes effect: `"day N"` (N whole days after the start of simulated
    /// time; day 0 is the start) or a date `"YYYY-MM-DD"` (00:00 UTC).
    #[schemars(with = "String")]
    pub on: ChangeDay,
    /// Hours of advance notice before the change (Meta: one day; 0 = no notice, as for
    /// businesses warned for misuse since April 16, 2025). Default 24.
    #[serde(default = "default_notice_hours")]
    pub notice_hours: u32,
}

fn default_notice_hours() -> u32 {
    24
}

/// When a scheduled change takes effect, relative to the start of simulated time or as a
/// calendar date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeDay {
    /// `day N`: N days after the start.
    Day(u32),
    /// `YYYY-MM-DD`: that date, 00:00 UTC.
    Date(crate::pricing::Date),
}

impl ChangeDay {
    /// The instant of the change in a world that starts at `start` (a date before the start
    /// means the start itself).
    pub fn instant(self, start: crate::clock::SimTime) -> crate::clock::SimTime {
        match self {
            ChangeDay::Day(n) => start.plus(u64::from(n) * crate::clock::MICROS_PER_DAY),
            ChangeDay::Date(d) => d.midnight(0).max(start),
        }
    }
}

impl std::str::FromStr for ChangeDay {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Some(n) = t.strip_prefix("day") {
            return n.trim().parse::<u32>().map(ChangeDay::Day).map_err(|_| {
                format!("`{t}`: expected \"day N\" with N a whole number of days (\"day 12\")")
            });
        }
        t.parse::<crate::pricing::Date>()
            .map(ChangeDay::Date)
            .map_err(|_| format!("`{t}` is neither \"day N\" nor a date YYYY-MM-DD"))
    }
}

impl std::fmt::Display for ChangeDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChangeDay::Day(n) => write!(f, "day {n}"),
            ChangeDay::Date(d) => write!(f, "{d}"),
        }
    }
}

impl Serialize for ChangeDay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ChangeDay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = String::deserialize(d)?;
        t.parse()
            .map_err(|e| serde::de::Error::custom(format!("recategorise.on: {e}")))
    }
}

fn approved() -> TemplateStatus {
    TemplateStatus::Approved
}

impl TemplateSpec {
    /// An APPROVED template with positional parameters and a body only, as a scenario's
    /// `templates` entry with these four keys gives.
    pub fn new(name: &str, language: &str, category: TemplateCategory, body: &str) -> TemplateSpec {
        TemplateSpec {
            id: None,
            name: name.into(),
            language: language.into(),
            category,
            status: approved(),
            parameter_format: ParameterFormat::default(),
            header: None,
            body: body.into(),
            footer: None,
            quick_replies: Vec::new(),
            recategorise: None,
        }
    }
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NumberStatus {
    #[default]
    Connected,
    Disconnected,
    Unverified,
    Pending,
    Flagged,
    Restricted,
}

impl NumberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NumberStatus::Connected => "CONNECTED",
            NumberStatus::Disconnected => "DISCONNECTED",
            NumberStatus::Unverified => "UNVERIFIED",
            NumberStatus::Pending => "PENDING",
            NumberStatus::Flagged => "FLAGGED",
            NumberStatus::Restricted => "RESTRICTED",
        }
    }
}

#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Deserialize,
    Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QualityRating {
    #[default]
    Green,
    Yellow,
    Red,
    Na,
}

impl QualityRating {
    pub fn as_str(self) -> &'static str {
        match self {
            QualityRating::Green => "GREEN",
            QualityRating::Yellow => "YELLOW",
            QualityRating::Red => "RED",
            QualityRating::Na => "NA",
        }
    }
}

/// Messaging limit tiers (unique users outside a service window per moving 24 h).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Deserialize,
    Serialize,
    schemars::JsonSchema,
)]
pub enum MessagingLimitTier {
    #[serde(rename = "TIER_50")]
    Tier50,
    #[default]
    #[serde(rename = "TIER_250")]
    Tier250,
    #[serde(rename = "TIER_1K")]
    Tier1K,
    #[serde(rename = "TIER_2K")]
    Tier2K,
    #[serde(rename = "TIER_10K")]
    Tier10K,
    #[serde(rename = "TIER_100K")]
    Tier100K,
    #[serde(rename = "TIER_UNLIMITED")]
    Unlimited,
}

impl MessagingLimitTier {
    pub fn as_str(self) -> &'static str {
        match self {
            MessagingLimitTier::Tier50 => "TIER_50",
            MessagingLimitTier::Tier250 => "TIER_250",
            MessagingLimitTier::Tier1K => "TIER_1K",
            MessagingLimitTier::Tier2K => "TIER_2K",
            MessagingLimitTier::Tier10K => "TIER_10K",
            MessagingLimitTier::Tier100K => "TIER_100K",
            MessagingLimitTier::Unlimited => "TIER_UNLIMITED",
        }
    }
    /// Unique users per moving 24 h; `None` is unlimited.
    pub fn limit(self) -> Option<u32> {
        match self {
            MessagingLimitTier::Tier50 => Some(50),
            MessagingLimitTier::Tier250 => Some(250),
            MessagingLimitTier::Tier1K => Some(1_000),
            MessagingLimitTier::Tier2K => Some(2_000),
            MessagingLimitTier::Tier10K => Some(10_000),
            MessagingLimitTier::Tier100K => Some(100_000),
            MessagingLimitTier::Unlimited => None,
        }
    }
    /// The deprecated per-number `messaging_limit_tier` (v23 and older) has no TIER_2K.
    pub fn legacy_str(self) -> &'static str {
        match self {
            MessagingLimitTier::Tier2K => "TIER_1K",
            t => t.as_str(),
        }
    }
}

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Deserialize,
    Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TemplateCategory {
    Marketing,
    Utility,
    Authentication,
}

impl TemplateCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateCategory::Marketing => "MARKETING",
            TemplateCategory::Utility => "UTILITY",
            TemplateCategory::Authentication => "AUTHENTICATION",
        }
    }
    /// Lowercase name used in `pricing.category` and `conversation.origin.type`.
    pub fn pricing_str(self) -> &'static str {
        match self {
            TemplateCategory::Marketing => "marketing",
            TemplateCategory::Utility => "utility",
            TemplateCategory::Authentication => "authentication",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "MARKETING" => Some(TemplateCategory::Marketing),
            "UTILITY" | "TRANSACTIONAL" => Some(TemplateCategory::Utility),
            "AUTHENTICATION" | "OTP" => Some(TemplateCategory::Authentication),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TemplateStatus {
    Approved,
    Pending,
    Rejected,
    Paused,
    Disabled,
    InAppeal,
    PendingDeletion,
    Deleted,
    LimitExceeded,
    Archived,
}

impl TemplateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateStatus::Approved => "APPROVED",
            TemplateStatus::Pending => "PENDING",
            TemplateStatus::Rejected => "REJECTED",
            TemplateStatus::Paused => "PAUSED",
            TemplateStatus::Disabled => "DISABLED",
            TemplateStatus::InAppeal => "IN_APPEAL",
            TemplateStatus::PendingDeletion => "PENDING_DELETION",
            TemplateStatus::Deleted => "DELETED",
            TemplateStatus::LimitExceeded => "LIMIT_EXCEEDED",
            TemplateStatus::Archived => "ARCHIVED",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_ascii_uppercase())).ok()
    }
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ParameterFormat {
    #[default]
    Positional,
    Named,
}

impl ParameterFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ParameterFormat::Positional => "POSITIONAL",
            ParameterFormat::Named => "NAMED",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The constructors give what a scenario that names only the required keys gives.
    #[test]
    fn constructors_match_the_scenario_defaults() {
        let parsed: BusinessSpec = toml::from_str(
            r#"
id = "100000000000001"
name = "Toko"
[[wabas]]
id = "102290129340398"
[[wabas.phone_numbers]]
id = "106540352242922"
display_phone_number = "+62 812-0000-0001"
verified_name = "Toko"
[[wabas.templates]]
name = "promo"
language = "id"
category = "MARKETING"
body = "Halo {{1}}"
"#,
        )
        .unwrap();
        let mut built = BusinessSpec::new(BusinessId(100000000000001), "Toko");
        let mut waba = WabaSpec::new(WabaId(102290129340398));
        waba.phone_numbers.push(PhoneNumberSpec::new(
            PhoneNumberId(106540352242922),
            "+62 812-0000-0001",
            "Toko",
        ));
        waba.templates.push(TemplateSpec::new(
            "promo",
            "id",
            TemplateCategory::Marketing,
            "Halo {{1}}",
        ));
        built.wabas.push(waba);
        assert_eq!(
            serde_json::to_value(&built).unwrap(),
            serde_json::to_value(&parsed).unwrap()
        );
    }
}
