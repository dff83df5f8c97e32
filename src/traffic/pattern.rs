//! Texts with `{seq}`, `{wa_id}` and `{phase}` placeholders (template parameters, free-form
//! bodies), shared by the load generator and the simulation so both send the same texts.

/// One piece of a text with placeholders.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(Box<str>),
    Seq,
    WaId,
    Phase,
}

/// A text with `{seq}`, `{wa_id}` and `{phase}` placeholders, parsed once so that expanding
/// it per message is a few appends (any other `{` is kept as written).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern(Vec<Piece>);

impl Pattern {
    pub fn parse(template: &str) -> Pattern {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = template;
        while let Some(i) = rest.find('{') {
            text.push_str(&rest[..i]);
            let after = &rest[i..];
            let (piece, r) = if let Some(r) = after.strip_prefix("{seq}") {
                (Piece::Seq, r)
            } else if let Some(r) = after.strip_prefix("{wa_id}") {
                (Piece::WaId, r)
            } else if let Some(r) = after.strip_prefix("{phase}") {
                (Piece::Phase, r)
            } else {
                text.push('{');
                rest = &after[1..];
                continue;
            };
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text).into()));
            }
            pieces.push(piece);
            rest = r;
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(text.into()));
        }
        Pattern(pieces)
    }

    /// Whether expanding needs the recipient's id (the caller may skip formatting it).
    pub fn uses_wa_id(&self) -> bool {
        self.0.contains(&Piece::WaId)
    }

    /// Writes the text into `out` (cleared first).
    pub fn expand(&self, out: &mut String, seq: u64, wa_id: &str, phase: &str) {
        out.clear();
        Self::append(&self.0, out, seq, wa_id, phase);
    }

    /// As [`Self::expand`] when `out` holds an earlier expansion of this same pattern: its
    /// leading text is kept, not written again (a literal parameter costs nothing, and
    /// `A-{seq}` only its digits).
    pub fn expand_again(&self, out: &mut String, seq: u64, wa_id: &str, phase: &str) {
        match self.0.first() {
            Some(Piece::Text(t)) if out.len() >= t.len() && out.is_char_boundary(t.len()) => {
                out.truncate(t.len());
                Self::append(&self.0[1..], out, seq, wa_id, phase);
            }
            _ => self.expand(out, seq, wa_id, phase),
        }
    }

    fn append(pieces: &[Piece], out: &mut String, seq: u64, wa_id: &str, phase: &str) {
        for p in pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Seq => out.push_str(itoa::Buffer::new().format(seq)),
                Piece::WaId => out.push_str(wa_id),
                Piece::Phase => out.push_str(phase),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        let mut out = String::new();
        Pattern::parse("order {seq} for {wa_id} in {phase} {x} {")
            .expand(&mut out, 42, "4915", "warm");
        assert_eq!(out, "order 42 for 4915 in warm {x} {");
        for t in [
            "",
            "{",
            "}{",
            "{seq}",
            "{{seq}}",
            "a{phase}{seq}{wa_id}b",
            "{wa_i{seq}",
            "x{",
        ] {
            let p = Pattern::parse(t);
            let mut once = String::new();
            p.expand(&mut once, 7, "62", "p");
            let want = t
                .replace("{seq}", "7")
                .replace("{wa_id}", "62")
                .replace("{phase}", "p");
            assert_eq!(once, want, "{t}");
            assert_eq!(p.uses_wa_id(), t.contains("{wa_id}"), "{t}");
            // Expanding again over the previous expansion gives a fresh expansion's text.
            for (seq, wa) in [(123_456, "6281"), (8, "1"), (7, "62")] {
                let mut fresh = String::new();
                p.expand(&mut fresh, seq, wa, "p");
                let mut again = once.clone();
                p.expand_again(&mut again, seq, wa, "p");
                assert_eq!(again, fresh, "{t} {seq}");
                once = again;
            }
        }
        for t in ["A-{seq}", "besok", "Rp {seq},00", "é{seq}"] {
            let p = Pattern::parse(t);
            let mut out = String::new();
            p.expand(&mut out, 99_999, "", "");
            p.expand_again(&mut out, 5, "", "");
            assert_eq!(out, t.replace("{seq}", "5"));
        }
    }
}
