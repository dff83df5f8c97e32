"""wabasim against a real client: pywa (https://github.com/david-lev/pywa), unmodified.

- `test_pywa_client_*`: pywa's client methods against the mock over HTTP (no webhooks).
- `test_pywa_webhooks_*`: pywa's own webhook handler (FastAPI + pywa's signature check) receives
  the mock's signed webhooks (handshake, signature, inbound message, sent/delivered statuses).
"""

from __future__ import annotations

import os
import threading
import time

import httpx
import pytest
from fastapi import FastAPI
from pywa import WhatsApp, errors, types
from pywa.types.templates import BodyText, TemplateLanguage

from conftest import (
    ROOT,
    APP_SECRET,
    PHONE,
    TIMEOUT_S,
    TOKEN,
    USER,
    VERIFY_TOKEN,
    WABA,
    Receiver,
    Wabasim,
    point_at,
)


def client(server: Wabasim, **kw) -> WhatsApp:
    session = httpx.Client(timeout=10.0)
    wa = WhatsApp(phone_id=PHONE, token=TOKEN, waba_id=WABA, session=session, **kw)
    point_at(session, server)
    return wa


# ----- Client only -----------------------------------------------------------------------------


def test_pywa_client_sends_and_reads(wabasim: Wabasim):
    wa = client(wabasim)

    # Free-form outside the service window: pywa maps the mock's error to its own class.
    with pytest.raises(errors.ReEngagementMessage) as ei:
        wa.send_message(to=USER, text="too early")
    assert ei.value.code == 131047
    assert ei.value.status_code == 400
    assert "24 hours" in ei.value.details

    wabasim.inbound("halo")
    sent = wa.send_message(to=USER, text="Hi from pywa")
    assert sent.id.startswith("wamid.")
    assert sent.input == USER
    assert sent.from_phone_id == PHONE

    tpl = wa.send_template(to=USER, name="hello_world", language=TemplateLanguage.ENGLISH_US)
    assert tpl.id.startswith("wamid.")
    promo = wa.send_template(
        to=USER,
        name="promo_diskon",
        language=TemplateLanguage.INDONESIAN,
        params=[BodyText.params("Ayu")],
    )
    assert promo.id.startswith("wamid.")
    named = wa.send_template(
        to=USER,
        name="delivery_update",
        language=TemplateLanguage.ENGLISH_US,
        params=[BodyText.params(first_name="Ayu", order_id="ORD-1")],
    )
    assert len({sent.id, tpl.id, promo.id, named.id}) == 4

    with pytest.raises(errors.TemplateParamCountMismatch):
        wa.send_template(to=USER, name="order_shipped", language=TemplateLanguage.INDONESIAN,
                         params=[BodyText.params("ORD-1")])
    with pytest.raises(errors.TemplateNotExists):
        wa.send_template(to=USER, name="no_such_template", language=TemplateLanguage.ENGLISH_US)

    # Other message types through pywa's own builders.
    btn = wa.send_message(
        to=USER,
        text="Pick one",
        buttons=[types.Button(title="Yes", callback_data="yes"), types.Button(title="No", callback_data="no")],
    )
    assert btn.id.startswith("wamid.")
    assert wa.send_location(to=USER, latitude=-6.9175, longitude=107.6191, name="Braga").id.startswith("wamid.")
    assert wa.send_reaction(to=USER, emoji="\N{THUMBS UP SIGN}", message_id=sent.id).id.startswith("wamid.")
    assert wa.send_image(to=USER, image="https://example.com/a.png", caption="c").id.startswith("wamid.")

    state = wabasim.sim("GET", "state")
    assert state["sends_accepted"] == 8


def test_pywa_client_reads_number_profile_templates(wabasim: Wabasim):
    wa = client(wabasim)

    num = wa.get_business_phone_number()
    assert num.id == PHONE
    assert num.display_phone_number == "+62 812-0000-0001"
    assert num.verified_name == "Toko Sepatu Nusantara"
    assert num.quality_rating == "GREEN"
    assert num.status == "CONNECTED"
    assert num.platform_type == "CLOUD_API"
    assert num.whatsapp_business_manager_messaging_limit == "TIER_250"

    profile = wa.get_business_profile()
    assert profile.about == "Sepatu lokal berkualitas"
    assert profile.email == "halo@tokosepatu.example"
    assert list(profile.websites) == ["https://tokosepatu.example"]

    assert wa.update_business_profile(about="Diperbarui lewat pywa", websites=["https://pywa.example"])
    profile = wa.get_business_profile()
    assert profile.about == "Diperbarui lewat pywa"
    assert list(profile.websites) == ["https://pywa.example"]

    templates = wa.get_templates()
    got = sorted((t.name, str(t.language.value)) for t in templates)
    assert ("hello_world", "en_US") in got and ("promo_diskon", "id") in got
    assert len(got) == 6
    assert templates.total_count == 6

    # Mark an inbound message as read.
    inbound = wabasim.inbound("halo lagi")
    assert wa.mark_message_as_read(inbound["message_id"])


