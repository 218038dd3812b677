"""Minimal Chrome DevTools Protocol driver for Debian ``chromium`` (tests only).

``Browser()`` starts headless chromium on a free debugging port with a fresh profile, attaches
to its page over a websocket (PyPI ``websocket-client``) and records console errors, uncaught
exceptions, log errors and every network request. Used as a context manager; the chromium
process it started (and only that one) is terminated on exit.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    env = os.environ.get("POLYLENS_CHROMIUM")
    if env and shutil.which(env):
        return shutil.which(env)
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    def __init__(self, binary: str | None = None, width: int = 1280, height: int = 1600, timeout: float = 60):
        import websocket  # noqa: PLC0415

        self._ws_mod = websocket
        found = binary or find_chromium()
        if found is None:
            raise RuntimeError("chromium not found")
        self.binary: str = found
        self.width, self.height, self.timeout = width, height, timeout
        self.events: list[dict] = []
        self._id = 0

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Browser:
        self.profile = tempfile.mkdtemp(prefix="polylens-chromium-")
        args = [
            self.binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--mute-audio",
            "--hide-scrollbars",
            f"--user-data-dir={self.profile}",
            "--remote-debugging-port=0",
            f"--window-size={self.width},{self.height}",
            "about:blank",
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = self._wait_port()
        deadline = time.time() + self.timeout
        ws_url = None
        while time.time() < deadline and ws_url is None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:  # local only
                pages = [t for t in json.loads(r.read()) if t.get("type") == "page"]
            ws_url = pages[0]["webSocketDebuggerUrl"] if pages else None
            time.sleep(0.1)
        if ws_url is None:
            raise RuntimeError("chromium exposed no page target")
        self.ws = self._ws_mod.create_connection(ws_url, timeout=self.timeout, suppress_origin=True)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _wait_port(self) -> int:
        deadline = time.time() + self.timeout
        lines = []
        while time.time() < deadline:
            line = self.proc.stderr.readline() if self.proc.stderr else ""
            if not line:
                if self.proc.poll() is not None:
                    break
                continue
            lines.append(line)
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                return int(m.group(1))
        raise RuntimeError("chromium did not start: " + "".join(lines[-20:]))

    # ------------------------------------------------------------------ protocol
    def send(self, method: str, **params):
        self._id += 1
        my_id = self._id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method: str, timeout: float | None = None) -> dict:
        for ev in self.events:
            if ev["method"] == method:
                return ev
        deadline = time.time() + (timeout or self.timeout)
        while time.time() < deadline:
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return msg
        raise TimeoutError(method)

    def navigate(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def eval(self, expression: str, await_promise: bool = False):
        r = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=await_promise
        )
        if "exceptionDetails" in r:
            raise RuntimeError(f"JS error: {r['exceptionDetails']}")
        return r["result"].get("value")

    def key(self, key: str, code: str, key_code: int) -> None:
        for kind in ("rawKeyDown", "keyUp"):
            self.send(
                "Input.dispatchKeyEvent",
                type=kind,
                key=key,
                code=code,
                windowsVirtualKeyCode=key_code,
                nativeVirtualKeyCode=key_code,
            )

    def screenshot(self, full_page: bool = False) -> bytes:
        r = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=full_page)
        return base64.b64decode(r["data"])

    # ------------------------------------------------------------------ findings
    def console_errors(self) -> list[str]:
        out = []
        for ev in self.events:
            m, p = ev["method"], ev.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(
                    "console: "
                    + " ".join(str(a.get("value", a.get("description"))) for a in p.get("args", []))
                )
            elif m == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:500])
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append("log: " + p["entry"].get("text", ""))
        return out

    def requested_urls(self) -> list[str]:
        return [
            ev["params"]["request"]["url"]
            for ev in self.events
            if ev["method"] == "Network.requestWillBeSent"
        ]


def file_url(path: str | Path) -> str:
    return Path(path).resolve().as_uri()
