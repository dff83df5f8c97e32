//! Writes a [`Pick`]'s content as domain data: a template send with its parameters expanded, a
//! free-form text, a simulated inbound text, or a block request. Texts are parsed once per mix
//! entry and the message is rewritten in place, so writing one costs a few appends and no
//! allocation once the buffers have grown.

use super::conversations::Contact;
use super::pattern::Pattern;
use super::pick::{Message, Pick};
use super::plan::{LoadPlan, MixKind};
use crate::engine::ids::WaId;
use crate::engine::message::{Addressee, Content, FreeFormKind, Outbound};
use crate::engine::templates::{TemplateParam, TemplateSend};

/// The reused buffers content is written into.
pub(super) struct Composer {
    /// Seeds the first-seen identity hashes, as the server's audience does.
    seed: u64,
    /// Per phase, per mix entry: its texts (template parameters, or the one body) parsed.
    patterns: Vec<Vec<Vec<Pattern>>>,
    /// The (phase, mix entry) whose template `out` holds, parameters included: the next
    /// message of that entry rewrites only what differs (see [`Pattern::expand_again`]).
    holds: Option<(usize, usize)>,
    /// The outbound message, rewritten in place (its strings keep their capacity).
    out: Outbound,
    /// An inbound message's text.
    inbound: String,
    /// The recipient's digits, formatted only when a placeholder needs them.
    wa: String,
}

impl Composer {
    pub(super) fn new(plan: &LoadPlan, seed: u64) -> Composer {
        Composer {
            seed,
            patterns: plan
                .phases
                .iter()
                .map(|p| {
                    p.mix
                        .iter()
                        .map(|(_, kind)| match kind {
                            MixKind::Template { params, .. } => {
                                params.iter().map(|t| Pattern::parse(t)).collect()
                            }
                            MixKind::Text { body: t, .. } | MixKind::Inbound { text: t } => {
                                vec![Pattern::parse(t)]
                            }
                            MixKind::Block { .. } => Vec::new(),
                        })
                        .collect()
                })
                .collect(),
            holds: None,
            out: Outbound::text(WaId(0), ""),
            inbound: String::new(),
            wa: String::new(),
        }
    }

    /// The message of `pick` (a pick of `plan`).
    pub(super) fn write(&mut self, plan: &LoadPlan, pick: &Pick) -> Message<'_> {
        let p = &plan.phases[pick.phase];
        let patterns = &self.patterns[pick.phase][pick.kind];
        let to = pick.to;
        let seq = pick.seq;
        // `again`: `out` holds this pattern's previous expansion. `{wa_id}` is the recipient
        // as addressed: their number, or their BSUID when the business knows no number.
        let expand_into = |out: &mut String, wa: &mut String, i: usize, again: bool| {
            let pattern = &patterns[i];
            if wa.is_empty() && pattern.uses_wa_id() {
                match to {
                    Contact::Phone(w) => wa.push_str(itoa::Buffer::new().format(w.0)),
                    Contact::UserId(u) => {
                        use std::fmt::Write as _;
                        let _ = write!(wa, "{u}");
                    }
                }
            }
            if again {
                pattern.expand_again(out, seq, wa, &p.name);
            } else {
                pattern.expand(out, seq, wa, &p.name);
            }
        };
        let again = self.holds == Some((pick.phase, pick.kind));
        self.wa.clear();
        self.out.to = match to {
            Contact::Phone(w) => Addressee::Phone(w),
            Contact::UserId(u) => Addressee::UserId(u.to_string().into()),
        };
        self.out.recipient_identity_key_hash = None;
        self.out.channel = Default::default();
        match &p.mix[pick.kind].1 {
            MixKind::Template {
                name,
                language,
                params,
                identity_first_seen,
                channel,
                ..
            } => {
                self.out.channel = *channel;
                if !again
                    && !matches!(&self.out.content, Content::Template(t) if t.name == *name && t.language == *language && t.header.is_empty())
                {
                    self.out.content = Content::Template(TemplateSend {
                        name: name.clone(),
                        language: language.clone(),
                        header: Vec::new(),
                        body: Vec::new(),
                    });
                }
                let Content::Template(t) = &mut self.out.content else {
                    unreachable!("set just above")
                };
                t.body.resize_with(params.len(), || TemplateParam {
                    name: None,
                    text: Some(String::new()),
                });
                for (i, param) in t.body.iter_mut().enumerate() {
                    param.name = None;
                    expand_into(
                        param.text.get_or_insert_with(String::new),
                        &mut self.wa,
                        i,
                        again,
                    );
                }
                self.holds = Some((pick.phase, pick.kind));
                if let (true, Contact::Phone(to)) = (*identity_first_seen, to) {
                    // The hash the server's audience (same seed) gave this user's first
                    // registration (a BSP keeps hashes by phone number).
                    let h = crate::engine::identity::key_hash(self.seed, to, 0);
                    self.out.recipient_identity_key_hash =
                        Some(crate::engine::identity::key_hash_string(&h).into());
                }
                Message::Send(&self.out)
            }
            MixKind::Text { .. } => {
                self.holds = None;
                if !matches!(
                    &self.out.content,
                    Content::FreeForm {
                        kind: FreeFormKind::Text,
                        text: Some(_)
                    }
                ) {
                    self.out.content = Content::FreeForm {
                        kind: FreeFormKind::Text,
                        text: Some(String::new()),
                    };
                }
                if let Content::FreeForm { text: Some(t), .. } = &mut self.out.content {
                    expand_into(t, &mut self.wa, 0, false);
                }
                Message::Send(&self.out)
            }
            MixKind::Inbound { .. } => {
                expand_into(&mut self.inbound, &mut self.wa, 0, false);
                Message::Inbound {
                    // Inbound entries draw from the segments: always a phone number.
                    from: to.phone().unwrap_or(WaId(0)),
                    text: &self.inbound,
                }
            }
            MixKind::Block { .. } => Message::Block { user: to },
        }
    }
}
