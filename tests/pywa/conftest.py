"""Fixtures of the pywa test: the real `wabasim` binary as a subprocess and a pywa webhook
receiver (FastAPI served by uvicorn in a thread).

The binary is `target/debug/wabasim` unless `WABASIM_BIN` says otherwise (scripts/test.sh
builds it first).
"""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import threading
import time

import httpx
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOKEN = "wabasim-dev-token"
PHONE = "106540352242922"
WABA = "102290129340398"
USER = "6281300000001"
APP_SECRET = "S"
VERIFY_TOKEN = "V"

#: Upper bound on any wait; a hang fails the test instead of blocking CI.
TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary() -> pathlib.Path:
    p = pathlib.Path(os.environ.get("WABASIM_BIN", ROOT / "target" / "debug" / "wabasim"))
    if not p.exists():
        pytest.fail(f"{p} does not exist: run `cargo build` first (scripts/test.sh does)")
    return p


class Wabasim:
    """A `wabasim serve` subprocess on a free loopback port, manual clock."""

    def __init__(self, *extra: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(ROOT / "target" / f"wabasim-pywa-{self.port}.log", "wb")
        self.proc = subprocess.Popen(
            [str(binary()), "serve", "--listen", f"127.0.0.1:{self.port}", "--clock", "manual", *extra],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=self.base, timeout=10.0)
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"wabasim exited with {self.proc.returncode}: {self.output()}")
            try:
                if self.http.get("/_sim/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"wabasim did not answer within {TIMEOUT_S}s: {self.output()}")
            time.sleep(0.05)

    def output(self) -> str:
        self.log.flush()
        return pathlib.Path(self.log.name).read_text(errors="replace")

    def sim(self, method: str, path: str, body: dict | None = None) -> dict:
        r = self.http.request(method, f"/_sim/{path}", json=body)
        assert r.status_code == 200, f"{method} /_sim/{path}: {r.status_code} {r.text}"
        return r.json()

    def advance(self, seconds: float) -> dict:
        return self.sim("POST", "clock/advance", {"seconds": seconds})

    def inbound(self, text: str, sender: str = USER) -> dict:
        return self.sim("POST", "inbound", {"from": sender, "phone_number_id": PHONE, "text": text})

    def close(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Receiver:
    """A FastAPI app served by uvicorn in a background thread on a free loopback port."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/webhook"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + TIMEOUT_S
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the webhook receiver did not start")
            time.sleep(0.02)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def point_at(session: httpx.Client, server: Wabasim) -> None:
    """pywa builds its Graph base URL (https://graph.facebook.com/vXX) on the session it is
    given; the session is ours, so point it at the mock, keeping pywa's version."""
    version = str(session.base_url).rstrip("/").rsplit("/", 1)[-1]
    assert version.startswith("v"), session.base_url
    session.base_url = f"{server.base}/{version}"


@pytest.fixture
def wabasim():
    s = Wabasim()
    yield s
    s.close()
