// wabasim against a real JavaScript client: whatsapp-api-js (https://github.com/Secreto31126/whatsapp-api-js),
// unmodified, pinned in package.json / package-lock.json. Run by scripts/test.sh (`node --test`).
//
// whatsapp-api-js hardcodes https://graph.facebook.com in every URL it builds, but takes a
// `ponyfill.fetch`: the client below gets a fetch that rewrites that origin to the mock's base
// URL and otherwise calls the global fetch unchanged (method, headers, body, token all the
// library's own).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, webcrypto } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";

import { WhatsAppAPI } from "whatsapp-api-js/middleware/node-http";
import { BodyComponent, BodyParameter, Image, Language, Template, Text } from "whatsapp-api-js/messages";
import { WhatsAppAPIError } from "whatsapp-api-js/errors";

import { APP_SECRET, PHONE, ROOT, TOKEN, USER, VERIFY_TOKEN, WABA, startWabasim, waitFor } from "./wabasim.mjs";

// whatsapp-api-js verifies signatures with the global `crypto.subtle`, which Node 18 only has
// behind a flag; Node >= 19 has it by default.
globalThis.crypto ??= webcrypto;

const GRAPH = "https://graph.facebook.com";
const V = "v23.0";

/** A whatsapp-api-js client whose requests go to `server` instead of graph.facebook.com. */
function client(server, settings = {}) {
  const base = server.base;
  return new WhatsAppAPI({
    token: TOKEN,
    v: V,
    secure: false, // a sending client only; the webhook receiver below is secure
    ponyfill: {
      fetch: (url, init) => {
        const u = String(url);
        const to = u.startsWith(GRAPH) ? base + u.slice(GRAPH.length) : u;
        return fetch(to, { ...init, signal: AbortSignal.timeout(10_000) });
      },
    },
    ...settings,
  });
}

