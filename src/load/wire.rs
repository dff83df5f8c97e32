//! The Graph request bodies `run` sends, written from the traffic model's domain data in one
//! place: a picked [`Outbound`] becomes the JSON of `POST /{phone-number-id}/messages`, a
//! simulated inbound message the JSON of `POST /_sim/inbound`, a block the JSON of
//! `POST /{phone-number-id}/block_users`. Written straight into a reused
//! buffer (no JSON tree per message: the runner sends thousands per second).
//!
//! The traffic model sends text and template messages. Other free-form kinds carry no payload in
//! an [`Outbound`] (media ids, coordinates, …), so they are written with their type and the
//! text as a caption only, and a server refuses them for the missing payload.

use crate::engine::ids::WaId;
use crate::engine::message::{Addressee, Content, FreeFormKind, Outbound};
use crate::engine::templates::TemplateParam;
use crate::traffic::conversations::Contact;

/// Writes the messages request for `msg` into `out` (cleared first).
pub fn request_body(msg: &Outbound, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(br#"{"messaging_product":"whatsapp","recipient_type":"individual","#);
    match &msg.to {
        Addressee::Phone(to) => {
            out.extend_from_slice(br#""to":""#);
            push_wa_id(out, *to);
            out.push(b'"');
        }
        Addressee::UserId(id) => {
            out.extend_from_slice(br#""recipient":"#);
            push_str(out, id);
        }
    }
    if let Some(h) = &msg.recipient_identity_key_hash {
        out.extend_from_slice(br#","recipient_identity_key_hash":"#);
        push_str(out, h);
    }
    if let crate::engine::message::Channel::MarketingMessages { strict } = msg.channel {
        out.extend_from_slice(if strict {
            br#","product_policy":"STRICT""#.as_slice()
        } else {
            br#","product_policy":"CLOUD_API_FALLBACK""#.as_slice()
        });
    }
    if let Some(d) = &msg.biz_opaque_callback_data {
        out.extend_from_slice(br#","biz_opaque_callback_data":"#);
        push_str(out, d);
    }
    match &msg.content {
        Content::Template(t) => {
            out.extend_from_slice(br#","type":"template","template":{"name":"#);
            push_str(out, &t.name);
            out.extend_from_slice(br#","language":{"code":"#);
            push_str(out, &t.language);
            out.push(b'}');
            // Graph refuses an empty `parameters` list; no components when there is nothing.
            let parts = [("header", &t.header), ("body", &t.body)];
            let mut first = true;
            for (kind, params) in parts.into_iter().filter(|(_, p)| !p.is_empty()) {
                out.extend_from_slice(if first {
                    br#","components":["#.as_slice()
                } else {
                    b",".as_slice()
                });
                first = false;
                out.extend_from_slice(br#"{"type":""#);
                out.extend_from_slice(kind.as_bytes());
                out.extend_from_slice(br#"","parameters":["#);
                for (j, p) in params.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    push_param(out, p);
                }
                out.extend_from_slice(b"]}");
            }
            if !first {
                out.push(b']');
            }
            out.push(b'}');
        }
        Content::FreeForm {
            kind: FreeFormKind::Text,
            text,
        } => {
            out.extend_from_slice(br#","type":"text","text":{"body":"#);
            push_str(out, text.as_deref().unwrap_or(""));
            out.push(b'}');
        }
        Content::FreeForm { kind, text } => {
            out.extend_from_slice(br#","type":""#);
            out.extend_from_slice(kind.as_str().as_bytes());
            out.extend_from_slice(br#"",""#);
            out.extend_from_slice(kind.as_str().as_bytes());
            out.extend_from_slice(br#"":{"#);
            if let Some(t) = text {
                out.extend_from_slice(br#""caption":"#);
                push_str(out, t);
            }
            out.push(b'}');
        }
    }
    out.push(b'}');
}

/// Writes the `POST /_sim/inbound` request for user `from` writing `text` to the number
/// `phone_number_id` into `out` (cleared first).
pub fn inbound_body(phone_number_id: &str, from: WaId, text: &str, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(br#"{"from":""#);
    push_wa_id(out, from);
    out.extend_from_slice(br#"","phone_number_id":"#);
    push_str(out, phone_number_id);
    out.extend_from_slice(br#","text":"#);
    push_str(out, text);
    out.push(b'}');
}

/// Writes the `POST /{phone-number-id}/block_users` request blocking `user` into `out`
/// (cleared first): `{"user": phone}` when the number is known, `{"user_id": BSUID}` otherwise.
pub fn block_body(user: Contact, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(br#"{"messaging_product":"whatsapp","block_users":[{"#);
    match user {
        Contact::Phone(w) => {
            out.extend_from_slice(br#""user":""#);
            push_wa_id(out, w);
            out.push(b'"');
        }
        Contact::UserId(u) => {
            use std::io::Write as _;
            out.extend_from_slice(br#""user_id":""#);
            // Writing to a Vec cannot fail.
            let _ = write!(out, "{u}");
            out.push(b'"');
        }
    }
    out.extend_from_slice(b"}]}");
}

/// A template parameter: a text, named (`parameter_name`) for named templates.
fn push_param(out: &mut Vec<u8>, p: &TemplateParam) {
    out.extend_from_slice(br#"{"type":"text""#);
    if let Some(n) = &p.name {
        out.extend_from_slice(br#","parameter_name":"#);
        push_str(out, n);
    }
    out.extend_from_slice(br#","text":"#);
    push_str(out, p.text.as_deref().unwrap_or(""));
    out.push(b'}');
}

fn push_wa_id(out: &mut Vec<u8>, id: WaId) {
    out.extend_from_slice(itoa::Buffer::new().format(id.0).as_bytes());
}

/// Writes `s` as a JSON string literal: quotes, backslashes and control characters escaped,
/// everything else (UTF-8 included) copied as runs of bytes.
pub(crate) fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
