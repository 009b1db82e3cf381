"""A fake pip simple index and a fake npm registry on 127.0.0.0/8, to measure mirrors against.

Both are real HTTP/1.1 servers (h11 framing over asyncio streams) running their own event
loop in a thread, so synchronous tests, async tests and benchmarks can all use them. They
serve one :class:`FixturePackage`; what can go wrong is set per server:

* ``latency``: seconds to wait before every response head;
* ``trickle``: seconds to wait between 64 KiB chunks of an artifact;
* ``stall``: seconds to wait halfway through an artifact's body;
* ``chunked``: send bodies chunked, without a Content-Length;
* ``mode="blackhole"``: accept connections, never read or answer;
* ``corrupt``: serve the newest version's artifacts with bytes flipped (the documents
  still advertise the true digests);
* ``stale``: list and serve nothing of the newest version;
* ``artifact_base``: put artifacts under another base URL (another server, as real
  registries do with a separate file host, or a non-HTTP URL).

Any project or package other than the fixture's answers 404.

pip: ``<url>/simple/<normalized name>/`` answers PEP 691 JSON when the request accepts
it, else PEP 503 HTML (``html_only`` forces HTML); links are relative to the page unless
``artifact_base`` is set; files live under ``/files/``. The newest version has a pure wheel,
a platform wheel (which sorts first by name) and an sdist; each other version a pure
wheel (``wheels=False``: an sdist instead); ``yanked`` versions are listed as yanked.
npm: ``<url>/<name>`` (a scoped name escaped as ``@scope%2Fname`` or not) is the package
document with ``dist.integrity`` in the chosen ``integrity`` style; tarballs live under
``/<name>/-/``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import random
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, TypedDict, Unpack
from urllib.parse import unquote

import h11

from tests.support.lifecycle import StreamServer

Mode = Literal["normal", "blackhole"]
IntegrityStyle = Literal["sha512", "multi", "shasum"]
SIMPLE_JSON: Final = "application/vnd.pypi.simple.v1+json"
SIMPLE_HTML: Final = "text/html; charset=utf-8"
ARTIFACT: Final = "application/octet-stream"  # the content type of wheels and tarballs
_CHUNK: Final = 64 * 1024
_SMALL: Final = 4096  # bytes of the artifacts that are not the sample one


@dataclass(frozen=True)
class FixturePackage:
    """An invented package: ``versions`` oldest first (the last is the newest), each with
    random artifact bytes (the newest ``size`` bytes, the others 4 KiB); ``yanked`` versions
    come after them and are published as yanked (pip) or not at all (npm)."""

    name: str
    versions: tuple[str, ...]
    yanked: tuple[str, ...]
    artifacts: dict[str, bytes] = field(repr=False)

    @property
    def newest(self) -> str:
        return self.versions[-1]

    @property
    def normalized(self) -> str:
        """The PEP 503 name, written independently of the production code."""
        return re.sub(r"[-_.]+", "-", self.name).lower()


def make_package(
    name: str = "fixturepkg",
    versions: Sequence[str] = ("1.2.0", "1.9.0", "1.10.0"),
    *,
    yanked: Sequence[str] = ("1.11.0",),
    size: int = 1 << 20,
    seed: int = 0,
) -> FixturePackage:
    """A package whose newest version (by PEP 440, not by string order) is ``versions[-1]``."""
    rng = random.Random(seed)
    every = [*versions, *yanked]
    artifacts = {v: rng.randbytes(size if v == versions[-1] else _SMALL) for v in every}
    return FixturePackage(name, tuple(versions), tuple(yanked), artifacts)


def flipped(body: bytes) -> bytes:
    """``body`` with 16 bytes in its middle inverted: same size, different digest."""
    middle = len(body) // 2
    return body[:middle] + bytes(b ^ 0xFF for b in body[middle : middle + 16]) + body[middle + 16 :]


def sri_sha512(body: bytes) -> str:
    """The SRI integrity string npm publishes for ``body``."""
    return "sha512-" + base64.b64encode(hashlib.sha512(body).digest()).decode("ascii")


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it: the raw target, its Accept header, the status
    answered and the answer's content type."""

    method: str
    target: str
    accept: str
    status: int
    content_type: str


class ServerOptions(TypedDict, total=False):
    """Keyword options both fakes take (see the module docstring)."""

    host: str
    mode: Mode
    latency: float
    corrupt: bool
    stale: bool
    artifact_base: str | None
    trickle: float
    stall: float
    chunked: bool


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


