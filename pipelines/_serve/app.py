"""The explorer's ASGI app (FastAPI): page, JSON API, results browser, production behaviour.

Model calls run on ONE worker thread behind a bounded queue and are micro-batched per variant
(a full queue answers 503 + Retry-After); request bodies and texts are size-limited; every
error is a JSON body with a 4xx status (never a traceback); one JSON access-log line per
request on the ``polylens.pipelines.serve.access`` logger.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import json
import logging
import queue
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from polylens.errors import ToolkitError

from . import browse
from .engine import Explorer

access = logging.getLogger("polylens.pipelines.serve.access")
STATIC = Path(__file__).with_name("static")
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Limits:
    """Production limits of the service."""

    max_body: int = 64 * 1024  # bytes of a request body
    max_chars: int = 2000  # characters of an analysed text
    queue_size: int = 64  # model jobs waiting
    batch_max: int = 8  # texts per forward pass
    timeout: float = 30.0  # seconds a request may wait for the model
    retry_after: int = 1  # seconds, on 503


class ApiError(Exception):
    """An error answered as JSON with ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


class Batcher:
    """The one model worker: jobs from a bounded queue, micro-batched per variant."""

    def __init__(self, explorer: Explorer, limits: Limits):
        self.explorer, self.limits = explorer, limits
        self.jobs: queue.Queue[tuple[str, str, cf.Future] | None] = queue.Queue(limits.queue_size)
        self.thread = threading.Thread(target=self._loop, name="polylens-model", daemon=True)
        self.batches = 0

    def submit(self, variant: str, text: str) -> cf.Future:
        """Queue one (variant, text); ApiError 503 when the queue is full."""
        fut: cf.Future = cf.Future()
        try:
            self.jobs.put_nowait((variant, text, fut))
        except queue.Full:
            raise ApiError(
                503, "server busy: model queue full", {"Retry-After": str(self.limits.retry_after)}
            ) from None
        return fut

    def _take(self) -> tuple[list[tuple[str, str, cf.Future]], bool]:
        """Block for one job, then take what else is waiting (up to batch_max); (jobs, stop)."""
        first = self.jobs.get()
        if first is None:
            return [], True
        jobs, stop = [first], False
        while len(jobs) < self.limits.batch_max and not stop:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break
            stop = job is None
            jobs += [job] if job is not None else []
        return jobs, stop

    def _loop(self) -> None:
        stop = False
        while not stop:
            jobs, stop = self._take()
            live = [j for j in jobs if j[2].set_running_or_notify_cancel()]
            for variant in dict.fromkeys(v for v, _, _ in live):
                mine = [j for j in live if j[0] == variant]
                try:
                    outs = self.explorer.outputs(variant, [t for _, t, _ in mine])
                except Exception as exc:  # noqa: BLE001 - handed to the waiting request
                    for _, _, fut in mine:
                        fut.set_exception(exc)
                    continue
                self.batches += 1
                for (_, _, fut), out in zip(mine, outs):
                    fut.set_result(out)

    def start(self) -> None:
        """Start the worker thread."""
        self.thread.start()

    def stop(self) -> None:
        """Finish queued jobs, then stop the worker."""
        self.jobs.put(None)
        self.thread.join(timeout=60)


async def read_json(request: Request, limits: Limits) -> Any:
    """The request body as JSON: 413 when too large, 400 when not UTF-8 / not JSON."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limits.max_body):
        raise ApiError(413, f"request body over {limits.max_body} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limits.max_body:
            raise ApiError(413, f"request body over {limits.max_body} bytes")
    try:
        return json.loads(bytes(body).decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "request body is not valid UTF-8") from None
    except (json.JSONDecodeError, RecursionError):
        raise ApiError(400, "request body is not valid JSON") from None


def parse_analyze(payload: Any, explorer: Explorer, limits: Limits) -> tuple[str, list[str]]:
    """(text, variants) of an analyze request; 422 on wrong types, 404 on unknown variants."""
    if not isinstance(payload, dict):
        raise ApiError(422, 'body must be a JSON object {"text": ..., "variants": [...]}')
    unknown = set(payload) - {"text", "variants"}
    if unknown:
        raise ApiError(422, f"unknown field(s): {sorted(map(str, unknown))[:5]}")
    text, variants = payload.get("text"), payload.get("variants")
    if not isinstance(text, str):
        raise ApiError(422, f'"text" must be a string, got {type(text).__name__}')
    if len(text) > limits.max_chars:
        raise ApiError(413, f"text is {len(text)} characters (limit {limits.max_chars})")
    if variants is None:
        variants = list(explorer.models)
    if not isinstance(variants, list) or not variants or not all(isinstance(v, str) for v in variants):
        raise ApiError(422, '"variants" must be a non-empty list of strings')
    missing = [v for v in variants if v not in explorer.models]
    if missing:
        raise ApiError(
            404, f"unknown variant(s) {[m[:40] for m in missing[:5]]}; loaded: {list(explorer.models)}"
        )
    return text, list(dict.fromkeys(variants))


async def analyze(
    explorer: Explorer, batcher: Batcher, limits: Limits, text: str, variants: list[str]
) -> dict:
    """Route, then model outputs (cache or the worker), then the per-variant description."""
    decision = explorer.router.route(text)
    outs: dict[str, Any] = {v: explorer.cached(v, text) for v in variants}
    pending = {v: batcher.submit(v, text) for v, o in outs.items() if o is None}
    if pending:
        try:
            done = await asyncio.wait_for(
                asyncio.gather(*(asyncio.wrap_future(f) for f in pending.values())), limits.timeout
            )
        except TimeoutError:
            for f in pending.values():
                f.cancel()
            raise ApiError(504, f"model did not answer within {limits.timeout:g} s") from None
        outs.update(zip(pending, done))
    described = await run_in_threadpool(
        lambda: [explorer.describe(v, text, outs[v], decision.lang) for v in variants]
    )
    return {"text": text, "route": decision.to_dict(), "variants": described, "cached": not pending}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON error response."""
    return JSONResponse({"error": message[:300], "status": status}, status_code=status, headers=headers)


