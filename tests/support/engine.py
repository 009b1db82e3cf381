"""Running the real ProxyEngine on loopback from synchronous tests.

The engine runs in its own thread and event loop behind uvicorn on an ephemeral
127.0.0.1 port, exactly as `unstall go` serves it; tests talk to it with plain
HTTP (httpx or the real go) and read the events it published.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unstall.config import Settings, load_settings, merge_layers
from unstall.events import Event, EventBus
from unstall.goproxy.engine import ProxyEngine
from unstall.goproxy.hashes import GoSum
from unstall.goproxy.upstream import UpstreamSpec
from unstall.gotool.runner import serve_on_loopback

# Short deadlines so fault tests finish in seconds; generous enough for a loaded CI box.
FAST: Mapping[str, Any] = {
    "timeouts": {
        "connect": 2.0,
        "tls": 2.0,
        "first_byte": 3.0,
        "stall": 1.5,
        "min_throughput": 0.0,
        "total": 30.0,
        "artifact": 60.0,
    },
    "retry": {"attempts": 4, "backoff_base": 0.05, "backoff_cap": 0.3, "retry_after_cap": 2.0},
    "hedge": {"initial": 0.4, "floor": 0.1, "ceiling": 0.8},
    "breaker": {"failures": 3, "cooldown": 120.0},
}


def fast_settings(tmp: Path, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Settings isolated under ``tmp`` with the FAST deadlines plus ``overrides``."""
    layer = merge_layers(FAST, {"cache_dir": str(tmp / "cache"), **(overrides or {})})
    return load_settings(
        env={"UNSTALL_HOME": str(tmp / "home"), "HOME": str(tmp)},
        cwd=tmp,
        user_config=tmp / "no-user-config.toml",
        overrides=layer,
    )


@dataclass
class EngineHandle:
    """A running engine: its base URL, settings and every event it published."""

    url: str
    settings: Settings
    events: list[Event] = field(default_factory=list)

    @property
    def store(self) -> Path:
        """The engine's cache directory (cache/download layout)."""
        return self.settings.cache_dir

    def of_type(self, kind: type[Any]) -> list[Any]:
        """Events of one type, in order."""
        return [e for e in list(self.events) if isinstance(e, kind)]


@contextlib.contextmanager
def running_engine(
    tmp: Path,
    upstreams: Sequence[str | UpstreamSpec],
    *,
    gosum: GoSum | None = None,
    private: str = "",
    overrides: Mapping[str, Any] | None = None,
) -> Iterator[EngineHandle]:
    """Serve a ProxyEngine over ``upstreams`` (plain URLs fall through on any error)."""
    settings = fast_settings(tmp, overrides)
    specs = [
        u if isinstance(u, UpstreamSpec) else UpstreamSpec(u, fallthrough_on_error=True)
        for u in upstreams
    ]
    bus = EventBus()
    ready = threading.Event()
    box: dict[str, Any] = {}
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        engine = ProxyEngine(settings, specs, bus=bus, gosum=gosum, private=private)
        async with engine, serve_on_loopback(engine.app) as url:
            box["url"] = url
            ready.set()
            await stop.wait()

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # surfaced to the test below
            box["error"] = exc
            ready.set()

    handle_events: list[Event] = []
    bus.subscribe(handle_events.append)
    thread = threading.Thread(target=run, name="engine", daemon=True)
    thread.start()
    if not ready.wait(30) or "error" in box:
        raise RuntimeError(f"engine did not start: {box.get('error')!r}")
    handle = EngineHandle(box["url"], settings, handle_events)
    try:
        yield handle
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()


__all__ = ["FAST", "EngineHandle", "fast_settings", "running_engine"]
