"""Scale-out on dask.distributed: the ``--scheduler`` / ``--workers`` options, the client, and
capture by a cluster.

A cluster capture plans exactly the batches a single-process run would (same planner, same
order), sends each batch to a worker, and lets the worker write the batch's part file into the
store (atomically, with its sha256). Each worker boots the model once and keeps it for every
batch it gets. The coordinator (this process) holds the store's lock, is the only writer of the
ledger and the manifest (it records each part as its future completes), and assembles once at
the end; so resume, checksums and assembly are the single-process ones, and the store holds
the same values. Workers must see the store's directory (a shared file system on a real cluster).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from polylens.errors import ConfigError
from polylens.pipelines.config import at_most, check, opt

logger = logging.getLogger(__name__)
R = TypeVar("R")
Key = tuple[str, str]
DEFAULT_PORT = 8786
CONNECT_TIMEOUT = 5.0
MAX_WORKERS = 1024


@dataclass(frozen=True, kw_only=True)
class ClusterOptions:
    """Where a job runs: this process (default), a local dask cluster, or an existing one."""

    scheduler: str | None = opt(None, "address of a running dask.distributed scheduler (tcp://HOST:8786)")
    workers: int | None = opt(None, "start a local dask cluster of N worker processes")

    @property
    def distributed(self) -> bool:
        """True when the job runs on a dask cluster."""
        return self.scheduler is not None or self.workers is not None


def check_cluster(config: ClusterOptions) -> None:
    """Not both options; N in [1, 1024]; the scheduler's address well formed and reachable."""
    check(
        config.scheduler is None or config.workers is None,
        "workers",
        "give either --workers N (a local cluster) or --scheduler ADDRESS (an existing one), not both",
    )
    check(config.workers is None or config.workers >= 1, "workers", f"must be >= 1, got {config.workers}")
    at_most(config, "workers", MAX_WORKERS)
    if config.scheduler is not None:
        host, port = scheduler_host_port(config.scheduler)
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ConfigError(
                f"--scheduler {config.scheduler[:80]}: no scheduler reachable ({reason})"
            ) from None


def scheduler_host_port(address: str) -> tuple[str, int]:
    """``tcp://host:port``, ``tls://host:port`` or ``host[:port]`` -> (host, port); port 8786 by default."""
    from urllib.parse import urlsplit

    text = address.strip()
    bad = f"--scheduler {address[:80]!r}: expected tcp://HOST:PORT (or tls://HOST:PORT, or HOST:PORT)"
    try:
        parts = urlsplit(text if "://" in text else f"tcp://{text}")
        port = parts.port
    except ValueError:
        raise ConfigError(bad) from None
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError(bad)
    return parts.hostname, port or DEFAULT_PORT


def threads_of(config: Any) -> int:
    """Threads per worker: ``--threads`` when the job has it, else one."""
    return int(getattr(config, "threads", None) or 1)


