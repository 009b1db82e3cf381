"""ZipQuota: LRU eviction of stored zips under a byte quota, with recency kept in atime."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.clock import FakeClock
from unstall.goproxy.quota import IN_USE_SECONDS, ZipQuota

START = 1_700_000_000.0  # a fixed wall-clock time: the quota compares it with atimes
SIZE = 100


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "store"
    path.mkdir()
    return path


def _zip(root: Path, module: str, version: str, *, atime: float, size: int = SIZE) -> Path:
    """A stored zip (with its .ziphash, .info and .mod) whose last use is ``atime``."""
    folder = root / module / "@v"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{version}.zip"
    path.write_bytes(b"z" * size)
    (folder / f"{version}.ziphash").write_text("h1:fake=\n")
    (folder / f"{version}.info").write_text(json.dumps({"Version": version}))
    (folder / f"{version}.mod").write_text(f"module {module}\n")
    os.utime(path, (atime, START - 10_000))
    return path


class Evictions:
    def __init__(self) -> None:
        self.calls: list[tuple[Path, int]] = []
        self.remaining: list[int] = []

    def __call__(self, path: Path, size: int, remaining: int) -> None:
        self.calls.append((path, size))
        self.remaining.append(remaining)


def test_scan_counts_nested_zips_only(root: Path, clock: FakeClock) -> None:
    a = _zip(root, "example.test/a", "v1.0.0", atime=START - 100, size=10)
    b = _zip(root, "example.test/deep/nested/b", "v2.0.0", atime=START - 100, size=20)
    incoming = root / ".incoming"
    incoming.mkdir()
    (incoming / "partial.zip").write_bytes(b"p" * 1000)
    quota = ZipQuota(root, 10_000, clock=clock)
    assert len(quota) == 2
    assert quota.used == 30
    assert a.exists()
    assert b.exists()


def test_empty_tree(root: Path, clock: FakeClock) -> None:
    quota = ZipQuota(root, 1, clock=clock)
    assert len(quota) == 0
    assert quota.used == 0


def test_start_up_evicts_by_atime_oldest_first(root: Path, clock: FakeClock) -> None:
    newest = _zip(root, "example.test/a", "v1.0.0", atime=START - 1000)
    oldest = _zip(root, "example.test/b", "v1.0.0", atime=START - 3000)
    middle = _zip(root, "example.test/c", "v1.0.0", atime=START - 2000)
    evictions = Evictions()
    quota = ZipQuota(root, 2 * SIZE, clock=clock, on_evict=evictions)
    assert evictions.calls == [(oldest, SIZE)]
    assert not oldest.exists()
    assert not oldest.with_suffix(".ziphash").exists()
    # .info and .mod stay: lists and offline answers remain complete.
    assert oldest.with_suffix(".info").exists()
    assert oldest.with_suffix(".mod").exists()
    assert newest.exists()
    assert middle.exists()
    assert middle.with_suffix(".ziphash").exists()
    assert quota.used == 2 * SIZE
    assert len(quota) == 2


def test_start_up_evicts_as_many_as_needed(root: Path, clock: FakeClock) -> None:
    zips = [
        _zip(root, f"example.test/m{n}", "v1.0.0", atime=START - 1000 * (n + 1)) for n in range(4)
    ]
    evictions = Evictions()
    quota = ZipQuota(root, SIZE + SIZE // 2, clock=clock, on_evict=evictions)
    # m3 is oldest, then m2, then m1; m0 alone fits.
    assert evictions.calls == [(zips[3], SIZE), (zips[2], SIZE), (zips[1], SIZE)]
    assert [z.exists() for z in zips] == [True, False, False, False]
    assert quota.used == SIZE
    assert evictions.remaining == [3 * SIZE, 2 * SIZE, SIZE]


def test_touch_makes_a_zip_most_recently_used(root: Path, clock: FakeClock) -> None:
    oldest = _zip(root, "example.test/a", "v1.0.0", atime=START - 3000)
    second = _zip(root, "example.test/b", "v1.0.0", atime=START - 2000)
    evictions = Evictions()
    quota = ZipQuota(root, 2 * SIZE, clock=clock, on_evict=evictions)
    quota.touch(oldest)
    clock.advance(IN_USE_SECONDS + 1)
    new = _zip(root, "example.test/c", "v1.0.0", atime=START)
    quota.added(new)
    assert evictions.calls == [(second, SIZE)]
    assert oldest.exists()
    assert new.exists()
    assert quota.used == 2 * SIZE


def test_added_zips_are_evicted_in_the_order_they_were_added(root: Path, clock: FakeClock) -> None:
    evictions = Evictions()
    quota = ZipQuota(root, 2 * SIZE, clock=clock, on_evict=evictions)
    first = _zip(root, "example.test/a", "v1.0.0", atime=START)
    quota.added(first)
    clock.advance(20)
    second = _zip(root, "example.test/b", "v1.0.0", atime=START)
    quota.added(second)
    clock.advance(20)
    third = _zip(root, "example.test/c", "v1.0.0", atime=START)
    quota.added(third)
    assert evictions.calls == [(first, SIZE)]
    assert quota.used == 2 * SIZE
    clock.advance(20)
    quota.touch(second)
    clock.advance(20)
    fourth = _zip(root, "example.test/d", "v1.0.0", atime=START)
    quota.added(fourth)
    assert evictions.calls == [(first, SIZE), (third, SIZE)]
    assert second.exists()
    assert fourth.exists()
    assert len(quota) == 2


def test_zip_in_use_is_never_evicted(root: Path, clock: FakeClock) -> None:
    evictions = Evictions()
    quota = ZipQuota(root, SIZE, clock=clock, on_evict=evictions)
    first = _zip(root, "example.test/a", "v1.0.0", atime=START)
    quota.added(first)
    clock.advance(IN_USE_SECONDS - 1)
    second = _zip(root, "example.test/b", "v1.0.0", atime=START)
    quota.added(second)
    # Both were used within IN_USE_SECONDS: the quota stays exceeded for now.
    assert evictions.calls == []
    assert first.exists()
    assert second.exists()
    assert quota.used == 2 * SIZE
    clock.advance(2)  # first is now out of use, second is not
    quota.evict()
    assert evictions.calls == [(first, SIZE)]
    assert not first.exists()
    assert second.exists()
    assert quota.used == SIZE


def test_old_zips_go_even_while_a_newer_one_is_in_use(root: Path, clock: FakeClock) -> None:
    old = _zip(root, "example.test/a", "v1.0.0", atime=START - 3600)
    evictions = Evictions()
    quota = ZipQuota(root, SIZE, clock=clock, on_evict=evictions)
    assert evictions.calls == []
    fresh = _zip(root, "example.test/b", "v1.0.0", atime=START)
    quota.added(fresh)
    assert evictions.calls == [(old, SIZE)]
    assert fresh.exists()


def test_added_twice_counts_once(root: Path, clock: FakeClock) -> None:
    quota = ZipQuota(root, 10 * SIZE, clock=clock)
    path = _zip(root, "example.test/a", "v1.0.0", atime=START)
    quota.added(path)
    quota.added(path)
    quota.touch(path)
    assert quota.used == SIZE
    assert len(quota) == 1


def test_added_a_missing_file_is_ignored(root: Path, clock: FakeClock) -> None:
    quota = ZipQuota(root, 10 * SIZE, clock=clock)
    quota.added(root / "example.test" / "gone" / "@v" / "v1.0.0.zip")
    quota.touch(root / "example.test" / "gone" / "@v" / "v2.0.0.zip")
    assert quota.used == 0
    assert len(quota) == 0


def test_touch_of_an_untracked_zip_adds_it(root: Path, clock: FakeClock) -> None:
    quota = ZipQuota(root, 10 * SIZE, clock=clock)
    path = _zip(root, "example.test/a", "v1.0.0", atime=START, size=42)
    quota.touch(path)
    assert quota.used == 42
    assert len(quota) == 1


def test_touch_writes_atime_when_the_last_use_is_a_minute_old(root: Path, clock: FakeClock) -> None:
    path = _zip(root, "example.test/a", "v1.0.0", atime=START - 60)
    mtime = path.stat().st_mtime
    quota = ZipQuota(root, 10 * SIZE, clock=clock)
    quota.touch(path)
    assert path.stat().st_atime == START
    assert path.stat().st_mtime == mtime


def test_touch_skips_the_atime_write_within_a_minute(root: Path, clock: FakeClock) -> None:
    path = _zip(root, "example.test/a", "v1.0.0", atime=START - 30)
    quota = ZipQuota(root, 10 * SIZE, clock=clock)
    quota.touch(path)
    assert path.stat().st_atime == START - 30


def test_recency_from_touch_survives_a_restart(root: Path, clock: FakeClock) -> None:
    a = _zip(root, "example.test/a", "v1.0.0", atime=START - 500)
    b = _zip(root, "example.test/b", "v1.0.0", atime=START - 400)
    ZipQuota(root, 10 * SIZE, clock=clock).touch(a)  # a becomes newer than b on disk too
    clock.advance(100)
    evictions = Evictions()
    restarted = ZipQuota(root, SIZE, clock=clock, on_evict=evictions)
    assert evictions.calls == [(b, SIZE)]
    assert a.exists()
    assert restarted.used == SIZE


def test_used_follows_sizes_through_adds_and_evictions(root: Path, clock: FakeClock) -> None:
    evictions = Evictions()
    quota = ZipQuota(root, 250, clock=clock, on_evict=evictions)
    sizes = [120, 80, 50, 200]
    paths = []
    for n, size in enumerate(sizes):
        path = _zip(root, f"example.test/m{n}", "v1.0.0", atime=START, size=size)
        quota.added(path)
        paths.append(path)
        clock.advance(IN_USE_SECONDS + 1)
    # 120+80+50 = 250 fits; adding 200 evicts 120 then 80 (250+200-120-80 = 250).
    assert evictions.calls == [(paths[0], 120), (paths[1], 80)]
    assert quota.used == 250
    assert quota.used == sum(p.stat().st_size for p in paths if p.exists())
    assert len(quota) == 2
