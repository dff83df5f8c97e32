//! Scenarios: TOML files describing a world (businesses, numbers, templates, audience), the
//! rule parameters, the server and webhook settings, and (for `run`/`simulate`) the traffic.
//!
//! Parsing rejects unknown keys and reports `file:line:column: message`; semantic problems
//! found after parsing (duplicate ids, bad placeholders) name the field path, every one of
//! them. Validation is this layer's job: [`Scenario::validate`] gives the core a
//! [`ValidWorld`], the only thing the core builds from.

use crate::engine::audience::AudienceSpec;
use crate::engine::config::RulesConfig;
use crate::engine::policy::PolicyConfig;
use crate::engine::validate::{InvalidWorld, ValidWorld, WorldError};
use crate::engine::world::{BusinessSpec, WorldSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub mod generate;
pub mod partition;
pub mod pricing;
pub mod schema;
pub use pricing::PricingSection;

/// The embedded default world (see `scenarios/default.toml`).
pub const DEFAULT_WORLD: &str = include_str!("../../scenarios/default.toml");

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Seed of every random draw (audience reactions, delays).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Start of simulated time as Unix seconds (default: now for `serve`).
    #[serde(default)]
    pub start_unix: Option<u64>,
    #[serde(default)]
    pub rules: RulesConfig,
    /// Platform dynamics: quality, messaging limits, pausing, opt-in, restriction.
    #[serde(default)]
    pub policy: PolicyConfig,
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub webhooks: WebhookSection,
    #[serde(default)]
    pub businesses: Vec<BusinessSpec>,
    /// `[[generate]]`: client businesses from a pattern, added after `[[businesses]]` and
    /// validated like them (see `generate.rs`, docs/scenario.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generate: Vec<generate::GenerateSpec>,
    #[serde(default)]
    pub audience: AudienceSpec,
    /// `[traffic]`: what `wabasim run` sends (see docs/load.md). `serve` ignores it.
    #[serde(default)]
    pub traffic: Option<crate::traffic::spec::Traffic>,
    /// `[thresholds]`: checks a run must pass (see docs/load.md).
    #[serde(default)]
    pub thresholds: Option<crate::traffic::spec::Thresholds>,
    /// Pricing model, rate card, markup and options (`[pricing]`, see `pricing.rs`).
    #[serde(default)]
    pub pricing: PricingSection,
}

/// A fingerprint of a scenario's text: 16 hex digits of the 64-bit FNV-1a hash of its content
/// apart from `[thresholds]`, canonicalised (tables in key order, comments and layout
/// dropped), so two files that describe the same world and traffic have the same fingerprint.
/// `merge` compares it to refuse reports of different scenarios. `None` when the text is not
/// TOML (a scenario that loaded always is).
pub fn fingerprint(text: &str) -> Option<String> {
    let mut value: toml::Table = toml::from_str(text).ok()?;
    value.remove("thresholds");
    // `toml::Table` keeps keys sorted, so the JSON text is canonical.
    let canonical = serde_json::to_string(&value).ok()?;
    Some(format!("{:016x}", fnv1a64(canonical.as_bytes())))
}

/// The partition (0..count) that serves business portfolio `business_id` in
/// `serve --partition I/N`: [`fnv1a64`] of the id's decimal text, modulo `count`. Stable across
/// builds and machines, so every instance, `partition-map` and the router agree.
pub fn partition_of(business_id: &str, count: u32) -> u32 {
    (fnv1a64(business_id.as_bytes()) % u64::from(count.max(1))) as u32
}

/// FNV-1a, 64 bits: stable across builds and platforms, unlike `std`'s hasher.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn default_seed() -> u64 {
    1
}