class _PackageServer(StreamServer):
    """The socket side shared by both fakes; subclasses answer a (method, path, accept)."""

    def __init__(
        self,
        package: FixturePackage | None = None,
        *,
        host: str = "127.0.0.1",
        mode: Mode = "normal",
        latency: float = 0.0,
        corrupt: bool = False,
        stale: bool = False,
        artifact_base: str | None = None,
        trickle: float = 0.0,
        stall: float = 0.0,
        chunked: bool = False,
    ) -> None:
        super().__init__(host)
        self.package = package if package is not None else make_package()
        self.mode: Mode = mode
        self.latency = latency
        self.corrupt = corrupt
        self.stale = stale
        self.artifact_base = artifact_base
        self.trickle = trickle
        self.stall = stall
        self.chunked = chunked
        self._seen: list[Seen] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """``http://127.0.0.x:PORT``; the pip index is under ``/simple``."""
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[Seen]:
        """Every request answered so far, in order (a blackhole records none)."""
        with self._lock:
            return list(self._seen)

    # -- what to serve -------------------------------------------------------------

    def answer(self, path: str, accept: str) -> _Reply:
        raise NotImplementedError

    def published(self) -> list[str]:
        """The versions this server lists, oldest first."""
        versions = list(self.package.versions)
        return versions[:-1] if self.stale else versions

    def artifact(self, version: str) -> bytes:
        body = self.package.artifacts[version]
        return flipped(body) if self.corrupt and version == self.package.newest else body

    def base(self) -> str:
        return (self.artifact_base or self.url).rstrip("/")

    # -- the socket side -------------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "blackhole":
            await asyncio.Event().wait()
        conn = h11.Connection(h11.SERVER)
        with contextlib.suppress(h11.ProtocolError):
            while (request := await _next_request(conn, reader)) is not None:
                await self._reply(conn, writer, request)
                if conn.our_state is h11.MUST_CLOSE:
                    break
                conn.start_next_cycle()

    async def _reply(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, request: h11.Request
    ) -> None:
        method = request.method.decode("ascii")
        target = request.target.decode("ascii")
        accept = ", ".join(v.decode("latin-1") for k, v in request.headers if k == b"accept")
        path = unquote(target.split("?", 1)[0])
        reply = self.answer(path, accept) if method == "GET" else _Reply(405)
        with self._lock:
            self._seen.append(Seen(method, target, accept, reply.status, reply.content_type))
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        headers = [("Content-Type", reply.content_type)]
        if not self.chunked:  # without a length h11 frames the body in chunks
            headers.append(("Content-Length", str(len(reply.body))))
        writer.write(conn.send(h11.Response(status_code=reply.status, headers=headers)))
        paced = reply.content_type == ARTIFACT
        for offset in range(0, len(reply.body), _CHUNK):
            if paced and offset and self.trickle > 0:
                await asyncio.sleep(self.trickle)
            if paced and offset and offset // _CHUNK == len(reply.body) // _CHUNK // 2:
                await asyncio.sleep(self.stall)
            writer.write(conn.send(h11.Data(data=reply.body[offset : offset + _CHUNK])))
            await writer.drain()
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()


async def _next_request(conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Request | None:
    """The next whole request (its body, if any, read and dropped); None once the peer closes."""
    request: h11.Request | None = None
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(_CHUNK))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.EndOfMessage):
            return request
        elif isinstance(event, h11.ConnectionClosed):
            return None


def _not_found(path: str) -> _Reply:
    return _Reply(404, f"not found: {path}\n".encode())