/** A 1x1 PNG. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);

// ----- Client only ------------------------------------------------------------------------------

test("sends a text and templates", async (t) => {
  const server = await startWabasim();
  t.after(() => server.close());
  const wa = client(server);

  // Free-form outside the service window: the library hands back Graph's error body.
  const early = await wa.sendMessage(PHONE, { phone: USER }, new Text("too early"));
  assert.equal(early.error?.code, 131047, JSON.stringify(early));

  await server.inbound("halo");
  const sent = await wa.sendMessage(PHONE, { phone: USER }, new Text("Hi from whatsapp-api-js"));
  assert.equal(sent.messaging_product, "whatsapp", JSON.stringify(sent));
  assert.equal(sent.contacts[0].wa_id, USER);
  assert.match(sent.messages[0].id, /^wamid\./);

  const hello = await wa.sendMessage(PHONE, { phone: USER }, new Template("hello_world", new Language("en_US")));
  assert.match(hello.messages[0].id, /^wamid\./, JSON.stringify(hello));
  const promo = await wa.sendMessage(
    PHONE,
    { phone: USER },
    new Template("promo_diskon", new Language("id"), new BodyComponent(new BodyParameter("Ayu"))),
  );
  assert.match(promo.messages[0].id, /^wamid\./, JSON.stringify(promo));
  assert.equal(new Set([sent.messages[0].id, hello.messages[0].id, promo.messages[0].id]).size, 3);

  const missing = await wa.sendMessage(PHONE, { phone: USER }, new Template("no_such_template", new Language("en_US")));
  assert.equal(missing.error?.code, 132001, JSON.stringify(missing));

  const state = await server.sim("GET", "state");
  assert.equal(state.sends_accepted, 3);
});

test("media: upload, retrieve, download, delete", async (t) => {
  const server = await startWabasim();
  t.after(() => server.close());
  const wa = client(server);

  const form = new FormData();
  form.append("file", new Blob([PNG], { type: "image/png" }), "pixel.png");
  form.append("type", "image/png");
  form.append("messaging_product", "whatsapp");
  const up = await wa.uploadMedia(PHONE, form);
  assert.ok(up.id, JSON.stringify(up));

  const info = await wa.retrieveMedia(up.id, PHONE);
  assert.equal(info.id, up.id, JSON.stringify(info));
  assert.equal(info.messaging_product, "whatsapp");
  assert.equal(info.mime_type, "image/png");
  assert.equal(info.sha256, createHash("sha256").update(PNG).digest("hex"));
  assert.equal(Number(info.file_size), PNG.length);
  assert.ok(info.url.startsWith(`${server.base}/`), info.url);

  // fetchMedia sends the library's bearer token to the URL as given (the mock's own host).
  const dl = await wa.fetchMedia(info.url);
  assert.equal(dl.status, 200);
  assert.equal(dl.headers.get("content-type"), "image/png");
  assert.deepEqual(Buffer.from(await dl.arrayBuffer()), PNG);

  // A media id can be sent by id.
  await server.inbound("halo");
  const img = await wa.sendMessage(PHONE, { phone: USER }, new Image(up.id, true));
  assert.match(img.messages[0].id, /^wamid\./, JSON.stringify(img));

  assert.deepEqual(await wa.deleteMedia(up.id, PHONE), { success: true });
  const gone = await wa.retrieveMedia(up.id, PHONE);
  assert.equal(gone.error?.code, 100, JSON.stringify(gone));
  assert.equal(gone.error?.error_subcode, 33);
});

test("templates: paging.next through the library's authenticated raw request", async (t) => {
  // whatsapp-api-js has no template API; $$apiFetch$$ is its documented escape hatch for
  // Graph calls it does not wrap (it adds the bearer token).
  const server = await startWabasim();
  t.after(() => server.close());
  const wa = client(server);

  const names = [];
  let url = `${GRAPH}/${V}/${WABA}/message_templates?limit=2&fields=name,language,status`;
  let pages = 0;
  while (url) {
    const r = await wa.$$apiFetch$$(url);
    assert.equal(r.status, 200);
    const page = await r.json();
    assert.ok(page.data.length <= 2, JSON.stringify(page));
    names.push(...page.data.map((tpl) => `${tpl.name}/${tpl.language}`));
    pages += 1;
    assert.ok(pages <= 10, "paging does not end");
    url = page.paging?.next;
    if (url) assert.ok(url.startsWith(`${server.base}/`), url); // absolute, on the mock's host
  }
  assert.equal(names.length, 6, names.join(" "));
  assert.equal(new Set(names).size, 6);
  assert.ok(names.includes("hello_world/en_US") && names.includes("promo_diskon/id"), names.join(" "));
  assert.equal(pages, 3);
});

test("unknown token: Graph's 190 through the library", async (t) => {
  const server = await startWabasim();
  t.after(() => server.close());
  const wa = client(server, { token: "not-a-token" });
  const r = await wa.sendMessage(PHONE, { phone: USER }, new Text("x"));
  assert.equal(r.error?.code, 190, JSON.stringify(r));
});

// ----- Webhooks ---------------------------------------------------------------------------------

/** whatsapp-api-js's node:http middleware (secure: signature checked with the app secret)
 *  behind a node:http server on a free loopback port. */
async function receiver(appSecret = APP_SECRET) {
  const got = { statuses: [], messages: [], refused: [], bodies: [] };
  const wa = new WhatsAppAPI({
    token: TOKEN,
    v: V,
    appSecret,
    webhookVerifyToken: VERIFY_TOKEN,
    secure: true,
  });
  wa.on.status = (args) => void got.statuses.push(args);
  wa.on.message = (args) => void got.messages.push(args);
  const http = createServer(async (req, res) => {
    if (req.method === "GET") {
      try {
        res.writeHead(200, { "Content-Type": "text/plain" }).end(String(wa.handle_get(req)));
      } catch (status) {
        got.refused.push({ method: "GET", status });
        res.writeHead(typeof status === "number" ? status : 500).end();
      }
      return;
    }
    // Keep the raw body and signature for the replay check; hand the library a fresh stream.
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks);
    const copy = Object.assign(Readable.from([raw]), { headers: req.headers, url: req.url, method: req.method });
    const status = await wa.handle_post(copy);
    if (status === 200) got.bodies.push({ raw, signature: req.headers["x-hub-signature-256"] });
    else got.refused.push({ method: "POST", status });
    res.writeHead(status).end();
  });
  await new Promise((ok) => http.listen(0, "127.0.0.1", ok));
  const url = `http://127.0.0.1:${http.address().port}/webhook`;
  // Closing also drops the connections wabasim keeps open (keep-alive, a POST still in
  // flight): `close` alone waits for them, which can hold a test's teardown for minutes.
  const close = () =>
    new Promise((r) => {
      http.close(r);
      http.closeAllConnections();
    });
  return { wa, got, url, close };
}