def test_pywa_client_blocks_and_unblocks_users(wabasim: Wabasim):
    wa = client(wabasim)
    stranger = "6281300000777"

    # Only a user who wrote in the last 24 hours can be blocked.
    wabasim.inbound("halo")
    blocked = wa.block_users(users=[USER])
    assert [(u.input, u.wa_id) for u in blocked.added_users] == [(USER, USER)]
    assert blocked.failed_users == () and blocked.errors is None

    # Sends to a blocked user are refused with 130403. (pywa 4.5.0's get_blocked_users reads
    # each listed user with the block result's parser, which wants an `input` key that Meta's
    # list does not have, so it is not used here; tests/it/block_http.rs checks the list.)
    with pytest.raises(errors.WhatsAppError) as ei:
        wa.send_message(to=USER, text="Ada kak")
    assert ei.value.code == 130403

    # A user who never wrote in: the request fails with 139100, pywa's BulkBlockingFailed.
    with pytest.raises(errors.BulkBlockingFailed) as ei:
        wa.block_users(users=[stranger])
    assert ei.value.code == 139100

    # Unblocking needs no recent message; the user can be written to again.
    unblocked = wa.unblock_users(users=[USER])
    assert [(u.input, u.wa_id) for u in unblocked.removed_users] == [(USER, USER)]
    assert wa.send_message(to=USER, text="Ada kak").id.startswith("wamid.")


def test_pywa_client_auth_error(wabasim: Wabasim):
    session = httpx.Client(timeout=10.0)
    wa = WhatsApp(phone_id=PHONE, token="not-a-token", session=session)
    point_at(session, wabasim)
    with pytest.raises(errors.AuthorizationError) as ei:
        wa.send_message(to=USER, text="x")
    assert ei.value.code == 190
    assert ei.value.status_code == 401


# ----- Webhooks (need the real dispatcher) -----------------------------------------------------


def dispatcher_present(server: Wabasim) -> bool:
    """The placeholder outbox (src/webhooks before the dispatcher lands) only counts `no_url`."""
    return "delivered" in server.sim("GET", "webhooks")


def need_dispatcher(server: Wabasim) -> None:
    if dispatcher_present(server):
        return
    pytest.fail(
        "the server has no webhook dispatcher (GET /_sim/webhooks has no `delivered` counter)"
    )


class Inbox:
    """What pywa's handlers received, with a wait that fails on timeout."""

    def __init__(self):
        self.messages: list[types.Message] = []
        self.statuses: list[types.MessageStatus] = []
        self.cond = threading.Condition()

    def add(self, kind: str, item) -> None:
        with self.cond:
            getattr(self, kind).append(item)
            self.cond.notify_all()

    def wait_for(self, what: str, pred) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        with self.cond:
            while not pred():
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(
                        f"timed out waiting for {what}; messages={self.messages!r} "
                        f"statuses={[(s.id, s.status) for s in self.statuses]!r}"
                    )
                self.cond.wait(timeout=min(left, 0.5))

    def status_set(self, wamid: str) -> set[str]:
        return {str(s.status.value) for s in self.statuses if s.id == wamid}


def receiver_client(app: FastAPI, inbox: Inbox, app_secret: str = APP_SECRET) -> WhatsApp:
    wa = WhatsApp(
        phone_id=PHONE,
        token=TOKEN,
        waba_id=WABA,
        session=httpx.Client(timeout=10.0),
        server=app,
        webhook_endpoint="/webhook",
        verify_token=VERIFY_TOKEN,
        app_secret=app_secret,
    )

    @wa.on_message()
    def _on_message(_: WhatsApp, msg: types.Message):
        inbox.add("messages", msg)

    @wa.on_message_status()
    def _on_status(_: WhatsApp, st: types.MessageStatus):
        inbox.add("statuses", st)

    return wa


