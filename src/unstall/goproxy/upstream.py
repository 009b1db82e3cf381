"""Upstream module proxies: URL and list semantics, health, budget, and what is asked of them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

import httpx

from unstall.config import Settings
from unstall.events import BreakerChanged, EventBus
from unstall.goproxy.paths import Artifact
from unstall.resilience.budget import RetryBudget
from unstall.resilience.health import UpstreamHealth

T = TypeVar("T")

# Failures that say "nobody is answering there": only these open the breaker.
OFFLINE_CAUSES: Final = frozenset(
    {
        "dns-nxdomain",
        "dns-timeout",
        "dns-error",
        "tcp-refused",
        "tcp-timeout",
        "tls-timeout",
        "tls-error",
        "proxy-refused",
        "proxy-timeout",
        "http-timeout",
    }
)


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    """A proxy base URL and whether any error (``|``) or only 404/410 (``,``) falls through."""

    url: str
    fallthrough_on_error: bool = False

    @property
    def name(self) -> str:
        """The URL without credentials, for display and history."""
        parsed = httpx.URL(self.url)
        return str(parsed.copy_with(username=None, password=None)).rstrip("/")


@dataclass(frozen=True, slots=True)
class Resource:
    """What to fetch: a path below each upstream's base URL, for one artifact (or sumdb)."""

    key: str
    path: str
    artifact: Artifact | None = None

    @property
    def module(self) -> str:
        return self.artifact.module if self.artifact else ""

    @property
    def version(self) -> str:
        return self.artifact.version if self.artifact else ""

    @property
    def kind(self) -> str:
        return self.artifact.kind.value if self.artifact else "sumdb"


@dataclass(slots=True)
class Fetched(Generic[T]):
    """A verified result and how it was obtained."""

    value: T
    upstream: str
    attempts: int
    hedges: int
    received: int
    won_by: str = "first"


class Upstream:
    """One upstream proxy: its client, bounded concurrency, retry budget and health."""

    def __init__(
        self,
        spec: UpstreamSpec,
        *,
        client: httpx.AsyncClient,
        settings: Settings,
        bus: EventBus,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.base = spec.url.rstrip("/")
        self.client = client
        self.semaphore = asyncio.Semaphore(settings.concurrency)
        self.budget = RetryBudget(settings.retry.budget_ratio, settings.retry.budget_min)
        self.health = UpstreamHealth(
            spec.name,
            settings.breaker,
            on_change=lambda name, state: bus.publish(BreakerChanged(name, state.value)),
        )


__all__ = ["OFFLINE_CAUSES", "Fetched", "Resource", "Upstream", "UpstreamSpec"]