test("webhooks: handshake, signed statuses accepted by the library, a wrong signature refused", async (t) => {
  const rx = await receiver();
  t.after(() => rx.close());
  // The GET verification handshake runs at start: the library answers the challenge.
  const server = await startWabasim("--webhook-url", rx.url, "--app-secret", APP_SECRET, "--verify-token", VERIFY_TOKEN);
  t.after(() => server.close());
  assert.deepEqual(rx.got.refused, []);
  const wa = client(server);

  // Non-ASCII on purpose: whatsapp-api-js escapes it as \uXXXX before computing the HMAC, as
  // Meta's webhook bodies are ASCII with escapes; a body sent as raw UTF-8 would fail its check.
  await server.inbound("halo dari pengguna \u00e9 \u2713");
  const sent = await wa.sendMessage(PHONE, { phone: USER }, new Template("hello_world", new Language("en_US")));
  const id = sent.messages[0].id;
  const statusesOf = () => new Set(rx.got.statuses.filter((s) => s.id === id).map((s) => s.status));

  await waitFor("the sent status", () => statusesOf().has("sent"));
  assert.ok(!statusesOf().has("delivered"), "delivered before the manual clock moved");
  await server.advance(5);
  await waitFor("the delivered status", () => statusesOf().has("delivered"));

  const delivered = rx.got.statuses.find((s) => s.id === id && s.status === "delivered");
  assert.equal(delivered.phoneID, PHONE);
  assert.equal(delivered.recipient.phone, USER);
  assert.equal(delivered.raw.object, "whatsapp_business_account");

  await waitFor("the inbound message", () => rx.got.messages.length >= 1);
  const msg = rx.got.messages[0];
  assert.equal(msg.message.text.body, "halo dari pengguna \u00e9 \u2713");
  assert.equal(msg.contact.wa_id, USER);

  const stats = await server.sim("GET", "webhooks");
  assert.equal(stats.failed_attempts ?? 0, 0, JSON.stringify(stats));
  assert.deepEqual(rx.got.refused, []);

  // A signed body replayed with a wrong signature: refused by the library, no handler runs.
  const { raw, signature } = rx.got.bodies[rx.got.bodies.length - 1];
  const before = rx.got.statuses.length + rx.got.messages.length;
  const bad = `sha256=${createHash("sha256").update("not the hmac").digest("hex")}`;
  assert.notEqual(bad, signature);
  for (const sig of [bad, "sha256=", "md5=abc"]) {
    const r = await fetch(rx.url, { method: "POST", headers: { "Content-Type": "application/json", "X-Hub-Signature-256": sig }, body: raw });
    assert.equal(r.status, 401, `signature ${sig}`);
  }
  // ...and the same body with its real signature is still accepted.
  const ok = await fetch(rx.url, { method: "POST", headers: { "Content-Type": "application/json", "X-Hub-Signature-256": signature }, body: raw });
  assert.equal(ok.status, 200);
  assert.equal(rx.got.statuses.length + rx.got.messages.length, before + 1);
  // The library's own API refuses it too.
  await assert.rejects(rx.wa.post(JSON.parse(raw), raw.toString(), bad), WhatsAppAPIError);
});

test("webhooks: signed with another secret, every POST is refused by the library", async (t) => {
  const rx = await receiver();
  t.after(() => rx.close());
  const server = await startWabasim("--webhook-url", rx.url, "--app-secret", "not-the-secret", "--verify-token", VERIFY_TOKEN);
  t.after(() => server.close());
  await server.inbound("halo");
  await waitFor("a failed webhook attempt", async () => ((await server.sim("GET", "webhooks")).failed_attempts ?? 0) >= 1);
  assert.ok(rx.got.refused.some((r) => r.method === "POST" && r.status === 401), JSON.stringify(rx.got.refused));
  assert.deepEqual(rx.got.messages, []);
  assert.deepEqual(rx.got.statuses, []);
});

