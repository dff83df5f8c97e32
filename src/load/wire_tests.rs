use super::*;
use crate::engine::message::Outbound;
use crate::engine::templates::TemplateSend;
use crate::server::wire::{parse_messages, MessagesRequest};

/// What the server's own parser reads back from a body.
fn parsed(msg: &Outbound) -> Outbound {
    let mut out = Vec::new();
    request_body(msg, &mut out);
    match parse_messages(&out) {
        Ok(MessagesRequest::Send { msg, .. }) => msg,
        other => panic!("{other:?}: {}", String::from_utf8_lossy(&out)),
    }
}

fn param(name: Option<&str>, text: &str) -> TemplateParam {
    TemplateParam {
        name: name.map(Into::into),
        text: Some(text.into()),
    }
}

#[test]
fn bodies_round_trip_through_the_servers_parser() {
    let awkward = "a\"b\\c\nd\r\t\u{1}\u{1f}é 🙂 </script>";
    let mut with_hash = Outbound::template(
        WaId(628_120_000_001),
        TemplateSend {
            name: "order_update".into(),
            language: "en_US".into(),
            header: vec![param(None, "H")],
            body: vec![param(None, "62812"), param(None, awkward)],
        },
    );
    with_hash.recipient_identity_key_hash = Some("abc+/=".into());
    with_hash.biz_opaque_callback_data = Some("cb \"1\"".into());
    let msgs = [
        Outbound::text(WaId(4_915_000_000), awkward),
        Outbound::template(
            WaId(12_345),
            TemplateSend {
                name: "hello_world".into(),
                language: "en_US".into(),
                header: Vec::new(),
                body: Vec::new(),
            },
        ),
        Outbound::template(
            WaId(12_345),
            TemplateSend {
                name: "named".into(),
                language: "id".into(),
                header: Vec::new(),
                body: vec![param(Some("first_name"), "Budi")],
            },
        ),
        with_hash,
    ];
    for m in msgs {
        assert_eq!(parsed(&m), m);
    }
}

#[test]
fn body_shape_is_the_documented_one() {
    let mut out = Vec::new();
    request_body(&Outbound::text(WaId(4915), "hi"), &mut out);
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        r#"{"messaging_product":"whatsapp","recipient_type":"individual","to":"4915","type":"text","text":{"body":"hi"}}"#
    );
    // The buffer is reused: cleared, not appended to.
    request_body(
        &Outbound::template(
            WaId(4915),
            TemplateSend {
                name: "t".into(),
                language: "en_US".into(),
                header: Vec::new(),
                body: vec![param(None, "x")],
            },
        ),
        &mut out,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"messaging_product":"whatsapp","recipient_type":"individual","to":"4915","type":"template","template":{"name":"t","language":{"code":"en_US"},"components":[{"type":"body","parameters":[{"type":"text","text":"x"}]}]}}"#
    );
}

#[test]
fn inbound_body_is_json() {
    let mut out = Vec::new();
    inbound_body(
        "106540352242922",
        WaId(628_120_000_001),
        "where \"is\"\nit?",
        &mut out,
    );
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"from": "628120000001", "phone_number_id": "106540352242922", "text": "where \"is\"\nit?"})
    );
}

#[test]
fn json_strings_escape_what_json_needs() {
    let mut s = Vec::new();
    push_str(&mut s, "a\"b\\c\nd\u{1}é");
    assert_eq!(
        String::from_utf8(s.clone()).unwrap(),
        r#""a\"b\\c\nd\u0001é""#
    );
    let v: String = serde_json::from_slice(&s).unwrap();
    assert_eq!(v, "a\"b\\c\nd\u{1}é");
}

/// A Marketing Messages API send writes its `product_policy`, and the server's
/// `/marketing_messages` parser reads the same send and policy back; a Cloud API send has none.
#[test]
fn marketing_messages_bodies_carry_their_product_policy() {
    use crate::engine::message::Channel;
    use crate::server::wire::parse_marketing_messages;
    let send = || {
        Outbound::template(
            WaId(628_120_000_001),
            TemplateSend {
                name: "promo".into(),
                language: "id".into(),
                header: vec![],
                body: vec![param(None, "Ayu")],
            },
        )
    };
    for strict in [false, true] {
        let mut msg = send();
        msg.channel = Channel::MarketingMessages { strict };
        let mut out = Vec::new();
        request_body(&msg, &mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let policy = if strict {
            "STRICT"
        } else {
            "CLOUD_API_FALLBACK"
        };
        assert!(
            text.contains(&format!("\"product_policy\":\"{policy}\"")),
            "{text}"
        );
        let (back, input) =
            parse_marketing_messages(&out).unwrap_or_else(|e| panic!("{e:?}: {text}"));
        assert_eq!(back, msg);
        assert_eq!(input, "628120000001");
    }
    let mut out = Vec::new();
    request_body(&send(), &mut out);
    assert!(!String::from_utf8_lossy(&out).contains("product_policy"));
    assert_eq!(parsed(&send()), send());
}

/// A block names a known number with `user` and a user known only by BSUID with `user_id`, as
/// Meta's Block Users page writes them.
#[test]
fn block_bodies_name_the_user_by_number_or_by_bsuid() {
    use crate::traffic::conversations::Contact;
    let mut out = Vec::new();
    block_body(Contact::Phone(WaId(6281300000042)), &mut out);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"messaging_product": "whatsapp", "block_users": [{"user": "6281300000042"}]})
    );
    let id =
        crate::engine::bsuid::user_id(7, crate::engine::ids::BusinessId(1), WaId(6281300000042), 0);
    block_body(Contact::UserId(id), &mut out);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["block_users"][0]["user_id"], id.to_string());
    assert!(v["block_users"][0].get("user").is_none());
}