class FakePipIndex(_PackageServer):
    """A simple index serving one project (see the module docstring); ``html_only``
    answers PEP 503 HTML even to clients that accept JSON, like an older mirror."""

    def __init__(
        self,
        package: FixturePackage | None = None,
        *,
        html_only: bool = False,
        wheels: bool = True,
        **options: Unpack[ServerOptions],
    ) -> None:
        super().__init__(package, **options)
        self.html_only = html_only
        self.wheels = wheels

    def files(self) -> list[tuple[str, str, bytes, bool]]:
        """(file name, version, true content, yanked) of every file the page lists."""
        stem = re.sub(r"[-_.]+", "_", self.package.name).lower()
        listed: list[tuple[str, str, bytes, bool]] = []
        for version in [*self.published(), *self.package.yanked]:
            body, yanked = self.package.artifacts[version], version in self.package.yanked
            if not self.wheels:
                listed.append((f"{stem}-{version}.tar.gz", version, body, yanked))
                continue
            if version == self.package.newest:
                # Sorted by name the platform wheel comes first: the pure one must be chosen.
                platform = f"{stem}-{version}-cp311-cp311-manylinux_2_17_x86_64.whl"
                listed.append((platform, version, body[:_SMALL][::-1], False))
                listed.append((f"{stem}-{version}.tar.gz", version, body[-_SMALL:], False))
            listed.append((f"{stem}-{version}-py3-none-any.whl", version, body, yanked))
        return listed

    def answer(self, path: str, accept: str) -> _Reply:
        files = self.files()
        if path.startswith("/files/"):
            for name, version, body, _yanked in files:
                if path == f"/files/{name}":
                    bad = self.corrupt and version == self.package.newest
                    return _Reply(200, flipped(body) if bad else body, ARTIFACT)
            return _not_found(path)
        if path.rstrip("/") == "/simple":  # the index of projects, as real indexes have
            link = f'<a href="{self.package.normalized}/">{self.package.normalized}</a>'
            return _Reply(
                200, f"<!DOCTYPE html><html><body>{link}</body></html>".encode(), SIMPLE_HTML
            )
        if path.rstrip("/") != f"/simple/{self.package.normalized}":
            return _not_found(path)
        prefix = f"{self.base()}/files/" if self.artifact_base else "../../files/"
        rows = [
            (name, prefix + name, hashlib.sha256(body).hexdigest(), y)
            for name, _v, body, y in files
        ]
        if SIMPLE_JSON in accept and not self.html_only:
            entries = [
                {"filename": name, "url": url, "hashes": {"sha256": digest}, "yanked": yanked}
                for name, url, digest, yanked in rows
            ]
            meta = {"api-version": "1.0"}
            document = {"meta": meta, "name": self.package.normalized, "files": entries}
            return _Reply(200, json.dumps(document).encode(), SIMPLE_JSON)
        yank = ' data-yanked=""'
        anchors = "".join(
            f'<a href="{url}#sha256={digest}"{yank if yanked else ""}>{name}</a><br>\n'
            for name, url, digest, yanked in rows
        )
        page = f"<!DOCTYPE html><html><body><h1>{self.package.name}</h1>\n{anchors}</body></html>"
        return _Reply(200, page.encode(), SIMPLE_HTML)


class FakeNpmRegistry(_PackageServer):
    """A registry serving one package (see the module docstring); ``integrity``: "sha512"
    (one SRI hash), "multi" (sha512 and sha1 SRI hashes) or "shasum" (no integrity, only
    the sha1 hex ``shasum``)."""

    def __init__(
        self,
        package: FixturePackage | None = None,
        *,
        integrity: IntegrityStyle = "sha512",
        **options: Unpack[ServerOptions],
    ) -> None:
        super().__init__(package, **options)
        self.integrity = integrity

    def tarball_path(self, version: str) -> str:
        return f"/{self.package.name}/-/{self.package.name.rpartition('/')[2]}-{version}.tgz"

    def document(self) -> dict[str, object]:
        """The package document this registry serves."""
        versions: dict[str, object] = {}
        for version in self.published():
            body = self.package.artifacts[version]
            dist: dict[str, str] = {
                "tarball": self.base() + self.tarball_path(version),
                "shasum": hashlib.sha1(body).hexdigest(),
            }
            if self.integrity != "shasum":
                dist["integrity"] = sri_sha512(body)
            if self.integrity == "multi":
                sha1 = base64.b64encode(hashlib.sha1(body).digest()).decode("ascii")
                dist["integrity"] += f" sha1-{sha1}"
            versions[version] = {"name": self.package.name, "version": version, "dist": dist}
        latest = self.published()[-1]
        return {"name": self.package.name, "dist-tags": {"latest": latest}, "versions": versions}

    def answer(self, path: str, accept: str) -> _Reply:
        if path == "/":  # a registry's root describes it, as real ones do
            return _Reply(200, b'{"db_name":"registry"}', "application/json")
        if path == f"/{self.package.name}":
            return _Reply(200, json.dumps(self.document()).encode(), "application/json")
        for version in self.published():
            if path == self.tarball_path(version):
                return _Reply(200, self.artifact(version), ARTIFACT)
        return _not_found(path)


__all__ = [
    "ARTIFACT",
    "SIMPLE_HTML",
    "SIMPLE_JSON",
    "FakeNpmRegistry",
    "FakePipIndex",
    "FixturePackage",
    "IntegrityStyle",
    "Mode",
    "Seen",
    "ServerOptions",
    "flipped",
    "make_package",
    "sri_sha512",
]
