"""The error tree: every error explains itself through the cause catalogue."""

from __future__ import annotations

import pytest

from unstall import errors
from unstall.doctor.causes import CATALOGUE, cause_for
from unstall.errors import (
    ArtifactFailed,
    BudgetExhausted,
    ChecksumMismatch,
    ConfigError,
    ConnectionFailed,
    FetchError,
    GoSumError,
    InputError,
    IntegrityError,
    MetricsExportError,
    NotFound,
    PhaseTimeout,
    SlowTransfer,
    ToolchainError,
    TransientError,
    UnstallError,
    UpstreamBusy,
    UpstreamRejected,
    UsageError,
)

ERROR_CLASSES = [
    obj
    for name in errors.__all__
    if isinstance(obj := getattr(errors, name), type) and issubclass(obj, UnstallError)
]


def _samples() -> list[UnstallError]:
    """One instance of every error, built as the code that raises it would."""
    return [
        UnstallError("boom"),
        UsageError("bad flag"),
        ConfigError("bad key"),
        InputError("bad path"),
        GoSumError("go.sum", 3, "bad line"),
        ToolchainError("no go"),
        MetricsExportError("cannot write the metrics textfile /var/lib/x.prom"),
        FetchError("failed", upstream="http://127.0.0.1:1"),
        TransientError("flaky"),
        *(PhaseTimeout(phase, 1.5) for phase in ("connect", "tls", "first_byte", "stall", "total")),
        SlowTransfer("slow"),
        ConnectionFailed("reset", cause="tcp-reset"),
        ConnectionFailed("refused", cause="tcp-refused"),
        ConnectionFailed("cut", cause="transfer-truncated"),
        UpstreamBusy("busy", status=503, retry_after=2.0),
        NotFound("missing"),
        UpstreamRejected("forbidden"),
        BudgetExhausted("no more retries"),
        IntegrityError("not a zip"),
        ChecksumMismatch("fixture.test/a@v1.0.0 .zip", "h1:want", "h1:got"),
        ArtifactFailed("fixture.test/a@v1.0.0 .zip", [NotFound("missing")]),
        ArtifactFailed("fixture.test/a@v1.0.0 .zip", []),
    ]


def test_every_error_class_is_sampled() -> None:
    assert {type(e) for e in _samples()} == set(ERROR_CLASSES)


@pytest.mark.parametrize("error_class", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_default_cause_is_in_the_catalogue(error_class: type[UnstallError]) -> None:
    assert error_class.default_cause in CATALOGUE


@pytest.mark.parametrize("error", _samples(), ids=lambda e: f"{type(e).__name__}-{e.cause}")
def test_every_error_explains_itself(error: UnstallError) -> None:
    assert error.cause in CATALOGUE
    assert error.fix == CATALOGUE[error.cause].fix
    assert error.layer == CATALOGUE[error.cause].layer
    assert str(error) == error.message


def test_catalogue_entries_are_complete() -> None:
    for cause_id, cause in CATALOGUE.items():
        assert cause.id == cause_id
        assert cause.layer
        assert cause.explanation
        assert cause.fix
    assert cause_for("no-such-cause") is CATALOGUE["internal"]


def test_an_explicit_fix_wins() -> None:
    error = ConfigError("bad", fix="Remove the line.")
    assert error.fix == "Remove the line."
    assert error.layer == "config"


@pytest.mark.parametrize(
    ("error", "exit_code", "http_status"),
    [
        (UsageError("x"), 2, 400),
        (ConfigError("x"), 2, 400),
        (InputError("x"), 2, 400),
        (GoSumError("go.sum", 1, "x"), 2, 400),
        (ToolchainError("x"), 1, 500),
        (MetricsExportError("x"), 1, 500),
        (UnstallError("x"), 1, 500),
        (FetchError("x"), 1, 502),
        (PhaseTimeout("stall", 1), 1, 502),
        (UpstreamBusy("x", status=503), 1, 502),
        (NotFound("x"), 1, 404),
        (NotFound("x", status=410), 1, 410),
        (ChecksumMismatch("a", "h1:x", "h1:y"), 1, 502),
    ],
)
def test_exit_codes_and_http_statuses(
    error: UnstallError, exit_code: int, http_status: int
) -> None:
    assert error.exit_code == exit_code
    assert error.http_status == http_status


@pytest.mark.parametrize(
    ("phase", "cause"),
    [
        ("connect", "tcp-timeout"),
        ("tls", "tls-timeout"),
        ("first_byte", "http-timeout"),
        ("stall", "transfer-stall"),
        ("total", "deadline-exceeded"),
        ("something-new", "http-timeout"),
    ],
)
def test_phase_timeouts_map_to_causes(phase: str, cause: str) -> None:
    error = PhaseTimeout(phase, 2.5, upstream="u")
    assert (error.cause, error.phase, error.seconds, error.upstream) == (cause, phase, 2.5, "u")
    assert str(error) == f"{phase} timeout after 2.5s"
    assert isinstance(error, TransientError)


def test_specific_payloads() -> None:
    busy = UpstreamBusy("busy", status=429, retry_after=1.5, upstream="u")
    assert (busy.status, busy.retry_after, busy.upstream) == (429, 1.5, "u")
    mismatch = ChecksumMismatch("fixture.test/a@v1.0.0 .zip", "h1:want", "h1:got")
    assert "h1:want" in str(mismatch)
    assert "h1:got" in str(mismatch)
    assert isinstance(mismatch, IntegrityError)
    bad_line = GoSumError("dir/go.sum", 12, "want 3 fields")
    assert (bad_line.path, bad_line.line_number) == ("dir/go.sum", 12)
    assert str(bad_line) == "dir/go.sum:12: want 3 fields"


# -- ArtifactFailed: one answer out of the reasons of every upstream ----------------


def test_all_not_found_is_404() -> None:
    failed = ArtifactFailed(
        "a .zip", [NotFound("no", upstream="u1"), NotFound("gone", status=410, upstream="u2")]
    )
    assert failed.not_found
    assert failed.http_status == 404
    assert failed.cause == "http-not-found"
    assert "u1: no" in failed.message
    assert "u2: gone" in failed.message


def test_all_gone_is_410() -> None:
    failed = ArtifactFailed("a .zip", [NotFound("gone", status=410), NotFound("gone", status=410)])
    assert failed.not_found
    assert failed.http_status == 410


def test_integrity_reason_wins() -> None:
    failed = ArtifactFailed(
        "a .zip",
        [
            NotFound("no", upstream="u1"),
            ConnectionFailed("reset", upstream="u2"),
            ChecksumMismatch("a .zip", "h1:want", "h1:got", upstream="u3"),
            UpstreamBusy("busy", status=503, upstream="u4"),
        ],
    )
    assert not failed.not_found
    assert failed.cause == "checksum-mismatch"
    assert failed.http_status == 502


def test_rejection_beats_transport_and_transport_beats_not_found() -> None:
    rejected = ArtifactFailed(
        "a .zip", [PhaseTimeout("stall", 1), UpstreamRejected("403"), NotFound("no")]
    )
    assert rejected.cause == "http-client-error"
    transport = ArtifactFailed("a .zip", [NotFound("no"), PhaseTimeout("connect", 1)])
    assert transport.cause == "tcp-timeout"
    assert not transport.not_found
    assert transport.http_status == 502


def test_no_upstream_at_all() -> None:
    failed = ArtifactFailed("a .zip", [])
    assert failed.cause == "upstream-none"
    assert not failed.not_found
    assert failed.reasons == []