// ----- Business-scoped user ids -----------------------------------------------------------------

test("BSUIDs: a username user's phone is hidden; the library replies by `recipient`", async (t) => {
  // The default world with every user on a username that hides their phone.
  const dir = mkdtempSync(join(tmpdir(), "wabasim-js-"));
  const world = readFileSync(join(ROOT, "scenarios/default.toml"), "utf8").replace("[audience]\n", "[audience]\nusername_ratio = 1.0\n");
  assert.match(world, /username_ratio = 1\.0/);
  const scenario = join(dir, "usernames.toml");
  writeFileSync(scenario, world);
  const rx = await receiver();
  t.after(() => rx.close());
  const server = await startWabasim("--scenario", scenario, "--webhook-url", rx.url, "--app-secret", APP_SECRET, "--verify-token", VERIFY_TOKEN);
  t.after(() => server.close());
  const wa = client(server);

  await server.inbound("halo");
  await waitFor("the inbound message", () => rx.got.messages.length >= 1);
  const msg = rx.got.messages[0];
  assert.equal(msg.recipient.phone, undefined, "the phone is hidden");
  assert.match(msg.recipient.bsuid, /^ID\.\d+$/);
  assert.ok(msg.contact.profile.username, JSON.stringify(msg.contact));

  // The library sends `recipient` (the BSUID) when it has no phone.
  const sent = await wa.sendMessage(PHONE, msg.recipient, new Text("Ada kak"));
  assert.deepEqual(sent.contacts, [{ input: msg.recipient.bsuid, user_id: msg.recipient.bsuid }], JSON.stringify(sent));
  const id = sent.messages[0].id;
  await server.advance(5);
  await waitFor("the delivered status", () => rx.got.statuses.some((s) => s.id === id && s.status === "delivered"));
  const delivered = rx.got.statuses.find((s) => s.id === id && s.status === "delivered");
  assert.equal(delivered.recipient.bsuid, msg.recipient.bsuid);
  assert.equal(delivered.recipient.phone, undefined);

  // Authentication templates cannot go to a BSUID: 131062, handed back by the library.
  const otp = await wa.sendMessage(
    PHONE,
    { bsuid: msg.recipient.bsuid },
    new Template("otp_login", new Language("en_US"), new BodyComponent(new BodyParameter("123456"))),
  );
  assert.equal(otp.error?.code, 131062, JSON.stringify(otp));
});

test("Block Users: the library blocks a user who wrote in, sends to them fail, a stranger cannot be blocked", async (t) => {
  const server = await startWabasim();
  t.after(() => server.close());
  const wa = client(server);
  const STRANGER = "6281300000777";

  // Only users who wrote in the last 24 hours can be blocked.
  await server.inbound("halo");
  const blocked = await wa.blockUser(PHONE, USER);
  assert.deepEqual(blocked.block_users?.added_users, [{ input: USER, wa_id: USER }], JSON.stringify(blocked));
  assert.equal(blocked.block_users.failed_users, undefined);

  // A send to a blocked user is refused with 130403.
  const sent = await wa.sendMessage(PHONE, { phone: USER }, new Text("Ada kak"));
  assert.equal(sent.error?.code, 130403, JSON.stringify(sent));

  // A user who never wrote in: 139100 for the request, 131047 for the user.
  const stranger = await wa.blockUser(PHONE, STRANGER);
  assert.equal(stranger.error?.code, 139100, JSON.stringify(stranger));
  const failed = stranger.block_users?.failed_users ?? [];
  assert.equal(failed.length, 1, JSON.stringify(stranger));
  assert.equal(failed[0].input, STRANGER);
  assert.equal(failed[0].errors[0].code, 131047, JSON.stringify(failed));

  // Unblocking needs no recent message; the user can be written to again.
  const unblocked = await wa.unblockUser(PHONE, USER);
  assert.deepEqual(unblocked.block_users?.removed_users, [{ input: USER, wa_id: USER }], JSON.stringify(unblocked));
  const again = await wa.sendMessage(PHONE, { phone: USER }, new Text("Ada kak"));
  assert.ok(again.messages?.[0]?.id, JSON.stringify(again));
});

