//! ASCII-only JSON serialisation.
//!
//! Meta serialises webhook bodies with every non-ASCII character escaped (`é` → `\u00e9`,
//! `😀` → `\ud83d\ude00`), as Python's `json.dumps(ensure_ascii=True)` does. Receivers that
//! verify `X-Hub-Signature-256` must hash the raw bytes, so the exact escaping matters: a BSP
//! whose verifier re-serialises the parsed body (a classic bug) only fails when the bytes differ,
//! and that happens precisely with non-ASCII text. serde_json writes UTF-8 as is, hence this
//! small writer. Output is compact (no spaces), like Meta's.

use serde_json::Value;

/// Serialises `v` as compact JSON in which every byte is ASCII: characters outside
/// `0x20..=0x7E` are written as `\uXXXX` (lowercase hex, UTF-16 surrogate pairs above U+FFFF),
/// except `\b \f \n \r \t`, which keep their short escapes, as Python does.
pub fn to_ascii_json(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // serde_json's Display of a Number is its JSON form (ASCII only).
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_str(out, s),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, x);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            out.push(b'{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write_value(out, x);
            }
            out.push(b'}');
        }
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{08}' => out.extend_from_slice(b"\\b"),
            '\u{0C}' => out.extend_from_slice(b"\\f"),
            ' '..='~' => out.push(c as u8),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write_u16_escape(out, *u);
                }
            }
        }
    }
    out.push(b'"');
}

fn write_u16_escape(out: &mut Vec<u8>, u: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u");
    for shift in [12, 8, 4, 0] {
        out.push(HEX[((u >> shift) & 0xF) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(v: &Value) -> String {
        String::from_utf8(to_ascii_json(v)).unwrap()
    }

    #[test]
    fn escapes_bmp_and_astral_characters() {
        assert_eq!(s(&json!("café")), r#""caf\u00e9""#);
        assert_eq!(s(&json!("😀")), r#""\ud83d\ude00""#);
        assert_eq!(s(&json!("日本")), r#""\u65e5\u672c""#);
    }

    #[test]
    fn leaves_ascii_and_escapes_controls_like_python() {
        // Expected string produced by Python 3: json.dumps("a /~\x01\x7f\n\"\\\t\b\f\r")
        assert_eq!(
            s(&json!("a /~\u{01}\u{7f}\n\"\\\t\u{08}\u{0c}\r")),
            r#""a /~\u0001\u007f\n\"\\\t\b\f\r""#
        );
    }

    #[test]
    fn output_is_ascii_compact_and_round_trips() {
        let v = json!({"a":[1,-2.5,true,null,{"b":"x😀é"}],"c":"\u{2028}"});
        let bytes = to_ascii_json(&v);
        assert!(bytes.iter().all(|b| b.is_ascii()));
        assert!(!bytes.contains(&b' '));
        let back: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, v);
    }
}