@contextlib.contextmanager
def client(config: ClusterOptions) -> Iterator[Any]:
    """A dask.distributed Client for the job (the default scheduler while open), or None locally.

    ``--workers N`` starts a LocalCluster of N processes (one thread each unless ``--threads``)
    and closes it afterwards; ``--scheduler`` connects to a running cluster and leaves it running.
    """
    if not config.distributed:
        yield None
        return
    from distributed import Client, LocalCluster

    if config.scheduler is not None:
        try:
            connected = Client(config.scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"--scheduler {config.scheduler[:80]}: cannot connect ({exc})"[:300]) from None
        with connected as c:
            logger.info(f"dask cluster {config.scheduler}: {len(c.scheduler_info()['workers'])} workers")
            yield c
        return
    with (
        LocalCluster(
            n_workers=config.workers,
            threads_per_worker=threads_of(config),
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as c,
    ):
        logger.info(
            f"local dask cluster: {config.workers} worker processes, {threads_of(config)} thread(s) each"
        )
        yield c


def on_cluster(run: Callable[[Any], R]) -> Callable[[Any], R]:
    """Decorate a job's ``run(config)`` so it runs inside :func:`client` (dask work goes there)."""

    @functools.wraps(run)
    def wrapped(config: Any) -> R:
        """``run(config)`` with the job's client open."""
        with client(config):
            return run(config)

    return wrapped


@dataclass(frozen=True)
class CaptureSteps:
    """The capture job's steps a cluster run reuses: one planner, one batch function for both.

    ``pipelines.capture`` hands them in because it imports this module (no import cycle)."""

    label: Callable[[str, str, tuple[str, ...]], str]
    plan: Callable[[Any, list[Key], list[int]], list[list[Key]]]
    token_lengths: Callable[[Any, list[str]], list[int]]
    batch: Callable[[Any, Any, Path, str, list[Key], list[str]], tuple[dict[str, Any], int]]


def capture_on_cluster(
    config: Any,
    steps: CaptureSteps,
    store: Path,
    manifest: dict[str, Any],
    texts: dict[Key, str],
    mine: list[Key],
) -> int:
    """Capture every variant's missing stimuli of ``mine`` on the job's cluster; how many were new."""
    from distributed import default_client

    c = default_client()
    return sum(
        _variant_on_cluster(c, config, steps, name, store, manifest, texts, mine) for name in config.variants
    )


def _variant_on_cluster(
    c: Any,
    config: Any,
    steps: CaptureSteps,
    name: str,
    store: Path,
    manifest: dict[str, Any],
    texts: dict[Key, str],
    mine: list[Key],
) -> int:
    """One variant: provenance and token lengths from a worker, then one task per planned batch."""
    from distributed import as_completed
    from tqdm import tqdm

    from polylens.storage.store import append_ledger, done_keys, register_variant

    family, provenance, lengths = c.submit(
        _describe, config, steps, name, [texts[k] for k in mine], pure=False
    ).result()
    variant = steps.label(name, family, config.variants)
    register_variant(store, manifest, variant, provenance)
    done = done_keys(store, variant, manifest)
    todo = [(k, n) for k, n in zip(mine, lengths) if k not in done]
    logger.info(
        f"{variant}: {len(mine) - len(todo)} of {len(mine)} stimuli already captured, {len(todo)} to go"
    )
    batches = steps.plan(config, [k for k, _ in todo], [n for _, n in todo])
    futures = [
        c.submit(
            _capture, config, steps, name, str(store), variant, keys, [texts[k] for k in keys], pure=False
        )
        for keys in batches
    ]
    try:
        with tqdm(total=len(todo), unit="stim", desc=variant, dynamic_ncols=True) as bar:
            for future in as_completed(futures):
                entry = future.result()
                append_ledger(store, entry)  # only the coordinator writes the ledger
                bar.update(len(entry["keys"]))
    finally:
        c.cancel(futures)
    return len(todo)


_MODELS: dict[tuple[Any, ...], Any] = {}
_LOCK = threading.Lock()


def worker_model(config: Any, name: str) -> Any:
    """The model of ``name`` in this worker process, booted on first use (one model kept)."""
    key = (name, config.device, config.dtype, config.processing, threads_of(config))
    if key not in _MODELS:
        import torch

        from polylens.hooks.models import load_model

        _MODELS.clear()
        gc.collect()
        torch.set_num_threads(threads_of(config))
        _MODELS[key] = load_model(
            name, device=config.device, dtype=config.dtype, processing=config.processing
        )
    return _MODELS[key]


def _describe(
    config: Any, steps: CaptureSteps, name: str, texts: list[str]
) -> tuple[str, dict[str, str], list[int]]:
    """Worker task: (family variant, provenance, token length of each text) of model ``name``."""
    with _LOCK:
        model = worker_model(config, name)
        return model.variant, model.provenance(), steps.token_lengths(model.tokenizer, texts)


def _capture(
    config: Any, steps: CaptureSteps, name: str, store: str, variant: str, keys: list[Key], texts: list[str]
) -> dict[str, Any]:
    """Worker task: pool one batch, write its part file into the store; return its ledger entry."""
    with _LOCK:  # hooks are registered on the shared model: one batch at a time per worker
        entry, _ = steps.batch(config, worker_model(config, name), Path(store), variant, keys, texts)
    return entry
