"""AnswerCache: TTL-bound good answers, remembered not-founds, last good answers, LRU bound."""

from __future__ import annotations

import pytest

from tests.support.clock import FakeClock
from unstall.errors import NotFound
from unstall.goproxy.answers import AnswerCache, ByteBoundedLru

TTL = 60.0
NEGATIVE_TTL = 30.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _cache(
    clock: FakeClock, *, negative_ttl: float = NEGATIVE_TTL, max_entries: int = 100
) -> AnswerCache[str]:
    return AnswerCache[str](
        ttl=TTL, negative_ttl=negative_ttl, max_entries=max_entries, clock=clock
    )


def test_unknown_key_has_no_answer(clock: FakeClock) -> None:
    cache = _cache(clock)
    assert cache.fresh("mod/@v/list") is None
    assert cache.last_good("mod/@v/list") is None
    assert len(cache) == 0


def test_good_answer_is_fresh_within_ttl_and_expires_after(clock: FakeClock) -> None:
    cache = _cache(clock)
    cache.remember("mod/@v/list", "v1.0.0\nv1.1.0\n")
    clock.advance(TTL - 0.5)
    assert cache.fresh("mod/@v/list") == "v1.0.0\nv1.1.0\n"
    clock.advance(0.5)
    assert cache.fresh("mod/@v/list") is None
    # Still there as a last resort for stale-if-error.
    assert cache.last_good("mod/@v/list") == "v1.0.0\nv1.1.0\n"


def test_remember_again_restarts_the_ttl_with_the_new_value(clock: FakeClock) -> None:
    cache = _cache(clock)
    cache.remember("k", "old")
    clock.advance(TTL - 1)
    cache.remember("k", "new")
    clock.advance(TTL - 1)
    assert cache.fresh("k") == "new"
    assert len(cache) == 1


def test_not_found_is_remembered_for_negative_ttl(clock: FakeClock) -> None:
    cache = _cache(clock)
    missing = NotFound("mod@v9.9.9: not found", status=410)
    cache.remember_missing("mod/@v/v9.9.9.info", missing)
    clock.advance(NEGATIVE_TTL - 0.5)
    assert cache.fresh("mod/@v/v9.9.9.info") is missing
    clock.advance(0.5)
    assert cache.fresh("mod/@v/v9.9.9.info") is None
    assert cache.last_good("mod/@v/v9.9.9.info") is None


def test_negative_ttl_zero_remembers_nothing(clock: FakeClock) -> None:
    cache = _cache(clock, negative_ttl=0)
    assert cache.negative_ttl == 0
    cache.remember_missing("k", NotFound("gone"))
    assert cache.fresh("k") is None
    assert len(cache) == 0


def test_negative_ttl_zero_keeps_an_earlier_good_answer_fresh(clock: FakeClock) -> None:
    cache = _cache(clock, negative_ttl=0)
    cache.remember("k", "good")
    cache.remember_missing("k", NotFound("gone"))
    assert cache.fresh("k") == "good"


def test_last_good_survives_a_later_not_found_and_its_expiry(clock: FakeClock) -> None:
    cache = _cache(clock)
    cache.remember("mod/@latest", '{"Version":"v1.0.0"}')
    clock.advance(5)
    missing = NotFound("mod: not found")
    cache.remember_missing("mod/@latest", missing)
    assert cache.fresh("mod/@latest") is missing
    assert cache.last_good("mod/@latest") == '{"Version":"v1.0.0"}'
    clock.advance(max(TTL, NEGATIVE_TTL) * 10)
    assert cache.fresh("mod/@latest") is None
    assert cache.last_good("mod/@latest") == '{"Version":"v1.0.0"}'


def test_a_good_answer_replaces_a_remembered_not_found(clock: FakeClock) -> None:
    cache = _cache(clock)
    cache.remember_missing("k", NotFound("gone"))
    cache.remember("k", "back")
    assert cache.fresh("k") == "back"
    # A good answer has the longer TTL, not the negative one.
    clock.advance(NEGATIVE_TTL + 1)
    assert cache.fresh("k") == "back"


def test_lru_bound_drops_the_oldest_entry(clock: FakeClock) -> None:
    cache = _cache(clock, max_entries=3)
    for key in ("a", "b", "c", "d"):
        cache.remember(key, key.upper())
    assert len(cache) == 3
    assert cache.last_good("a") is None
    assert [cache.fresh(k) for k in ("b", "c", "d")] == ["B", "C", "D"]


def test_lru_bound_keeps_a_recently_reput_key(clock: FakeClock) -> None:
    cache = _cache(clock, max_entries=3)
    cache.remember("a", "A")
    cache.remember("b", "B")
    cache.remember("c", "C")
    cache.remember("a", "A2")  # now the most recently used
    cache.remember("d", "D")
    assert len(cache) == 3
    assert cache.last_good("b") is None
    assert cache.fresh("a") == "A2"
    assert cache.fresh("c") == "C"
    assert cache.fresh("d") == "D"


def test_not_found_entries_count_toward_the_bound(clock: FakeClock) -> None:
    cache = _cache(clock, max_entries=2)
    cache.remember("good", "G")
    for n in range(5):
        cache.remember_missing(f"random/{n}", NotFound("nope"))
    assert len(cache) == 2
    assert cache.last_good("good") is None
    assert isinstance(cache.fresh("random/4"), NotFound)
    assert isinstance(cache.fresh("random/3"), NotFound)
    assert cache.fresh("random/2") is None


def test_byte_bounded_lru_drops_the_least_recently_used_over_its_budget() -> None:
    lru: ByteBoundedLru[str, bytes] = ByteBoundedLru(100)
    lru.put("a", b"a" * 40, 40)
    lru.put("b", b"b" * 40, 40)
    assert lru.get("a") == b"a" * 40  # "a" is now the most recently used
    lru.put("c", b"c" * 40, 40)  # 120 > 100: "b" goes
    assert lru.get("b") is None
    assert lru.get("a") is not None
    assert lru.get("c") is not None
    assert lru.used == 80
    assert len(lru) == 2


def test_byte_bounded_lru_replaces_and_refuses_what_cannot_fit() -> None:
    lru: ByteBoundedLru[str, str] = ByteBoundedLru(100)
    lru.put("a", "first", 30)
    lru.put("a", "second", 50)  # replacing counts the new size only
    assert lru.get("a") == "second"
    assert lru.used == 50
    lru.put("huge", "x", 101)  # larger than the whole budget: not kept, nothing evicted
    assert lru.get("huge") is None
    assert lru.get("a") == "second"
