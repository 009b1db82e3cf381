"""Verified artifacts on disk in the module cache's ``cache/download`` layout.

Writes are atomic: content goes to a temporary file in ``.incoming/`` on the same
file system, is fsynced, renamed into place, and the directory is fsynced. A
crash or ``kill -9`` leaves at most a stray temporary file, never a partial
artifact under a served name. The directory also works as ``GOPROXY=file://DIR``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from unstall.errors import InputError
from unstall.goproxy.paths import Artifact, Kind, escape, is_canonical_version, unescape

_STALE_INCOMING_SECONDS = 24 * 3600


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DiskStore:
    """A ``cache/download`` tree rooted at ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.incoming = root / ".incoming"
        self.incoming.mkdir(parents=True, exist_ok=True)
        self._sweep_incoming()

    def _sweep_incoming(self) -> None:
        cutoff = time.time() - _STALE_INCOMING_SECONDS
        for leftover in self.incoming.iterdir():
            with contextlib.suppress(OSError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()

    def path_for(self, artifact: Artifact) -> Path:
        """Where ``artifact`` lives in the layout."""
        return self.root / artifact.escaped_path

    def get(self, artifact: Artifact) -> Path | None:
        """The stored file of an immutable artifact, if present."""
        if not artifact.immutable:
            return None
        path = self.path_for(artifact)
        return path if path.is_file() else None

    def temp_file(self, artifact: Artifact) -> Path:
        """A fresh temporary path for downloading ``artifact``."""
        fd, name = tempfile.mkstemp(
            prefix=escape(artifact.module).replace("/", "_")[-80:] + ".",
            suffix=f".{artifact.kind.value}.part",
            dir=self.incoming,
        )
        os.close(fd)
        return Path(name)

    def partial(self, artifact: Artifact, upstream: str) -> tuple[Path, Path]:
        """Where a resumable download of ``artifact`` from ``upstream`` keeps its bytes
        and its validator; names are hashes, never served, swept after a day."""
        key = hashlib.sha256(artifact.escaped_path.encode()).hexdigest()[:24]
        source = hashlib.sha256(upstream.encode()).hexdigest()[:12]
        stem = self.incoming / f"{key}-{source}"
        return stem.with_suffix(".partial"), stem.with_suffix(".meta")

    @contextlib.asynccontextmanager
    async def exclusive(self, artifact: Artifact) -> AsyncIterator[None]:
        """Held by the one process fetching ``artifact``; others wait here (polling, so a
        deadline or a shutdown can cancel the wait).

        The lock file is removed on release. A process still waiting on the removed file
        then gets its lock while a newcomer may lock a new file: both look at the store
        first, so this costs a second download only when the first one failed.
        """
        key = hashlib.sha256(artifact.escaped_path.encode()).hexdigest()[:24]
        path = self.incoming / f"{key}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        locked = False
        try:
            pause = 0.005
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    locked = True
                    break
                except BlockingIOError:
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 0.1)
            yield
        finally:
            if locked:
                path.unlink(missing_ok=True)
            os.close(fd)  # releases the lock

    def drop_partials(self, artifact: Artifact) -> None:
        """Remove every upstream's partial download of an artifact that is now stored."""
        key = hashlib.sha256(artifact.escaped_path.encode()).hexdigest()[:24]
        for leftover in self.incoming.glob(f"{key}-*"):
            leftover.unlink(missing_ok=True)

    def commit_file(self, artifact: Artifact, temp: Path, *, h1: str) -> Path:
        """Publish a complete, fsynced, verified zip under its name, atomically.

        ``h1`` goes beside it as ``.ziphash`` first, as go's own cache keeps it, so
        go trusts a zip in this layout without hashing it again. A hard link never
        replaces an existing file: when two hedged downloads finish together, the
        first verified copy stays and the second is dropped. The temp name is left
        for its owner to remove.
        """
        target = self.path_for(artifact)
        target.parent.mkdir(parents=True, exist_ok=True)
        ziphash = target.with_suffix(".ziphash")
        if not ziphash.exists():
            self.write_atomic(ziphash, h1.encode())
        os.chmod(temp, 0o644)
        with contextlib.suppress(FileExistsError):
            os.link(temp, target)
        _fsync_dir(target.parent)
        return target

    def commit_bytes(self, artifact: Artifact, data: bytes) -> Path:
        """Write ``data`` for ``artifact`` atomically."""
        return self.write_atomic(self.path_for(artifact), data)

    def write_atomic(self, target: Path, data: bytes) -> Path:
        """Write any file of the layout atomically (temp, fsync, rename, fsync dir)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".tmp-", dir=self.incoming)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(name, 0o644)
            os.replace(name, target)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return target

    def versions(self, module: str) -> list[str]:
        """Canonical versions whose .mod is stored: the list served when upstreams fail."""
        folder = self.path_for(Artifact(module, Kind.LIST)).parent
        if not folder.is_dir():
            return []
        found = []
        for entry in folder.glob("*.mod"):
            version = _unescape_version(entry.name[: -len(".mod")])
            if version and is_canonical_version(version):
                found.append(version)
        return sorted(found, key=_semver_key)

    def write_list(self, module: str) -> Path:
        """Regenerate ``@v/list`` from the stored .mod files, as go does for its cache.

        Safe to call from several threads and processes at once: a writer that listed
        the folder before another's .mod landed may replace a newer list, so each
        writer lists again after its write and repeats until the two agree.
        """
        target = self.path_for(Artifact(module, Kind.LIST))
        versions = self.versions(module)
        while True:
            self.write_atomic(target, "".join(f"{v}\n" for v in versions).encode())
            now = self.versions(module)
            if now == versions:
                return target
            versions = now


def _unescape_version(text: str) -> str | None:
    try:
        return unescape(text)
    except InputError:
        return None


def _semver_key(version: str) -> tuple[int, int, int, int, str]:
    core, _, pre = version[1:].partition("+")[0].partition("-")
    major, minor, patch = (int(x) for x in core.split("."))
    return (major, minor, patch, 0 if pre else 1, pre)


__all__ = ["DiskStore"]
