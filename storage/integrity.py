"""Integrity of everything we write: checksums, a lock per store, atomic files and directories,
and resource faults (ENOSPC / EFBIG / EACCES) turned into one-line errors naming the path."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from polylens.errors import StorageError

LOCK = ".lock"
HOLDER = ".lock.pid"
_FAULTS = {errno.ENOSPC: "disk full", errno.EFBIG: "file too large", errno.EDQUOT: "disk quota exceeded"}


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in 1 MB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def fingerprint(path: Path) -> dict:
    """``{"sha256", "size"}`` of a file (what a manifest records)."""
    return {"sha256": sha256_file(path), "size": Path(path).stat().st_size}


def sidecar(path: Path) -> Path:
    """The checksum file written next to an assembled dataset."""
    return Path(path).with_name(Path(path).name + ".sha256")


def write_sidecar(path: Path) -> dict:
    """Record the file's fingerprint in its sidecar (atomically); returns it."""
    fp = fingerprint(path)
    atomic_write_text(sidecar(path), json.dumps(fp))
    return fp


def verify(path: Path, expected: dict | None, full: bool = True) -> None:
    """Raise a one-line StorageError if ``path`` is missing, truncated or (``full``) altered."""
    path = Path(path)
    if expected is None:
        side = sidecar(path)
        if not side.exists():
            return  # written before checksums existed
        try:
            expected = json.loads(side.read_text())
        except ValueError:
            raise StorageError(
                f"{side}: corrupt checksum file; re-run the command that wrote {path}"
            ) from None
    assert expected is not None
    if not path.exists():
        raise StorageError(f"{path} is missing (the manifest lists it); re-run the command that wrote it")
    size = path.stat().st_size
    if size != expected["size"]:
        raise StorageError(
            f"{path} is damaged: {size} bytes, expected {expected['size']} (truncated or overwritten); "
            "re-run the command that wrote it"
        )
    if full and sha256_file(path) != expected["sha256"]:
        raise StorageError(f"{path} is damaged (sha256 mismatch); re-run the command that wrote it")


def resource_guard() -> None:
    """Make a file-size limit (RLIMIT_FSIZE) an EFBIG error instead of a SIGXFSZ kill."""
    with contextlib.suppress(ValueError, AttributeError):  # not the main thread / no SIGXFSZ
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def describe(exc: BaseException, path: Path) -> str:
    """One line for an OS / HDF5 error while writing ``path``."""
    code = getattr(exc, "errno", None)
    if code in _FAULTS:
        return f"cannot write {path}: {_FAULTS[code]}"
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write {path}: permission denied or read-only file system"
    if code is None:  # HDF5 reports "NetCDF: HDF error" without the errno: find the cause
        return f"cannot write {path}: {_likely_cause(path) or str(exc)[:120]}"
    return f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}"


def _likely_cause(path: Path) -> str | None:
    """The resource fault behind an errno-less write error: a file-size limit, a full disk."""
    import resource

    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if soft != resource.RLIM_INFINITY:
        return f"file too large (file-size limit {soft} bytes)"
    existing = Path(path).absolute()
    while not existing.exists():
        existing = existing.parent
    if shutil.disk_usage(existing).free < 16 * 2**20:
        return "disk full"
    return None


@contextlib.contextmanager
def writing(path: Path, tmp: Path | None = None) -> Iterator[None]:
    """Turn any OS / HDF5 write failure into a StorageError naming ``path``; remove ``tmp``."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        if tmp is not None:
            remove(tmp)
        raise StorageError(describe(exc, path)) from None
    except BaseException:
        if tmp is not None:
            remove(tmp)
        raise


def remove(path: Path) -> None:
    """Delete a file or directory tree if it exists (best effort)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file via a temporary sibling, fsync and rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with writing(path, tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` to write; renamed into place only on success."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with writing(path, tmp):
        yield tmp
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling directory; it replaces ``path`` only when the block succeeds.

    A failed or refused run leaves the previous ``path`` untouched (and no temporary behind).
    """
    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    remove(tmp)
    with writing(path, tmp):
        tmp.mkdir()
        yield tmp
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    remove(old)


@contextlib.contextmanager
def store_lock(directory: Path) -> Iterator[None]:
    """Hold the exclusive lock of a store; a second writer gets a one-line error naming the holder.

    The lock is an OS file lock (``filelock``): the kernel releases it when its process dies, so
    the lock of a killed run is stale by construction and the next run simply takes it over.
    """
    directory = Path(directory)
    with writing(directory):
        directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(directory / LOCK, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        holder = _read(directory / HOLDER) or "another process"
        raise StorageError(
            f"{directory} is being written by pid {holder}; wait for it to finish or use another --out"
        ) from None
    try:
        with writing(directory / HOLDER):
            (directory / HOLDER).write_text(str(os.getpid()))
        yield
    finally:
        remove(directory / HOLDER)
        lock.release()


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


RUN_FILE = "run.json"


def stamp(directory: Path, command: str, source: Path | None = None) -> str:
    """Write ``run.json`` (a fresh run id; the run id of the ``source`` results it was built from)."""
    import time
    import uuid

    new = uuid.uuid4().hex
    run = {"run_id": new, "command": command, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if source is not None:
        run["source_run_id"] = run_id(source) or ""
    atomic_write_text(Path(directory) / RUN_FILE, json.dumps(run))
    return new


def run_id(directory: Path) -> str | None:
    """The run id recorded in a results directory (None if it predates run ids)."""
    path = Path(directory) / RUN_FILE
    try:
        return json.loads(path.read_text())["run_id"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_run_ids(results: Path) -> None:
    """Refuse a results directory holding outputs built from a different run than its own."""
    own = run_id(results)
    for path in sorted(Path(results).rglob(RUN_FILE)):
        try:
            source = json.loads(path.read_text()).get("source_run_id")
        except (OSError, ValueError, AttributeError):
            raise StorageError(f"{path}: corrupt run record") from None
        if source and own is not None and source != own:
            raise StorageError(
                f"{path.parent} was built from run {source[:12]}, but {results} now holds run {own[:12]}; "
                "re-run figures for it"
            )