/// `[server]`: how the mock answers.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// HTTP status per error code, overriding the defaults (e.g. `"130429" = 400`).
    #[serde(default)]
    pub http_status: BTreeMap<String, u16>,
    /// Largest request body in bytes (default 1 MiB).
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    /// Let non-loopback clients use `/_sim` and `/metrics`, with `control_token`.
    #[serde(default)]
    pub control_from_any: bool,
    /// The token remote clients send (`Authorization: Bearer T`) to use `/_sim` and
    /// `/metrics`; required with `control_from_any`.
    #[serde(default)]
    pub control_token: Option<String>,
    /// WABA management calls per hour per WABA (Meta: 200, or 5,000 with a registered number;
    /// default 5,000); past it 80007. 0 turns the limit and its usage header off.
    #[serde(default)]
    pub waba_calls_per_hour: Option<u32>,
    /// Graph calls per hour of the app (our default 3,600,000: Meta publishes none); past it
    /// code 4. Also the base of the `whatsapp` usage entries and `X-App-Usage`. 0 turns them off.
    #[serde(default)]
    pub app_calls_per_hour: Option<u32>,
}

/// `[webhooks]`: where and how events are delivered. Command-line flags win over these.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    pub url: Option<String>,
    pub app_secret: Option<String>,
    pub verify_token: Option<String>,
    /// Graph version the payloads follow (v24+ omits `conversation` outside free entry points).
    pub api_version: Option<String>,
    /// Changes per POST (default 1).
    pub batch_max: Option<usize>,
    pub max_in_flight: Option<usize>,
    pub retry_initial_s: Option<u64>,
    pub retry_max_s: Option<u64>,
    /// Give up on an event this many simulated seconds after its first attempt (default 7 days).
    pub horizon_s: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub max_pending: Option<usize>,
}

/// A scenario problem: where, and what.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// Every semantic problem, one `file: field: message` line each.
    #[error("{}", invalid_lines(file, problems))]
    Invalid {
        file: String,
        problems: Vec<WorldError>,
    },
}

fn invalid_lines(file: &str, problems: &[WorldError]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| format!("{file}: {p}")).collect();
    lines.join("\n")
}

/// The recipients `first`, `first + 1`, … (`count` of them) as a pool, padded to the digit
/// count `first` is written with.
fn sequence(first: &str, count: u64) -> crate::traffic::RecipientPool {
    let digits: String = first.chars().filter(|c| c.is_ascii_digit()).collect();
    crate::traffic::RecipientPool::Sequence {
        prefix: String::new(),
        start: digits.parse().unwrap_or(0),
        count,
        digits: digits.len(),
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, col)
}

