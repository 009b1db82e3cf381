"""How an HTTP status is judged for each kind of source."""

from __future__ import annotations

import h11
import pytest

from unstall.doctor.model import SourceKind
from unstall.doctor.probe.http import judge


def _response(status: int, headers: list[tuple[str, str]] | None = None) -> h11.Response:
    return h11.Response(status_code=status, headers=headers or [], reason=b"")


@pytest.mark.parametrize(
    ("kind", "status", "cause"),
    [
        (SourceKind.GOPROXY, 200, None),
        (SourceKind.GOPROXY, 302, None),
        (SourceKind.GOPROXY, 404, None),
        (SourceKind.GOPROXY, 410, None),
        (SourceKind.URL, 404, None),
        (SourceKind.PIP, 404, "http-client-error"),
        (SourceKind.NPM, 410, "http-client-error"),
        (SourceKind.GOPROXY, 401, "http-client-error"),
        (SourceKind.GOPROXY, 403, "http-client-error"),
        (SourceKind.GOPROXY, 418, "http-client-error"),
        (SourceKind.GOPROXY, 429, "http-server-error"),
        (SourceKind.PIP, 500, "http-server-error"),
        (SourceKind.NPM, 503, "http-server-error"),
        (SourceKind.URL, 407, "proxy-auth-required"),
        (SourceKind.SUMDB, 200, None),
        (SourceKind.SUMDB, 404, "sumdb-unsupported"),
        (SourceKind.SUMDB, 410, "sumdb-unsupported"),
        (SourceKind.SUMDB, 502, "http-server-error"),
    ],
)
def test_status_judgement(kind: SourceKind, status: int, cause: str | None) -> None:
    failure = judge(kind, _response(status), "mirror.example.test:443")
    assert (failure.cause if failure else None) == cause
    if failure is not None:
        assert str(status) in failure.message


def test_a_407_from_the_target_names_the_schemes() -> None:
    offered = [("Proxy-Authenticate", "Negotiate"), ("Proxy-Authenticate", "Basic realm=x")]
    failure = judge(SourceKind.URL, _response(407, offered), "mirror.example.test:80")
    assert failure is not None
    assert "Negotiate, Basic" in failure.message
