//! Which access token `run` sends with each business number's requests.
//!
//! On the Cloud API a token acts for one business (a System User token of its portfolio), so a
//! run over a multi-business world must send each request with the token of the business that
//! owns the sending number, or the target refuses it with code 200. Resolution, per number, most
//! specific first:
//! 1. `--tokens FILE` (with `--target` only): a TOML file of `ID = "TOKEN"` lines, where ID is a
//!    phone number id, a WABA id or a business id (the most specific match wins);
//! 2. `--token TOKEN`: the first business's token (as `serve --token` sets it);
//! 3. the owning business's first token in the scenario.
//!
//! A number left without a token, or a line of the file that names no number, WABA or business
//! of the scenario, is an error before the run starts: a typo would otherwise surface as a
//! wall of permission errors.

use crate::engine::world::WorldSpec;
use crate::traffic::plan::LoadPlan;
use std::collections::BTreeMap;
use std::path::Path;

/// Reads a `--tokens` file: `ID = "TOKEN"` per line (TOML), ids as digits.
pub fn read_file(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("--tokens {file}: {e}"))?;
    parse(&text, &file)
}

/// Parses the text of a `--tokens` file; errors name `file:line:column`.
pub fn parse(text: &str, file: &str) -> Result<BTreeMap<String, String>, String> {
    let map: BTreeMap<String, String> =
        toml::from_str(text).map_err(|e| crate::traffic::spec::toml_error(text, file, &e))?;
    for (id, token) in &map {
        let line = text
            .lines()
            .position(|l| {
                l.trim_start()
                    .trim_start_matches('"')
                    .starts_with(id.as_str())
            })
            .map_or(String::new(), |i| format!(":{}", i + 1));
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{file}{line}: {id:?} is not an id: keys are phone number, WABA or business ids (digits)"
            ));
        }
        if token.trim().is_empty() {
            return Err(format!("{file}{line}: the token of {id} is empty"));
        }
    }
    Ok(map)
}

/// The token of every number of `plan`, keyed by phone number id.
///
/// `first_token` is `--token`; `file` the parsed `--tokens` file (with its name for errors).
pub fn resolve(
    world: &WorldSpec,
    plan: &LoadPlan,
    first_token: Option<&str>,
    file: Option<(&str, &BTreeMap<String, String>)>,
) -> Result<BTreeMap<String, String>, String> {
    let mut owners = BTreeMap::new();
    for (bi, b) in world.businesses.iter().enumerate() {
        for w in &b.wabas {
            for n in &w.phone_numbers {
                owners.insert(n.id.to_string(), (bi, w.id.to_string()));
            }
        }
    }
    if let Some((name, map)) = file {
        for id in map.keys() {
            let known = owners.contains_key(id)
                || world.businesses.iter().any(|b| {
                    b.id.to_string() == *id || b.wabas.iter().any(|w| w.id.to_string() == *id)
                });
            if !known {
                return Err(format!(
                    "--tokens {name}: {id} is not a phone number, WABA or business of the scenario"
                ));
            }
        }
    }
    let mut out = BTreeMap::new();
    let mut missing = Vec::new();
    for number in &plan.numbers {
        let Some((bi, waba)) = owners.get(number) else {
            missing.push(number.clone());
            continue;
        };
        let business = &world.businesses[*bi];
        let from_file = file.and_then(|(_, map)| {
            map.get(number)
                .or_else(|| map.get(waba))
                .or_else(|| map.get(&business.id.to_string()))
        });
        let token = from_file
            .cloned()
            .or_else(|| first_token.filter(|_| *bi == 0).map(str::to_string))
            .or_else(|| business.tokens.first().cloned());
        match token {
            Some(t) => {
                out.insert(number.clone(), t);
            }
            None => missing.push(number.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "no access token for phone number(s) {}: give their business `tokens` in the scenario, \
             or map them in a --tokens file (`ID = \"TOKEN\"` per line, ID a phone number, WABA or business id)",
            missing.join(", ")
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    const TWO: &str = r#"
[[businesses]]
id = "100000000000001"
name = "A"
tokens = ["tok-a"]
[[businesses.wabas]]
id = "200000000000001"
[[businesses.wabas.phone_numbers]]
id = "300000000000001"
display_phone_number = "+62 812-0000-0001"
verified_name = "A"
[[businesses.wabas.phone_numbers]]
id = "300000000000002"
display_phone_number = "+62 812-0000-0002"
verified_name = "A"
[[businesses]]
id = "100000000000002"
name = "B"
country = "BR"
tokens = ["tok-b"]
[[businesses.wabas]]
id = "200000000000002"
[[businesses.wabas.phone_numbers]]
id = "300000000000003"
display_phone_number = "+55 11 90000-0001"
verified_name = "B"
[traffic]
[[traffic.phases]]
name = "p"
messages = 3
open = { rate = 1 }
[[traffic.phases.mix]]
text = { body = "hi", to = "any" }
"#;

    fn setup(text: &str) -> (WorldSpec, LoadPlan) {
        let s = Scenario::parse(text, "t.toml").unwrap();
        let plan = LoadPlan::build(s.traffic.as_ref().unwrap(), None, s.plan_context()).unwrap();
        (s.world(), plan)
    }

    #[test]
    fn each_number_gets_its_business_token() {
        let (w, plan) = setup(TWO);
        let t = resolve(&w, &plan, None, None).unwrap();
        assert_eq!(t["300000000000001"], "tok-a");
        assert_eq!(t["300000000000002"], "tok-a");
        assert_eq!(t["300000000000003"], "tok-b");
        // --token replaces the first business's token only.
        let t = resolve(&w, &plan, Some("cli"), None).unwrap();
        assert_eq!(t["300000000000001"], "cli");
        assert_eq!(t["300000000000003"], "tok-b");
    }

    #[test]
    fn the_file_wins_most_specific_first() {
        let (w, plan) = setup(TWO);
        let map = parse(
            "# per business, with one number overridden\n100000000000001 = \"file-a\"\n300000000000002 = \"file-n2\"\n200000000000002 = \"file-waba-b\"\n",
            "tok.toml",
        )
        .unwrap();
        let t = resolve(&w, &plan, Some("cli"), Some(("tok.toml", &map))).unwrap();
        assert_eq!(t["300000000000001"], "file-a");
        assert_eq!(t["300000000000002"], "file-n2");
        assert_eq!(t["300000000000003"], "file-waba-b");
    }

    #[test]
    fn missing_and_unknown_are_errors_before_the_run() {
        let text = TWO.replace("tokens = [\"tok-b\"]\n", "");
        let (w, plan) = setup(&text);
        let e = resolve(&w, &plan, None, None).unwrap_err();
        assert!(
            e.contains("no access token for phone number(s) 300000000000003"),
            "{e}"
        );
        let map = parse("999 = \"x\"\n", "tok.toml").unwrap();
        let e = resolve(&w, &plan, None, Some(("tok.toml", &map))).unwrap_err();
        assert!(
            e.contains("--tokens tok.toml: 999 is not a phone number"),
            "{e}"
        );
    }

    #[test]
    fn bad_files_name_the_line() {
        let e = parse("a = 1\n", "tok.toml").unwrap_err();
        assert!(e.starts_with("tok.toml:1:"), "{e}");
        let e = parse("# c\nabc = \"x\"\n", "tok.toml").unwrap_err();
        assert!(e.starts_with("tok.toml:2:"), "{e}");
        assert!(e.contains("not an id"), "{e}");
        let e = parse("123 = \" \"\n", "tok.toml").unwrap_err();
        assert!(e.contains("the token of 123 is empty"), "{e}");
    }
}