def test_pywa_webhooks_signed_statuses_and_inbound():
    app = FastAPI()
    inbox = Inbox()
    wa = receiver_client(app, inbox)
    receiver = Receiver(app)
    server = None
    try:
        # The verification handshake runs at start (pywa answers the challenge).
        server = Wabasim(
            "--webhook-url", receiver.url, "--app-secret", APP_SECRET, "--verify-token", VERIFY_TOKEN,
        )
        need_dispatcher(server)
        point_at(wa.api._session, server)

        # Opens the service window (and reports the message by webhook; checked last, so a
        # problem there does not hide the status checks).
        server.inbound("halo dari pengguna")

        text = wa.send_message(to=USER, text="Hi from pywa")
        tpl = wa.send_template(to=USER, name="hello_world", language=TemplateLanguage.ENGLISH_US)
        # `sent` is reported at once; `delivered` 0.1-1.5 simulated seconds later.
        inbox.wait_for("sent statuses", lambda: all("sent" in inbox.status_set(m.id) for m in (text, tpl)))
        assert not any("delivered" in inbox.status_set(m.id) for m in (text, tpl)), \
            "delivered before the manual clock moved"
        server.advance(5)
        inbox.wait_for(
            "delivered statuses",
            lambda: all({"sent", "delivered"} <= inbox.status_set(m.id) for m in (text, tpl)),
        )
        st = next(s for s in inbox.statuses if s.id == tpl.id and str(s.status.value) == "delivered")
        assert st.from_user.wa_id == USER

        # pywa >= 4 builds the sender from `contacts[0].user_id` (the business-scoped user id);
        # a payload without it is dropped by pywa ("Failed to construct update").
        inbox.wait_for("the inbound message", lambda: len(inbox.messages) >= 1)
        msg = inbox.messages[0]
        assert msg.text == "halo dari pengguna"
        assert msg.from_user.wa_id == USER
        assert msg.metadata.phone_number_id == PHONE
        # The receiver has the last webhook before the server has read its 2xx: wait for the
        # server's own count to catch up.
        deadline = time.monotonic() + TIMEOUT_S
        stats = server.sim("GET", "webhooks")
        while stats["delivered"] < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
            stats = server.sim("GET", "webhooks")
        assert stats["delivered"] >= 5, stats
        assert stats.get("failed_attempts", 0) == 0, stats
    finally:
        if server:
            server.close()
        receiver.close()


def test_pywa_webhooks_wrong_secret_is_rejected_by_pywa():
    """Signed with another secret: pywa's own check refuses every POST (403) and no handler
    runs; wabasim counts the failed attempts."""
    app = FastAPI()
    inbox = Inbox()
    receiver_client(app, inbox)
    receiver = Receiver(app)
    server = None
    try:
        server = Wabasim(
            "--webhook-url", receiver.url, "--app-secret", "not-the-secret", "--verify-token", VERIFY_TOKEN,
        )
        need_dispatcher(server)
        server.inbound("halo")
        deadline = time.monotonic() + TIMEOUT_S
        while server.sim("GET", "webhooks").get("failed_attempts", 0) < 1:
            assert time.monotonic() < deadline, server.sim("GET", "webhooks")
            time.sleep(0.05)
        assert inbox.messages == [] and inbox.statuses == []
    finally:
        if server:
            server.close()
        receiver.close()


def test_pywa_webhooks_hidden_number_reply_and_block_by_bsuid(tmp_path):
    """Every user hides their number behind a username: pywa's message has a BSUID and no
    wa_id, its reply and its block go by BSUID, and an authentication template to a BSUID is
    refused (131062, pywa's BSUIDRecipientNotSupported)."""
    world = (ROOT / "scenarios" / "default.toml").read_text().replace(
        "[audience]\n", "[audience]\nusername_ratio = 1.0\n"
    )
    assert "username_ratio = 1.0" in world
    scenario = tmp_path / "usernames.toml"
    scenario.write_text(world)
    app = FastAPI()
    inbox = Inbox()
    wa = receiver_client(app, inbox)
    receiver = Receiver(app)
    server = None
    try:
        server = Wabasim(
            "--scenario", str(scenario),
            "--webhook-url", receiver.url, "--app-secret", APP_SECRET, "--verify-token", VERIFY_TOKEN,
        )
        point_at(wa.api._session, server)
        server.inbound("halo")
        inbox.wait_for("the inbound message", lambda: len(inbox.messages) >= 1)
        msg = inbox.messages[0]
        user = msg.from_user
        assert user.wa_id is None, user
        assert user.bsuid.startswith("ID.") and user.username, user

        # pywa replies to the id it has: the BSUID, sent as `recipient`.
        reply = msg.reply_text("Ada kak")
        assert reply.id.startswith("wamid.")
        assert reply.input == user.bsuid

        with pytest.raises(errors.BSUIDRecipientNotSupported) as ei:
            wa.send_template(to=user.bsuid, name="otp_login", language=TemplateLanguage.ENGLISH_US,
                             params=[BodyText.params("123456")])
        assert ei.value.code == 131062

        # pywa's block shortcut blocks by `user_id`; sends to the user then fail with 130403.
        assert user.block() is True
        with pytest.raises(errors.WhatsAppError) as ei:
            msg.reply_text("Ada kak?")
        assert ei.value.code == 130403
    finally:
        if server:
            server.close()
        receiver.close()
