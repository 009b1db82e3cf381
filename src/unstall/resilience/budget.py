"""A retry budget per upstream: retries may add at most ``ratio`` load on top of requests.

A token bucket: every first attempt deposits ``ratio`` tokens (the bucket holds at
most ``floor`` + what was deposited recently), every retry withdraws one. A dead
upstream therefore sees at most ``1 + ratio`` times the requests it would see
without retries, once the initial ``floor`` tokens are spent (SRE book, Envoy).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class RetryBudget:
    """Token bucket of retries; ``floor`` tokens are there from the start."""

    ratio: float = 0.2
    floor: int = 10
    _tokens: float = field(init=False)
    requests: int = field(init=False, default=0)
    retries: int = field(init=False, default=0)
    refused: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._tokens = float(self.floor)

    def record_request(self) -> None:
        """A first attempt was made: earn ``ratio`` of a retry."""
        self.requests += 1
        self._tokens = min(self._tokens + self.ratio, self.floor + self.ratio * 100)

    def try_spend(self) -> bool:
        """Take one retry if the budget allows it."""
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            self.retries += 1
            return True
        self.refused += 1
        return False


__all__ = ["RetryBudget"]
