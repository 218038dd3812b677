"""The live explorer (`python cli.py serve`): API, limits, fuzzing, shutdown, browser.

Everything runs against a real uvicorn on 127.0.0.1 serving the tiny random models
``tiny-cohere2`` (base) and ``tiny-cohere2-fire`` and a concept store captured in a fixture by
the real capture pipeline.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
import httpx  # noqa: E402
import uvicorn  # noqa: E402

from polylens.errors import ConfigError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("tiny-cohere2", "tiny-cohere2-fire")
HINDI, SWAHILI = "गोली", "tone la damu"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    from polylens.pipelines.capture import CaptureConfig, run

    out = tmp_path_factory.mktemp("serve") / "concepts"
    run(CaptureConfig(model=MODELS[0], models=MODELS, out=out, langs=("en", "hi", "sw", "fr"), limit=8))
    return out


@pytest.fixture(scope="module")
def results_root(store) -> Path:
    import matplotlib.pyplot as plt

    root = store.parent / "results"
    run = root / "run1"
    (run / "figures").mkdir(parents=True)
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [0.1, 0.5, 0.3])
    fig.savefig(run / "figures" / "curve.png")
    plt.close(fig)
    (run / "table.csv").write_text("lang,cos\nhi,0.5\nsw,0.4\n")
    (store.parent / "secret.csv").write_text("not,served\n")  # outside the root
    return root


class Live:
    """A uvicorn server in a thread of this process."""

    def __init__(self, app):
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Live:
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started and time.time() < deadline:
            time.sleep(0.05)
        assert self.server.started
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def make_app(store, roots=(), **limits):
    from polylens.pipelines._serve.app import Limits, create_app
    from polylens.pipelines.serve import ServeConfig, build_app

    if not limits:
        return build_app(ServeConfig(models=MODELS, store=store, results=tuple(roots)))
    explorer = make_app.explorer  # reuse the loaded models
    return create_app(explorer, list(roots), Limits(**limits))


@pytest.fixture(scope="module")
def live(store, results_root):
    app = make_app(store, [results_root])
    make_app.explorer = app.state.explorer
    with Live(app) as server:
        yield server


def post(url: str, payload) -> httpx.Response:
    return httpx.post(url + "/api/analyze", json=payload, timeout=60)


# ----------------------------------------------------------------------------- API
def test_analyze_hindi_and_swahili(live):
    for text, lang in ((HINDI, "hi"), (SWAHILI, "sw")):
        r = post(live.url, {"text": text})
        assert r.status_code == 200, r.text
        res = r.json()
        assert [v["variant"] for v in res["variants"]] == ["base", "fire"]
        base = res["variants"][0]
        assert len(base["layers"]) == 5  # 4 blocks + embedding point
        for layer in base["layers"]:
            assert len(layer["neighbours"]) == 5 and len(layer["lens"]) == 5
            cos = [n["cos"] for n in layer["neighbours"]]
            assert cos == sorted(cos, reverse=True) and all(-1.0001 <= c <= 1.0001 for c in cos)
            assert sum(p for _, p in layer["lens"]) <= 1.0001
        # a stored concept text is its own nearest neighbour at the embedding point
        assert base["concept"]["lang"] == lang
        assert base["layers"][0]["neighbours"][0] == {
            "lang": lang,
            "concept": base["concept"]["concept"],
            "cos": pytest.approx(1.0, abs=0.02),
        }
        assert all("align_en" in layer for layer in base["layers"])
        assert res["route"]["script"] in ("Deva", "Latn") and res["route"]["reasons"]
    # variants differ (fire is a perturbed copy), so the comparison is not a duplicate
    a, b = post(live.url, {"text": HINDI}).json()["variants"]
    assert [x["neighbours"] for x in a["layers"]] != [x["neighbours"] for x in b["layers"]] or a["layers"][
        -1
    ]["lens"] != b["layers"][-1]["lens"]


def test_matches_direct_pipeline_call_and_cache(live):
    text = "une goutte d'eau fraîche"
    first = post(live.url, {"text": text, "variants": ["fire"]}).json()
    again = post(live.url, {"text": text, "variants": ["fire"]}).json()
    assert first["cached"] is False and again["cached"] is True
    direct = make_app.explorer.analyze(text, ["fire"])
    assert direct["variants"] == first["variants"] == again["variants"]
    assert direct["route"] == first["route"]
    health = httpx.get(live.url + "/api/health").json()
    assert health["status"] == "ok" and health["cache"]["hits"] >= 1


def test_results_browser_and_traversal(live, results_root):
    listing = httpx.get(live.url + "/api/results").json()["results"]
    assert [r["path"] for r in listing] == ["run1"]
    d = httpx.get(live.url + "/api/results/0/run1").json()
    assert [f["name"] for f in d["figures"]] == ["curve.png"]
    assert d["tables"][0]["rows"] == [["hi", "0.5"], ["sw", "0.4"]]
    img = httpx.get(live.url + d["figures"][0]["url"])
    assert img.status_code == 200 and img.content[:4] == b"\x89PNG"
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=10)
    for path in ("/files/0/../secret.csv", "/files/0/run1/../../secret.csv", "/files/0/%2e%2e/secret.csv",
                 "/files/0//etc/passwd", "/files/1/x", "/api/results/0/..", "/api/results/0/../..",
                 "/files/0/run1/%00", "/files/-1/secret.csv"):  # fmt: skip
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        assert 400 <= r.status < 500, (path, r.status)
        assert b"not,served" not in body and b"root:" not in body
        assert "error" in json.loads(body)


def test_queue_full_is_503_and_slow_model_is_504(live, store):
    app = make_app(store, queue_size=1, timeout=1.0)
    explorer = app.state.explorer
    with Live(app) as server, explorer.lock:  # the model is busy: jobs wait in the queue
        hung = threading.Thread(target=post, args=(server.url, {"text": "first waiting text"}))
        hung.start()
        time.sleep(0.3)
        seen = [post(server.url, {"text": f"text number {i}"}) for i in range(3)]
        codes = [r.status_code for r in seen]
        assert 503 in codes, codes
        busy = next(r for r in seen if r.status_code == 503)
        assert busy.headers["retry-after"] == "1" and "busy" in busy.json()["error"]
        hung.join(10)
    assert set(codes) <= {503, 504}


def test_remote_host_needs_explicit_flag():
    from polylens.pipelines.serve import ServeConfig

    with pytest.raises(ConfigError, match="--allow-remote"):
        ServeConfig(host="0.0.0.0")
    assert ServeConfig(host="0.0.0.0", allow_remote=True).host == "0.0.0.0"
    with pytest.raises(ConfigError, match="--port"):
        ServeConfig(port=0)


# ----------------------------------------------------------------------------- fuzz
def malformed(rng: random.Random, i: int) -> tuple[str, str, bytes, dict]:
    """One malformed request: (method, path, body, headers)."""
    j = {"Content-Type": "application/json"}
    kinds = [
        lambda: ("POST", "/api/analyze", b"{" * rng.randint(1, 50), j),
        lambda: (
            "POST",
            "/api/analyze",
            bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))) + b"\xff",
            j,
        ),
        lambda: ("POST", "/api/analyze", b'{"text": "' + b"a" * 70000 + b'"}', j),
        lambda: ("POST", "/api/analyze", json.dumps({"text": "x" * rng.randint(2001, 9000)}).encode(), j),
        lambda: ("POST", "/api/analyze", json.dumps({"text": "a\u0000" * rng.randint(1, 5)}).encode(), j),
        lambda: ("POST", "/api/analyze", b'{"text": "\\ud800 lone"}', j),
        lambda: ("POST", "/api/analyze", json.dumps({"text": "hi", "variants": [f"v{i}"]}).encode(), j),
        lambda: (
            "POST",
            "/api/analyze",
            json.dumps({"text": rng.choice([1, 2.5, None, [], {}, True])}).encode(),
            j,
        ),
        lambda: (
            "POST",
            "/api/analyze",
            json.dumps({"text": "ok", "variants": rng.choice([[], "base", [1], {}])}).encode(),
            j,
        ),
        lambda: (
            "POST",
            "/api/analyze",
            json.dumps(rng.choice([[], 1, "s", None, {"txt": "x"}])).encode(),
            j,
        ),
        lambda: ("POST", "/api/analyze", b"[" * 5000 + b"]" * 5000, j),
        lambda: ("POST", "/api/analyze", json.dumps({"text": "   \n\t "}).encode(), j),
        lambda: ("GET", "/files/0/" + "../" * rng.randint(1, 8) + "etc/passwd", b"", {}),
        lambda: ("GET", "/api/results/0/" + "..%2f" * rng.randint(1, 6), b"", {}),
        lambda: ("GET", f"/files/{rng.randint(-3, 99)}/x%00y.png", b"", {}),
        lambda: ("GET", "/api/analyze", b"", {}),
        lambda: ("PUT", "/api/health", b"x", {}),
        lambda: (
            "POST",
            "/api/analyze",
            b'{"text": "x"}',
            {"Content-Length": "999999999", "Connection": "close"},
        ),
    ]
    return kinds[i % len(kinds)]()


def test_fuzz_1000_malformed_requests(live):
    rng = random.Random(0)
    statuses: dict[int, int] = {}
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=30)
    for i in range(1080):
        method, path, body, headers = malformed(rng, i)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            r = conn.getresponse()
            status, data = r.status, r.read()
        except (http.client.HTTPException, OSError):  # server closed a lying connection: reconnect
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=30)
            continue
        statuses[status] = statuses.get(status, 0) + 1
        assert 400 <= status < 500, (i, method, path, body[:60], status, data[:200])
        assert "error" in json.loads(data), data[:200]
        if r.getheader("connection") == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=30)
    assert sum(statuses.values()) >= 1000, statuses
    assert {400, 404, 405, 413, 422} <= set(statuses)
    ok = post(live.url, {"text": SWAHILI})
    assert ok.status_code == 200 and ok.json()["variants"][0]["layers"]


# ----------------------------------------------------------------------------- process
def test_cli_serve_sigterm_finishes_in_flight(store):
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable,
        str(ROOT / "cli.py"),
        "serve",
        "--models",
        *MODELS,
        "--store",
        str(store),
        "--port",
        str(port),
        "--batch-max",
        "1",
        "--timeout",
        "300",
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(url + "/api/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(12)]
        for i, c in enumerate(conns):  # all sent before the signal
            c.request("POST", "/api/analyze", body=json.dumps({"text": f"mot {i} de test"}),
                      headers={"Content-Type": "application/json"})  # fmt: skip
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        results = []
        for c in conns:
            r = c.getresponse()
            body = json.loads(r.read())
            results.append(r.status)
            assert "variants" in body, body
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert results == [200] * 12, (results, out[-2000:])
    assert proc.returncode == 0, out[-2000:]
    access = [
        json.loads(line[line.index("{") :]) for line in out.splitlines() if '"path": "/api/analyze"' in line
    ]
    assert len(access) == 12 and {a["status"] for a in access} == {200}


# ----------------------------------------------------------------------------- browser
def test_page_in_headless_chromium(live, tmp_path):
    import matplotlib.pyplot as plt
    from test_figures import _chromium_or_skip

    binary = _chromium_or_skip()
    from _cdp import Browser

    with Browser(binary) as b:
        b.navigate(live.url + "/")
        deadline = time.time() + 30
        while b.eval("document.body.dataset.ready || ''") != "1" and time.time() < deadline:
            time.sleep(0.1)
        for word, script in ((HINDI, "Deva"), (SWAHILI, "Latn")):
            b.eval(f"document.getElementById('text').value = {json.dumps(word)}")
            b.eval("document.getElementById('go').click()")
            deadline = time.time() + 60
            while b.eval("document.body.dataset.analysed || ''") != word and time.time() < deadline:
                time.sleep(0.1)
            state = json.loads(b.eval(
                "JSON.stringify({cols: Array.from(document.querySelectorAll('.column')).map(c => c.dataset.variant),"
                " rows: document.querySelectorAll('.column tbody tr').length,"
                " nbs: document.querySelectorAll('.column .nb').length,"
                " toks: document.querySelectorAll('.column .tok').length,"
                " script: document.getElementById('script').textContent})"
            ))  # fmt: skip
            assert state["cols"] == ["base", "fire"]  # the variant comparison, side by side
            assert state["rows"] == 10 and state["nbs"] == 50 and state["toks"] == 50
            assert state["script"] == script
        b.eval("document.querySelector('#results li').click()")
        deadline = time.time() + 20
        while not b.eval("document.querySelectorAll('#result img').length") and time.time() < deadline:
            time.sleep(0.1)
        assert b.eval("document.querySelectorAll('#result img').length") == 1
        assert b.console_errors() == []
        shot = b.screenshot(full_page=True)
    (tmp_path / "serve.png").write_bytes(shot)
    if os.environ.get("POLYLENS_SERVE_SCREENSHOT"):
        Path(os.environ["POLYLENS_SERVE_SCREENSHOT"]).write_bytes(shot)
    img = plt.imread(io.BytesIO(shot), format="png")
    assert img.shape[0] > 100 and img.shape[1] > 100
    assert float(img[..., :3].std()) > 0.05  # not blank
    assert len(np.unique((img[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 20


# ----------------------------------------------------------------------------- metric
def test_alignment_equals_the_analysis_centred_cosine(store):
    """A stored vector queried against the bank reproduces analysis.core's cos_centred to English."""
    from polylens.analysis.core import unit_metrics
    from polylens.analysis.neighbours import ConceptBank, alignment_with, nearest
    from polylens.storage.assemble import open_activations

    ds = open_activations(store, chunks=None)
    ds["resid"] = ds["resid"].astype("float32")
    ref = unit_metrics(ds, ref="en", n_perm_null=10)["cos_centred"].sel(variant="base")
    bank = ConceptBank.from_dataset(ds, "base")
    for lang in ("hi", "sw"):
        for unit in bank.units[:4]:
            query = ds["resid"].sel(variant="base", lang=lang, concept=unit).values
            ours = alignment_with(bank, query, lang, unit)
            np.testing.assert_allclose(ours, ref.sel(lang=lang, concept=unit).values, atol=1e-4)
            rows, sims = nearest(bank, query, lang, k=3)
            assert (rows[:, 0] == bank.row(lang, unit)).all() and np.allclose(sims[:, 0], 1, atol=1e-4)
