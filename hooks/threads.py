"""CPU threads: what this process may really use, and sharing the cores between jobs.

``available_cpus`` reads the scheduler affinity and the cgroup v2/v1 CPU quota (a container
limited to 2 CPUs on a 64-core host has 2, whatever ``os.cpu_count()`` says). ``ThreadShare``
registers the job in a machine-wide registry (a JSON file under a file lock): every running
job gets an equal share of the cores and re-reads its share between batches, so two
concurrent captures split the machine instead of oversubscribing it.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from types import TracebackType

from filelock import FileLock

CGROUP = Path("/sys/fs/cgroup")
#: environment variable naming the registry directory (default: the system temp dir)
REGISTRY_ENV = "POLYLENS_JOBS_DIR"


def cgroup_cpu_limit(root: Path = CGROUP) -> float | None:
    """CPUs allowed by the cgroup quota (v2 ``cpu.max`` or v1 cfs quota/period); None if unlimited."""
    v2 = root / "cpu.max"
    try:
        if v2.is_file():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        q1, p1 = root / "cpu" / "cpu.cfs_quota_us", root / "cpu" / "cpu.cfs_period_us"
        if q1.is_file() and p1.is_file():
            quota_us = int(q1.read_text())
            return None if quota_us <= 0 else quota_us / int(p1.read_text())
    except (OSError, ValueError):
        return None
    return None


def available_cpus(root: Path = CGROUP) -> int:
    """CPUs this process may use: affinity mask, capped by the cgroup quota (at least 1)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root)
    if limit is not None:
        n = min(n, math.ceil(limit))
    return max(1, n)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ThreadShare:
    """This job's share of the CPUs, kept in a machine-wide registry of running jobs."""

    def __init__(self, threads: int | None = None, registry: Path | None = None) -> None:
        """``threads``: a fixed count (``--threads``); None shares the available CPUs."""
        folder = registry or Path(os.environ.get(REGISTRY_ENV) or tempfile.gettempdir())
        self.path = folder / "polylens-jobs.json"
        self.lock = FileLock(str(self.path) + ".lock")
        self.fixed = threads
        self.cpus = available_cpus()
        self.pid = os.getpid()

    def _update(self, add: bool) -> int:
        """Add or remove this job; drop dead ones; return the number of live jobs."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock:
            try:
                jobs = [int(p) for p in json.loads(self.path.read_text())]
            except (OSError, ValueError, TypeError):
                jobs = []
            jobs = [p for p in jobs if p != self.pid and _alive(p)] + ([self.pid] if add else [])
            self.path.write_text(json.dumps(jobs))
            return max(1, len(jobs))

    def share(self) -> int:
        """Threads this job should use now: ``--threads`` or an equal share of the CPUs."""
        if self.fixed:
            return self.fixed
        return max(1, self.cpus // self._update(add=True))

    def apply(self) -> int:
        """Set torch's intra-op threads to the current share (cheap; call between batches)."""
        import torch

        n = self.share()
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        return n

    def __enter__(self) -> ThreadShare:
        """Register and apply the share."""
        self.apply()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Leave the registry (the other jobs grow back on their next batch)."""
        self._update(add=False)
