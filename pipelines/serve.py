"""``serve``: a live explorer. One process loads the models once and serves a page and a JSON API.

For a typed text: per-layer nearest concepts in a stored concept store (language-centred
cosine), alignment with the English counterpart of a known concept, logit-lens top tokens per
layer, detected language/script and the router's decision; side by side for several variants.
It also browses every results directory under ``--results`` roots. Loopback only unless
``--host`` is given together with ``--allow-remote`` (a warning is printed).
"""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from polylens.pipelines.config import check, opt, positive

logger = logging.getLogger(__name__)
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True, kw_only=True)
class ServeConfig:
    """Serve the live explorer (web page + JSON API) on 127.0.0.1."""

    command: ClassVar[str] = "serve"
    models: tuple[str, ...] = opt(
        ("gemma-3-270m",), "variants to load (registry names); two or more: side by side"
    )
    store: Path | None = opt(None, "concept store (from `cache`) for the nearest concepts")
    results: tuple[Path, ...] = opt((), "results roots to browse (every results directory under them)")
    host: str = opt("127.0.0.1", "interface to listen on (not loopback: needs --allow-remote)")
    port: int = opt(8765, "TCP port")
    allow_remote: bool = opt(False, "allow a non-loopback --host (no authentication: see docs/serve.md)")
    device: str | None = opt(None, "torch device (default: best available)")
    max_chars: int = opt(2000, "longest text analysed (characters)")
    max_body: int = opt(65536, "largest request body (bytes)")
    queue_size: int = opt(64, "model jobs waiting before requests get 503")
    batch_max: int = opt(8, "texts per forward pass (micro-batching)")
    timeout: float = opt(30.0, "seconds a request may wait for the model")
    cache_size: int = opt(1024, "model outputs kept in the LRU cache")
    neighbours: int = opt(5, "nearest concepts shown per layer")

    def __post_init__(self) -> None:
        """Check ranges, the port and the remote-host rule."""
        positive(self, "max_chars", "max_body", "queue_size", "batch_max", "timeout", "neighbours")
        positive(self, "cache_size", allow_zero=True)
        check(bool(self.models), "models", "give at least one model")
        check(0 < self.port < 65536, "port", f"must be 1..65535, got {self.port}")
        check(
            self.host in LOOPBACK or self.allow_remote,
            "host",
            f"{self.host} is not loopback; add --allow-remote to listen on it (no authentication)",
        )
        for root in self.results:
            check(root.is_dir(), "results", f"{root} is not a directory")


def build_app(config: ServeConfig):
    """Load the models, concept store and router once; return the FastAPI app."""
    from polylens.pipelines._serve.app import Limits, create_app
    from polylens.pipelines._serve.engine import Explorer

    explorer = Explorer.load(
        config.models, config.store, config.device, cache_size=config.cache_size, k=config.neighbours
    )
    limits = Limits(config.max_body, config.max_chars, config.queue_size, config.batch_max, config.timeout)
    return create_app(explorer, list(config.results), limits)


def run(config: ServeConfig) -> str:
    """Serve until SIGINT/SIGTERM (in-flight requests finish first); returns the address served."""
    import uvicorn

    if config.host not in LOOPBACK:
        logger.warning(
            f"serve: listening on {config.host}: anyone who can reach this port can use the model "
            "and read the results roots; there is no authentication"
        )
    app = build_app(config)
    url = f"http://{config.host}:{config.port}/"
    logger.info(f"serve: {', '.join(config.models)} on {url} (Ctrl-C or SIGTERM to stop)")
    logging.getLogger("polylens.pipelines.serve.access").setLevel(logging.INFO)
    # uvicorn shuts down gracefully, then re-raises the signal it caught: a no-op handler turns
    # that into a normal return (exit 0 with a summary) instead of death by signal.
    previous = {s: signal.signal(s, lambda *_: None) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvicorn.run(
            app,
            host=config.host,
            port=config.port,
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=int(config.timeout) + 5,
        )
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return url


def summary(result: str) -> str:
    """What was served."""
    return f"stopped serving {result}"


#: the CLI commands of this module: command path -> (config class, run, summary)
COMMANDS = {"serve": (ServeConfig, run, summary)}
