"""`unstall report --since/--until`: durations back from now and ISO dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from unstall.cli.report_cmd import parse_when
from unstall.errors import UsageError

NOW = 1_717_243_200.0  # 2024-06-01T12:00:00Z


@pytest.mark.parametrize(
    ("value", "seconds_ago"),
    [("30m", 1800), ("12h", 43_200), ("7d", 604_800), ("2w", 1_209_600), ("90s", 90)],
)
def test_durations_count_back_from_now(value: str, seconds_ago: float) -> None:
    assert parse_when(value, option="--since", now=NOW) == NOW - seconds_ago


def test_iso_dates_and_times_are_moments() -> None:
    assert (
        parse_when("2024-05-01T12:00+02:00", option="--since", now=NOW)
        == datetime(2024, 5, 1, 10, 0, tzinfo=UTC).timestamp()
    )
    local_midnight = datetime(2024, 5, 1).timestamp()
    assert parse_when("2024-05-01", option="--until", now=NOW) == local_midnight


@pytest.mark.parametrize("value", ["", "7", "seven days", "7y", "-3d", "2024-13-01"])
def test_anything_else_is_a_usage_error_naming_the_forms(value: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_when(value, option="--since", now=NOW)
    assert caught.value.exit_code == 2
    assert "--since" in caught.value.message
    assert "30m, 12h, 7d, 2w" in caught.value.fix