impl Scenario {
    /// Parses scenario text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let sc: Scenario = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            ScenarioError::Parse {
                file: file.to_string(),
                line,
                column,
                message: e.message().to_string(),
            }
        })?;
        sc.validate(file)?;
        Ok(sc)
    }

    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            file: file.clone(),
            source,
        })?;
        Scenario::parse(&text, &file)
    }

    /// The embedded default world.
    pub fn default_world() -> Scenario {
        Scenario::parse(DEFAULT_WORLD, "scenarios/default.toml").expect("the default world parses")
    }

    /// Checks the whole scenario (world, server section, pricing comparisons, traffic) and
    /// gives its world, validated with [`Self::setup`]; `file` names it in errors. Every
    /// problem found is reported.
    pub fn validate(&self, file: &str) -> Result<ValidWorld, ScenarioError> {
        let mut problems = Vec::new();
        let mut invalid = |field: String, message: String| {
            problems.push(WorldError { field, message });
        };
        let (spec, expansion) = self.expanded();
        expansion
            .problems
            .into_iter()
            .for_each(|e| invalid(e.field, e.message));
        let world = match ValidWorld::new(spec.clone(), self.setup()) {
            Ok(w) => Some(w),
            Err(InvalidWorld(es)) => {
                generate::name_problems(es, self.businesses.len(), &expansion.origin)
                    .into_iter()
                    .for_each(|e| invalid(e.field, e.message));
                None
            }
        };
        if self.server.control_from_any && self.server.control_token.is_none() {
            invalid(
                "server.control_token".into(),
                "required with control_from_any: without it anyone who reaches the port could move the clock, inject faults and read the state".into(),
            );
        }
        for (k, v) in &self.server.http_status {
            if k.parse::<u32>()
                .ok()
                .and_then(crate::engine::errors::ErrorCode::from_code)
                .is_none()
            {
                invalid(
                    format!("server.http_status.{k}"),
                    "not an error code wabasim knows".into(),
                );
            } else if !(100..=599).contains(v) {
                invalid(
                    format!("server.http_status.{k}"),
                    format!("{v} is not an HTTP status"),
                );
            }
        }
        // Each comparison model prices the same world: its section must fit the rate cards.
        // (Only worth asking of a world that is otherwise valid.)
        if world.is_some() {
            for (i, m) in self.pricing.compare.iter().enumerate() {
                let setup = crate::engine::build::Setup {
                    policy: Default::default(),
                    pricing: self.pricing.for_comparison(m),
                    ..self.setup()
                };
                if let Err(InvalidWorld(es)) = ValidWorld::new(spec.clone(), setup) {
                    es.into_iter()
                        .for_each(|e| invalid(format!("pricing.compare[{i}]"), e.message));
                }
            }
        }
        if let Some(traffic) = &self.traffic {
            if let Err(e) = crate::traffic::LoadPlan::build(
                traffic,
                self.thresholds.as_ref(),
                self.plan_context(),
            ) {
                invalid(e.path, e.message);
            }
        } else if self.thresholds.is_some() {
            invalid(
                "thresholds".into(),
                "thresholds need a [traffic] table to check".into(),
            );
        }
        match world {
            Some(w) if problems.is_empty() => Ok(w),
            _ => Err(ScenarioError::Invalid {
                file: file.to_string(),
                problems,
            }),
        }
    }

    /// The world this scenario describes, validated with its own setup: what a door builds
    /// after its flags changed the parsed scenario (seed, tokens). Every world problem, as
    /// `file: field: message`.
    pub fn valid_world(&self, file: &str) -> Result<ValidWorld, ScenarioError> {
        let (spec, expansion) = self.expanded();
        let invalid = |problems| ScenarioError::Invalid {
            file: file.to_string(),
            problems,
        };
        if !expansion.problems.is_empty() {
            return Err(invalid(expansion.problems));
        }
        ValidWorld::new(spec, self.setup()).map_err(|InvalidWorld(es)| {
            invalid(generate::name_problems(
                es,
                self.businesses.len(),
                &expansion.origin,
            ))
        })
    }

    /// What the load generator resolves a `[traffic]` table against: the world's phone numbers
    /// in declaration order (generated ones after the hand-written), its templates, and the
    /// audience's segments: those of `[[audience.segments]]` in their order, or one segment
    /// named `audience` (`first_number`, `first_number + 1`, … `size` users) when it declares
    /// none. Either way users are generated on the fly.
    pub fn plan_context(&self) -> crate::traffic::PlanContext {
        let world = self.world();
        let mut phone_numbers = Vec::new();
        let mut owners = Vec::new();
        let mut templates = Vec::new();
        for b in &world.businesses {
            for w in &b.wabas {
                phone_numbers.extend(w.phone_numbers.iter().map(|n| n.id.to_string()));
                owners.extend(w.phone_numbers.iter().map(|_| b.id.to_string()));
                templates.extend(
                    w.templates
                        .iter()
                        .map(|t| (t.name.clone(), t.language.clone())),
                );
            }
        }
        let audience = &world.audience;
        let segments = if audience.segments.is_empty() {
            vec![crate::traffic::Segment {
                name: "audience".into(),
                pool: sequence(audience.first_number(), audience.size()),
            }]
        } else {
            audience
                .segments
                .iter()
                .map(|s| crate::traffic::Segment {
                    name: s.name.clone(),
                    pool: sequence(&s.first_number, s.size),
                })
                .collect()
        };
        crate::traffic::PlanContext {
            phone_numbers,
            owners,
            segments,
            templates: Some(templates),
            service_window: Some(self.rules.service_window_hours * crate::clock::MICROS_PER_HOUR),
        }
    }

    /// The rules, policy knobs, pricing and seed the world is built with.
    pub fn setup(&self) -> crate::engine::build::Setup {
        crate::engine::build::Setup {
            rules: self.rules.clone(),
            policy: self.policy.clone(),
            pricing: self.pricing.clone(),
            seed: self.seed,
        }
    }

    /// The world this scenario describes: its `[[businesses]]`, then those its `[[generate]]`
    /// blocks expand to; the default world's businesses if it declares neither.
    pub fn world(&self) -> WorldSpec {
        self.expanded().0
    }

    /// [`Self::world`], and the expansion of the `[[generate]]` blocks with its businesses
    /// moved into the world (left: where each came from, and the blocks' own problems).
    fn expanded(&self) -> (WorldSpec, generate::Expansion) {
        let mut expansion = generate::expand(&self.generate);
        let mut businesses = if self.businesses.is_empty() && self.generate.is_empty() {
            let d: Scenario = toml::from_str(DEFAULT_WORLD).expect("the default world parses");
            d.businesses
        } else {
            self.businesses.clone()
        };
        businesses.append(&mut expansion.businesses);
        let world = WorldSpec {
            businesses,
            audience: self.audience.clone(),
        };
        (world, expansion)
    }

    /// Writes the world's businesses (default or generated) into `businesses` and drops the
    /// `[[generate]]` blocks, for a door that changes a business (`--token`): the world is the
    /// same, and changing it again cannot generate the businesses twice.
    pub fn expand_world(&mut self) {
        self.businesses = self.world().businesses;
        self.generate.clear();
    }

    /// Keeps only the businesses that `partitioning` gives to partition `index`, after
    /// expanding `[[generate]]`. Refused when none is left: an instance with no portfolio
    /// would serve the default world instead.
    pub fn keep_partition(
        &mut self,
        index: u32,
        partitioning: &partition::Partitioning,
    ) -> Result<(), String> {
        self.expand_world();
        let total = self.businesses.len();
        let count = partitioning.count();
        self.businesses
            .retain(|b| partitioning.owner(&b.id.to_string()) == Some(index));
        if self.businesses.is_empty() {
            return Err(format!(
                "partition {index}/{count} owns none of the scenario's {total} businesses (by the hash of their ids): use fewer partitions, or list them with --partition-file"
            ));
        }
        Ok(())
    }

    /// `[server.http_status]` as a code → status map.
    pub fn status_overrides(&self) -> std::collections::HashMap<u32, u16> {
        self.server
            .http_status
            .iter()
            .filter_map(|(k, v)| k.parse().ok().map(|k| (k, *v)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_ignores_layout_and_thresholds_but_not_traffic() {
        let a = "seed = 3\nname = \"x\"\n[audience]\nsize = 10\nread_ratio = 0.5\n[thresholds]\nchecks = [\"failed < 1\"]\n";
        let b = "# a comment\nname = \"x\"\nseed   = 3 # moved\n\n[audience]\nread_ratio = 0.5\nsize = 10\n";
        let c = "seed = 4\nname = \"x\"\n[audience]\nsize = 10\nread_ratio = 0.5\n";
        assert_eq!(fingerprint(a), fingerprint(b));
        assert_ne!(fingerprint(a), fingerprint(c));
        assert_eq!(fingerprint(a).unwrap().len(), 16);
        assert_eq!(fingerprint("= nope"), None);
        // The published FNV-1a test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn default_world_parses_and_has_the_documented_pieces() {
        let s = Scenario::default_world();
        let w = s.world();
        assert_eq!(w.businesses.len(), 1);
        assert_eq!(w.businesses[0].country, "ID");
        let waba = &w.businesses[0].wabas[0];
        assert_eq!(waba.phone_numbers.len(), 1);
        assert!(waba
            .templates
            .iter()
            .any(|t| t.name == "hello_world" && t.language == "en_US"));
    }

    #[test]
    fn unknown_key_reports_line_and_column() {
        let text = "seed = 1\n\n[rules]\nthroughput_mps = 80\nbogus = 1\n";
        let e = Scenario::parse(text, "x.toml").unwrap_err().to_string();
        assert!(e.starts_with("x.toml:5:1:"), "{e}");
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn wrong_type_reports_line() {
        let text = "[audience]\nsize = \"many\"\n";
        let e = Scenario::parse(text, "y.toml").unwrap_err().to_string();
        assert!(e.starts_with("y.toml:2:"), "{e}");
    }

    #[test]
    fn semantic_errors_name_the_field() {
        let text = "[audience]\nread_ratio = 2.0\n";
        let e = Scenario::parse(text, "z.toml").unwrap_err().to_string();
        assert_eq!(e, "z.toml: audience.read_ratio: 2 is not between 0 and 1");
        let text = "[policy.quality]\nred_at = 0.001\n";
        let e = Scenario::parse(text, "z.toml").unwrap_err().to_string();
        assert_eq!(
            e,
            "z.toml: policy.quality.yellow_at: need 0 < yellow_at <= red_at"
        );
        let text = "[audience.profiles.marketing]\nblock = 2\n";
        let e = Scenario::parse(text, "z.toml").unwrap_err().to_string();
        assert!(e.contains("audience.profiles.marketing.block"), "{e}");
        let text = "[policy]\nbogus = 1\n";
        assert!(Scenario::parse(text, "z.toml")
            .unwrap_err()
            .to_string()
            .contains("bogus"));
        let text = "[server.http_status]\n\"999\" = 400\n";
        assert!(Scenario::parse(text, "z.toml")
            .unwrap_err()
            .to_string()
            .contains("server.http_status.999"));
    }

    #[test]
    fn every_world_problem_is_a_line_naming_file_and_field() {
        let text = DEFAULT_WORLD
            .replacen("read_ratio = 0.7", "read_ratio = 2.0", 1)
            .replacen("\"+62 812-0000-0001\"", "\"0812\"", 1)
            + "\n[server.http_status]\n\"131056\" = 99\n";
        let e = Scenario::parse(&text, "w.toml").unwrap_err().to_string();
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 3, "{e}");
        assert_eq!(
            lines[0],
            "w.toml: audience.read_ratio: 2 is not between 0 and 1"
        );
        assert!(
            lines[1].starts_with(
                "w.toml: businesses[0].wabas[0].phone_numbers[0].display_phone_number:"
            ),
            "{e}"
        );
        assert_eq!(
            lines[2],
            "w.toml: server.http_status.131056: 99 is not an HTTP status"
        );
    }

    const SEGMENTS: &str = r#"
[audience]
read_ratio = 0.5
[[audience.segments]]
name = "id"
first_number = "+62 813-0000-0000"
size = 1000
[[audience.segments]]
name = "br"
first_number = "5511900000000"
size = 500
country = "BR"
[[audience.segments]]
name = "us"
first_number = "16505550000"
size = 100
country = "us"
"#;

    fn seq(name: &str, start: u64, count: u64, digits: usize) -> crate::traffic::Segment {
        crate::traffic::Segment {
            name: name.into(),
            pool: crate::traffic::RecipientPool::Sequence {
                prefix: String::new(),
                start,
                count,
                digits,
            },
        }
    }

    #[test]
    fn audience_segments_are_the_traffic_segments() {
        let s = Scenario::parse(SEGMENTS, "s.toml").unwrap();
        assert_eq!(
            s.plan_context().segments,
            [
                seq("id", 6281300000000, 1000, 13),
                seq("br", 5511900000000, 500, 13),
                seq("us", 16505550000, 100, 11),
            ]
        );
        let countries: Vec<Option<String>> =
            s.audience.segments.iter().map(|s| s.country()).collect();
        assert_eq!(
            countries,
            [Some("ID".into()), Some("BR".into()), Some("US".into())]
        );
        // The engine's audience counts through the segments in order.
        let w = s.validate("s.toml").unwrap();
        let a = crate::engine::audience::Audience::new(&w.world().audience, 1);
        assert_eq!(a.size(), 1600);
        assert_eq!(a.member(999).0, 6281300000999);
        assert_eq!(a.member(1000).0, 5511900000000);
        assert_eq!(a.member(1599).0, 16505550099);
        assert_eq!(a.member(1600).0, 6281300000000);
    }

    #[test]
    fn without_segments_the_audience_is_one_segment_named_audience() {
        let s = Scenario::default_world();
        assert_eq!(
            s.plan_context().segments,
            [seq("audience", 6281300000000, 10_000, 13)]
        );
        let s = Scenario::parse("seed = 2\n", "d.toml").unwrap();
        assert_eq!(
            s.plan_context().segments,
            [seq("audience", 6281300000000, 10_000, 13)]
        );
        let s = Scenario::parse(
            "[audience]\nfirst_number = \"+49 151 0000 0000\"\nsize = 5\n",
            "d.toml",
        )
        .unwrap();
        assert_eq!(
            s.plan_context().segments,
            [seq("audience", 4915100000000, 5, 13)]
        );
    }

    #[test]
    fn segment_problems_name_the_field() {
        let text = r#"
[audience]
first_number = "6281300000000"
size = 10
[[audience.segments]]
name = "a"
first_number = "6281300000000"
size = 100
[[audience.segments]]
name = "a"
first_number = "6281300000050"
size = 10
[[audience.segments]]
name = ""
first_number = "not a number"
size = 10
[[audience.segments]]
name = "c"
first_number = "5511900000000"
size = 0
[[audience.segments]]
name = "d"
first_number = "99999"
size = 2
[[audience.segments]]
name = "e"
first_number = "5511900000000"
size = 10
country = "ID"
[[audience.segments]]
name = "f"
first_number = "919000000000"
size = 10
country = "XX"
"#;
        let e = Scenario::parse(text, "s.toml").unwrap_err().to_string();
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(
            lines,
            [
                "s.toml: audience.first_number: not used with [[audience.segments]]: declare the range as a segment",
                "s.toml: audience.size: not used with [[audience.segments]]: declare the range as a segment",
                "s.toml: audience.segments[1].name: 'a' is already the name of audience.segments[0]",
                "s.toml: audience.segments[2].name: empty name",
                "s.toml: audience.segments[2].first_number: 'not a number' is not a phone number",
                "s.toml: audience.segments[3].size: must be at least 1",
                "s.toml: audience.segments[4].size: 2 users from 99999 run past 5 digits",
                "s.toml: audience.segments[5].country: 5511900000000 is not in ID (+62)",
                "s.toml: audience.segments[6].country: 'XX' is not an ISO 3166 alpha-2 country wabasim knows",
                "s.toml: audience.segments[1]: overlaps audience.segments[0] ('a'): both hold 6281300000050",
            ],
            "{e}"
        );
    }

    #[test]
    fn a_valid_scenario_gives_its_world_and_a_door_revalidates_its_changes() {
        let mut s = Scenario::default_world();
        let w = s.validate("d.toml").unwrap();
        assert_eq!(w.world().businesses.len(), 1);
        assert_eq!(w.setup().seed, s.seed);
        // A door's override (here a token) is checked when the door asks for the world.
        s.businesses[0].tokens = vec![String::new()];
        let e = s.valid_world("scenario").unwrap_err().to_string();
        assert_eq!(e, "scenario: businesses[0].tokens[0]: empty token");
    }
}
