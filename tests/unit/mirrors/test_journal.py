"""The mirrors journal: exact bytes kept, a stack of entries, atomic and owner-only
writes, and a corrupt file reported (never overwritten)."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from unstall.errors import ConfigError, UsageError
from unstall.mirrors.journal import (
    MAX_CONFIG_BYTES,
    Journal,
    JournalChange,
    Status,
    read_config_bytes,
)
from unstall.mirrors.model import Ecosystem

START = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def ticking() -> Callable[[], datetime]:
    """A clock that moves one minute per reading."""
    readings = iter(START + timedelta(minutes=n) for n in range(1000))
    return lambda: next(readings)


def change(before: bytes | None = None, new: str = "http://127.0.0.1:8001/") -> JournalChange:
    return JournalChange(
        ecosystem=Ecosystem.NPM,
        key="registry",
        command=("npm", "config", "set", "registry", new),
        previous=None,
        new=new,
        config_file=Path("/home/user/.npmrc"),
        before=before,
    )


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "state" / "mirrors-journal.json", clock=ticking())


def test_entries_survive_a_round_trip_with_exact_bytes(journal: Journal) -> None:
    odd_bytes = b"\xff\xfe; not utf-8\r\nregistry=x\n\x00"
    entry = journal.begin([change(before=odd_bytes)])
    applied = replace(
        entry.changes[0], after=b"registry=http://127.0.0.1:8001/\n", status=Status.APPLIED
    )
    journal.update(replace(entry, changes=(applied,)))

    (read,) = Journal(journal.path).entries()

    assert read.changes[0].before == odd_bytes
    assert read.changes[0].after == b"registry=http://127.0.0.1:8001/\n"
    assert read.changes[0].status is Status.APPLIED
    assert read.changes[0].existed_before
    assert read.time == START
    assert not read.undone


def test_entries_form_a_stack_and_undone_ones_stay_in_history(journal: Journal) -> None:
    first = journal.begin([change(new="http://127.0.0.1:1/")])
    second = journal.begin([change(new="http://127.0.0.2:1/")])
    assert (first.id, second.id) == (1, 2)
    assert journal.last_active() == second

    journal.mark_undone(second)

    assert journal.last_active() == first
    journal.mark_undone(first)
    assert journal.last_active() is None
    assert [e.id for e in journal.entries()] == [1, 2]
    assert all(e.undone for e in journal.entries())
    third = journal.begin([change()])
    assert third.id == 3  # ids are never reused


def test_the_journal_is_owner_only_and_leaves_no_temp_files(journal: Journal) -> None:
    journal.begin([change(before=b"//127.0.0.1/:_authToken=secret\n")])
    journal.begin([change()])

    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    assert sorted(p.name for p in journal.path.parent.iterdir()) == [journal.path.name]


def test_describe_redacts_credentials(journal: Journal) -> None:
    entry = journal.begin([change(new="http://dora:hunter2@127.0.0.1:8001/")])

    (line,) = entry.describe()

    assert "hunter2" not in line
    assert "2030-01-02 03:04:05Z  #1  npm registry: (unset) -> http://***@127.0.0.1:8001/" in line
    summary = entry.summary()
    assert "hunter2" not in json.dumps(summary)
    assert summary["changes"][0]["new"] == "http://***@127.0.0.1:8001/"
    assert summary["changes"][0]["existed_before"] is False


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"version": 99, "entries": []}',
        '{"version": 1}',
        '{"version": 1, "entries": [{"id": 1}]}',
        '{"version": 1, "entries": [{"id": 1, "time": "2030-01-01T00:00:00+00:00",'
        ' "undone_at": null, "changes": [{"ecosystem": "go", "key": "GOPROXY",'
        ' "command": [], "previous": null, "new": "x", "config_file": "/x",'
        ' "before": "***not base64***", "after": null, "status": "applied", "error": null}]}]}',
        "[]",
    ],
)
def test_a_corrupt_journal_is_reported_and_kept(journal: Journal, content: str) -> None:
    journal.path.parent.mkdir(parents=True)
    journal.path.write_text(content)

    with pytest.raises(ConfigError) as caught:
        journal.begin([change()])

    assert f"the mirrors journal {journal.path} cannot be read" in caught.value.message
    assert f"mv {journal.path} {journal.path}.broken" in caught.value.fix
    assert caught.value.exit_code == 2
    assert journal.path.read_text() == content


def test_a_written_journal_is_valid_json_with_a_version(journal: Journal) -> None:
    journal.begin([change(before=b"x")])

    data = json.loads(journal.path.read_text())

    assert data["version"] == 1
    assert data["entries"][0]["changes"][0]["existed_before"] is True


def test_config_files_are_read_exactly_and_big_ones_refused(tmp_path: Path) -> None:
    path = tmp_path / "pip.conf"
    assert read_config_bytes(path) is None
    path.write_bytes(b"[global]\r\nindex-url = http://127.0.0.1:1/\n")
    assert read_config_bytes(path) == b"[global]\r\nindex-url = http://127.0.0.1:1/\n"
    path.write_bytes(b"#" * MAX_CONFIG_BYTES)
    assert read_config_bytes(path) == b"#" * MAX_CONFIG_BYTES

    path.write_bytes(b"#" * (MAX_CONFIG_BYTES + 1))
    with pytest.raises(UsageError, match="larger than 1024 KiB") as caught:
        read_config_bytes(path)
    assert str(path) in caught.value.message


def test_a_journal_in_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the state directory should be")
    journal = Journal.in_home(blocker)

    with pytest.raises(ConfigError, match="state"), journal.locked():
        pass