test("template pacing: the library reads held_for_quality_assessment from the send response", async (t) => {
  // The default world with a pacing threshold of 2 sends per assessment.
  const dir = mkdtempSync(join(tmpdir(), "wabasim-js-"));
  const world = readFileSync(join(ROOT, "scenarios/default.toml"), "utf8") + "\n[rules.pacing]\nthreshold = 2\n";
  const scenario = join(dir, "pacing.toml");
  writeFileSync(scenario, world);
  const server = await startWabasim("--scenario", scenario);
  t.after(() => server.close());
  const wa = client(server);
  const held = [];
  wa.on.sent = (args) => held.push([args.to, args.held_for_quality_assessment]);

  // A new marketing template: the first two sends go out, the third is held.
  const promo = new Template("promo_diskon", new Language("id"), new BodyComponent(new BodyParameter("Ayu")));
  for (const to of ["6281300000011", "6281300000012", "6281300000013"]) {
    const r = await wa.sendMessage(PHONE, { phone: to }, promo);
    assert.ok(r.messages?.[0]?.id, JSON.stringify(r));
  }
  assert.deepEqual(held, [
    ["6281300000011", false],
    ["6281300000012", false],
    ["6281300000013", true],
  ]);
  // A utility template is not paced.
  await wa.sendMessage(PHONE, { phone: "6281300000014" }, new Template("hello_world", new Language("en_US")));
  assert.deepEqual(held[3], ["6281300000014", false]);
});

test("parent BSUIDs: the library reads from_parent_user_id and another enrolled portfolio sends by it", async (t) => {
  // Two portfolios enrolled in one parent BSUID account; every user hides their phone.
  const business = (n) => `
[[businesses]]
id = "50000000000000${n}"
name = "Biz ${n}"
tokens = ["token-${n}"]
parent_bsuid_account = "590000000000001"
[[businesses.wabas]]
id = "50000000000001${n}"
[[businesses.wabas.phone_numbers]]
id = "50000000000011${n}"
display_phone_number = "+62 812-5555-000${n}"
verified_name = "Biz ${n}"
[[businesses.wabas.templates]]
name = "hello_world"
language = "en_US"
category = "UTILITY"
body = "Hello"
`;
  const dir = mkdtempSync(join(tmpdir(), "wabasim-js-"));
  const scenario = join(dir, "parent.toml");
  writeFileSync(scenario, business(1) + business(2) + "[audience]\nusername_ratio = 1.0\nread_ratio = 0.0\n");
  const rx = await receiver();
  t.after(() => rx.close());
  const server = await startWabasim("--scenario", scenario, "--webhook-url", rx.url, "--app-secret", APP_SECRET, "--verify-token", VERIFY_TOKEN);
  t.after(() => server.close());

  // The user writes to business 1; the library's recipient has both BSUIDs and no phone.
  await server.sim("POST", "inbound", { from: USER, phone_number_id: "500000000000111", text: "halo" });
  await waitFor("the inbound message", () => rx.got.messages.length >= 1);
  const r = rx.got.messages[0].recipient;
  assert.equal(r.phone, undefined, "the phone is hidden");
  assert.match(r.bsuid, /^ID\.\d+$/);
  assert.match(r.pbsuid, /^ID\.ENT\.\d+$/);

  // Business 2 reaches the same user through the library's { pbsuid } recipient.
  const wa2 = client(server, { token: "token-2" });
  const sent = await wa2.sendMessage("500000000000112", { pbsuid: r.pbsuid }, new Template("hello_world", new Language("en_US")));
  const id = sent.messages?.[0]?.id;
  assert.ok(id, JSON.stringify(sent));
  await server.advance(5);
  await waitFor("the delivered status", () => rx.got.statuses.some((s) => s.id === id && s.status === "delivered"));
  const delivered = rx.got.statuses.find((s) => s.id === id && s.status === "delivered");
  assert.equal(delivered.recipient.pbsuid, r.pbsuid, JSON.stringify(delivered.recipient));
  assert.notEqual(delivered.recipient.bsuid, r.bsuid, "each portfolio has its own BSUID");
});
