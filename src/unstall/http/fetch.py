"""One HTTP GET under per-phase deadlines, streamed into a sink, resumed with Range."""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from unstall.errors import (
    ConnectionFailed,
    FetchError,
    IntegrityError,
    NotFound,
    UnstallError,
    UpstreamBusy,
    UpstreamRejected,
)
from unstall.events import PhaseTimings
from unstall.http.errors import translate
from unstall.http.sinks import BodySink
from unstall.http.timing import AttemptTrace
from unstall.resilience.timeouts import PhaseGuard, Timeouts

_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_REASON_LIMIT = 2048  # enough of an error body to show the user the upstream's reason


@dataclass(slots=True)
class AttemptReport:
    """Status, timings and byte counts of an attempt, filled in whether it succeeded or not
    (the caller passes it in, so a failed or cancelled attempt still reports them)."""

    status: int | None = None
    timings: PhaseTimings = field(default_factory=PhaseTimings)
    received: int = 0
    resumed_from: int = 0


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None when absent or garbled."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - time.time())


async def _reason(response: httpx.Response) -> str:
    body = b""
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= _REASON_LIMIT:
            break
    text = body[:_REASON_LIMIT].decode("utf-8", "replace").strip()
    return f"{response.status_code} {response.reason_phrase}" + (f": {text}" if text else "")


async def _check_status(response: httpx.Response, sink: BodySink, upstream: str) -> None:
    status = response.status_code
    if status in (200, 206):
        return
    reason = await _reason(response)
    if status in (404, 410):
        raise NotFound(reason, status=status, upstream=upstream)
    if status == 416:
        sink.reset()
        raise ConnectionFailed(
            f"range not satisfiable ({reason})", cause="transfer-truncated", upstream=upstream
        )
    if status == 429 or status >= 500:
        raise UpstreamBusy(
            reason,
            status=status,
            upstream=upstream,
            retry_after=_retry_after(response.headers.get("retry-after")),
        )
    raise UpstreamRejected(reason, status=status, upstream=upstream)


def _accept_range(response: httpx.Response, sink: BodySink, upstream: str) -> None:
    """Keep held bytes only if the server really continues where they end."""
    if sink.offset == 0:
        return
    if response.status_code == 200:
        sink.reset()
        return
    match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
    if match is None or int(match.group(1)) != sink.offset:
        sink.reset()
        raise ConnectionFailed(
            "upstream answered a Range request with the wrong range",
            cause="transfer-truncated",
            upstream=upstream,
        )


async def fetch_once(
    client: httpx.AsyncClient,
    url: str,
    sink: BodySink,
    *,
    timeouts: Timeouts,
    upstream: str,
    report: AttemptReport,
    on_first_byte: Callable[[], None] | None = None,
) -> AttemptReport:
    """GET ``url`` into ``sink`` (resuming from ``sink.offset``); return the filled ``report``
    or raise a :class:`FetchError`."""
    headers = {"Accept-Encoding": "identity"}
    resumed_from = sink.offset
    report.resumed_from = resumed_from
    if resumed_from:
        headers["Range"] = f"bytes={resumed_from}-"
        if sink.validator:
            headers["If-Range"] = sink.validator
    async with PhaseGuard(timeouts, upstream=upstream) as guard:
        trace = AttemptTrace(guard)
        try:
            try:
                async with client.stream(
                    "GET", url, headers=headers, extensions={"trace": trace}
                ) as response:
                    trace.headers_received()
                    report.status = response.status_code
                    await _check_status(response, sink, upstream)
                    if on_first_byte is not None:
                        on_first_byte()
                    _accept_range(response, sink, upstream)
                    sink.validator = response.headers.get("etag") or response.headers.get(
                        "last-modified"
                    )
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and sink.offset + int(declared) > sink.max_bytes:
                        raise IntegrityError(
                            f"declared size {int(declared) + sink.offset} exceeds the "
                            f"{sink.max_bytes} byte limit",
                            cause="integrity-size",
                            upstream=upstream,
                        )
                    async for chunk in response.aiter_raw():
                        sink.write(chunk)
                        report.received += len(chunk)
                        guard.progress(len(chunk))
                    return report
            except UnstallError as error:
                if isinstance(error, FetchError) and error.upstream is None:
                    error.upstream = upstream
                raise
            except httpx.HTTPError as exc:
                raise translate(exc, phase=trace.phase, upstream=upstream) from exc
            except OSError as exc:
                raise translate(exc, phase=trace.phase, upstream=upstream) from exc
        finally:
            report.timings = trace.timings()


__all__ = ["AttemptReport", "fetch_once"]
