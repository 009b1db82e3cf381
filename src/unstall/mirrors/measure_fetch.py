"""Shared by the pip and npm measurers: a timed, hashed, bounded streaming download.

Every request has a deadline of ``timeout`` seconds for its response head, renewed by
each body chunk, so a slow but flowing artifact is measured and a silent one is not
waited for; the total is bounded by ``max_bytes`` and by the caller's own deadline.
Failures come back as an :class:`ArtifactCheck` with a reason and a cause id, never raised.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from unstall.errors import PhaseTimeout
from unstall.http.errors import translate
from unstall.mirrors.model import ArtifactCheck

Clock = Callable[[], float]
_STATUS_CAUSES: Final = {404: "http-not-found", 410: "http-not-found", 418: "mirror-deprecated"}


class MeasureFailed(Exception):
    """One step of a measurement failed: what to tell the user and the cause id."""

    def __init__(self, reason: str, cause: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


@dataclass(frozen=True, slots=True)
class Fetched:
    """A response read in full: where it came from, its body (when kept), size, timings
    (``throughput_kbps`` in kB/s, 1 kB = 1000 B) and the digests asked for."""

    url: str
    content_type: str
    body: bytes
    size: int
    ttfb_ms: float
    throughput_kbps: float | None
    digests: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TimedFetcher:
    """GETs a URL streaming under a deadline: ``timeout`` seconds for the response head,
    renewed by each body chunk; at most ``max_bytes`` of body."""

    timeout: float = 10.0
    max_bytes: int = 256 << 20
    clock: Clock = time.perf_counter

    async def get(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        what: str,
        accept: str = "*/*",
        digests: Iterable[str] = (),
        keep: bool = False,
    ) -> Fetched:
        """Fetch ``url`` (``what`` names it in reasons); ttfb is request to first body
        byte, throughput is bytes over head-to-last-byte time. Raises :class:`MeasureFailed`."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise MeasureFailed(
                f"{what}: refusing to follow {url!r}: not http(s)", "integrity-info"
            )
        hashes = {name: hashlib.new(name) for name in digests}
        parts: list[bytes] = []
        size, first_at, phase = 0, None, "first_byte"
        loop = asyncio.get_running_loop()
        started = head_at = self.clock()
        try:
            async with (
                asyncio.timeout(self.timeout) as deadline,
                client.stream("GET", url, headers={"Accept": accept}) as response,
            ):
                check_status(response, what)
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > self.max_bytes:
                    raise self._too_big(what)
                phase, head_at = "body", self.clock()
                deadline.reschedule(loop.time() + self.timeout)
                async for chunk in response.aiter_bytes():
                    if first_at is None:
                        first_at = self.clock()
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise self._too_big(what)
                    for digest in hashes.values():
                        digest.update(chunk)
                    if keep:
                        parts.append(chunk)
                    deadline.reschedule(loop.time() + self.timeout)
        except TimeoutError:
            late = "stall" if phase == "body" else phase  # PhaseTimeout's name for it
            timeout = PhaseTimeout(late, self.timeout, upstream=url)
            raise MeasureFailed(f"{what}: {timeout.message} from {url}", timeout.cause) from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            side = "connect" if isinstance(exc, httpx.ConnectTimeout) else phase
            error = translate(exc, phase=side, upstream=url)
            raise MeasureFailed(f"{what}: {error.message}", error.cause) from None
        ended = self.clock()
        return Fetched(
            url=str(response.url),
            content_type=response.headers.get("content-type", ""),
            body=b"".join(parts),
            size=size,
            ttfb_ms=((ended if first_at is None else first_at) - started) * 1000,
            throughput_kbps=size / 1000 / max(ended - head_at, 1e-9) if size else None,
            digests={name: digest.digest() for name, digest in hashes.items()},
        )

    def _too_big(self, what: str) -> MeasureFailed:
        return MeasureFailed(f"{what}: larger than {self.max_bytes} bytes", "integrity-size")


def check_status(response: httpx.Response, what: str) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    server_side = status >= 500 or status == 429
    cause = _STATUS_CAUSES.get(status, "http-server-error" if server_side else "http-client-error")
    raise MeasureFailed(f"{what}: {response.url} answered {status} {response.reason_phrase}", cause)


def parse_json(fetched: Fetched, what: str) -> dict[str, Any]:
    try:
        document = json.loads(fetched.body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise MeasureFailed(f"{what}: {fetched.url} did not answer a JSON object", "integrity-info")
    return document


class Measuring:
    """What both measurers are built with (see :class:`TimedFetcher`)."""

    def __init__(
        self, *, timeout: float = 10.0, max_bytes: int = 256 << 20, clock: Clock = time.perf_counter
    ) -> None:
        self.fetcher = TimedFetcher(timeout, max_bytes, clock)


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def measured_check(
    base: ArtifactCheck, got: Fetched, correct: bool | None, reason: str | None
) -> ArtifactCheck:
    return replace(
        base,
        size=got.size,
        ttfb_ms=got.ttfb_ms,
        throughput_kbps=got.throughput_kbps,
        correct=correct,
        reason=reason,
        cause="checksum-mismatch" if correct is False else None,
    )


__all__ = [
    "Clock",
    "Fetched",
    "MeasureFailed",
    "Measuring",
    "TimedFetcher",
    "as_dict",
    "check_status",
    "measured_check",
    "parse_json",
]
