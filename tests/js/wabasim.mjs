// Helpers of the JS client test: the real `wabasim` binary as a child process on a free
// loopback port with a manual clock (like tests/pywa/conftest.py), and a node:http webhook
// receiver. The binary is target/debug/wabasim unless WABASIM_BIN says otherwise
// (scripts/test.sh builds it first).
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const TOKEN = "wabasim-dev-token";
export const PHONE = "106540352242922";
export const WABA = "102290129340398";
export const USER = "6281300000001";
export const APP_SECRET = "S";
export const VERIFY_TOKEN = "V";
/** Upper bound on any wait; a hang fails the test instead of blocking CI. */
export const TIMEOUT_MS = 30_000;

export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `pred` (sync or async) until it is truthy; throws `what` after TIMEOUT_MS. */
export async function waitFor(what, pred) {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** `wabasim serve --clock manual` on a free loopback port; resolves once /_sim/health answers. */
export async function startWabasim(...extra) {
  const bin = process.env.WABASIM_BIN ?? resolve(ROOT, "target/debug/wabasim");
  if (!existsSync(bin)) throw new Error(`${bin} does not exist: run \`cargo build\` first (scripts/test.sh does)`);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logPath = resolve(ROOT, "target", `wabasim-js-${port}.log`);
  const log = createWriteStream(logPath);
  const proc = spawn(bin, ["serve", "--listen", `127.0.0.1:${port}`, "--clock", "manual", ...extra], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc.stdout.pipe(log);
  proc.stderr.pipe(log);
  let exited = null;
  proc.on("exit", (code, signal) => (exited = code ?? signal));
  const output = () => (existsSync(logPath) ? readFileSync(logPath, "utf8") : "");

  const server = {
    base,
    port,
    output,
    async sim(method, path, body) {
      const r = await fetch(`${base}/_sim/${path}`, {
        method,
        headers: body ? { "Content-Type": "application/json" } : {},
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(10_000),
      });
      const text = await r.text();
      if (r.status !== 200) throw new Error(`${method} /_sim/${path}: ${r.status} ${text}`);
      return JSON.parse(text);
    },
    advance: (seconds) => server.sim("POST", "clock/advance", { seconds }),
    inbound: (text, from = USER) => server.sim("POST", "inbound", { from, phone_number_id: PHONE, text }),
    async close() {
      if (exited === null) {
        const gone = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
        await gone;
        clearTimeout(t);
      }
      await new Promise((r) => log.end(r));
    },
  };

  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    if (exited !== null) throw new Error(`wabasim exited with ${exited}: ${output()}`);
    try {
      const r = await fetch(`${base}/_sim/health`, { signal: AbortSignal.timeout(2_000) });
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.close();
      throw new Error(`wabasim did not answer within ${TIMEOUT_MS} ms: ${output()}`);
    }
    await sleep(50);
  }
  return server;
}