def install_handlers(app: FastAPI) -> None:
    """Every error becomes a short JSON body; bad input is 4xx, never a traceback."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        """Our own API errors, with their status."""
        return _error(exc.status, exc.message, exc.headers)

    @app.exception_handler(browse.NotFound)
    async def not_found(request: Request, exc: browse.NotFound) -> JSONResponse:
        """A results path outside the roots or missing: 404."""
        return _error(404, str(exc))

    @app.exception_handler(ToolkitError)
    async def toolkit_error(request: Request, exc: ToolkitError) -> JSONResponse:
        """A user error from the toolkit (router input checks...): 400."""
        return _error(400, str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        """Starlette's own errors (404 route, 405 method) as JSON."""
        return _error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        """Path / query parameters of the wrong type: 422."""
        return _error(422, "invalid request: " + "; ".join(str(e.get("msg")) for e in exc.errors()[:3]))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        """Anything else: a one-line 500 (logged), never a traceback page."""
        access.exception("internal error on %s", request.url.path)
        return _error(500, f"internal error ({type(exc).__name__})")


def install_middleware(app: FastAPI) -> None:
    """Structured access log and security headers."""

    @app.middleware("http")
    async def log_and_harden(request: Request, call_next):
        """One JSON access-log line per request; security headers on every response."""
        start = time.perf_counter()
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if request.url.path.startswith("/files/") and response.headers.get("content-type", "").startswith(
            "text/html"
        ):
            response.headers["Content-Security-Policy"] = "sandbox allow-scripts"
        else:
            response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        record = {
            "method": request.method,
            "path": request.url.path[:200],
            "status": response.status_code,
            "ms": round((time.perf_counter() - start) * 1000, 2),
            "client": request.client.host if request.client else None,
        }
        access.info(json.dumps(record))
        return response


def install_browse(app: FastAPI, roots: list[Path]) -> None:
    """The results browser: listing, one directory, its files (never outside the roots)."""

    @app.get("/api/results")
    async def results() -> dict:
        """Every results directory under the roots."""
        return {"results": await run_in_threadpool(browse.list_results, roots)}

    @app.get("/api/results/{rid:path}")
    async def result(rid: str) -> dict:
        """Figures, tables and files of one results directory."""
        return await run_in_threadpool(browse.describe, roots, rid)

    @app.get("/files/{root}/{rel:path}")
    async def files(root: int, rel: str) -> FileResponse:
        """One figure / table / report file inside a root."""
        path = browse.resolve(roots, root, rel)
        if not path.is_file() or path.suffix not in browse.SERVED:
            raise browse.NotFound(f"not a served file: {root}/{rel[:80]!r}")
        return FileResponse(path, media_type=browse.SERVED[path.suffix])


def create_app(explorer: Explorer, roots: list[Path], limits: Limits | None = None) -> FastAPI:
    """The app over a loaded ``explorer`` and results ``roots``."""
    limits = limits or Limits()
    batcher = Batcher(explorer, limits)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        """Start the model worker; on shutdown finish its queue, then stop it."""
        batcher.start()
        yield
        await run_in_threadpool(batcher.stop)

    app = FastAPI(
        title="polylens explorer", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.batcher, app.state.explorer = batcher, explorer
    install_handlers(app)
    install_middleware(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/")
    async def index() -> FileResponse:
        """The explorer page."""
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/api/health")
    async def health() -> dict:
        """Liveness, queue length, batches run and cache statistics."""
        c = explorer.cache
        return {"status": "ok", "queue": batcher.jobs.qsize(), "batches": batcher.batches,
                "cache": {"size": len(c.data), "hits": c.hits, "misses": c.misses}}  # fmt: skip

    @app.get("/api/info")
    async def info() -> dict:
        """Loaded variants, layers, concept bank and limits."""
        return explorer.info() | {"limits": {"max_chars": limits.max_chars, "max_body": limits.max_body}}

    @app.post("/api/analyze")
    async def analyze_endpoint(request: Request) -> dict:
        """Analyse one text on the requested variants."""
        text, variants = parse_analyze(await read_json(request, limits), explorer, limits)
        return await analyze(explorer, batcher, limits, text, variants)

    install_browse(app, roots)
    return app
