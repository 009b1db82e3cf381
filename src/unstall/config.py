"""Layered, validated, frozen settings: the only reader of unstall's files and variables.

Precedence, lowest first: built-in defaults < ``~/.config/unstall/config.toml`` <
``./unstall.toml`` < ``UNSTALL_*`` variables < command-line flags. Nested keys use
a double underscore in variables (``UNSTALL_TIMEOUTS__CONNECT=3``) and tables in TOML
(``[timeouts] connect = 3``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from unstall.errors import ConfigError

ENV_PREFIX = "UNSTALL_"
# Variables read elsewhere: the home (paths), debugging, and serve's secret token.
_NOT_SETTINGS = frozenset({"UNSTALL_HOME", "UNSTALL_DEBUG", "UNSTALL_TOKEN"})


_OFF = frozenset({"off", "none", "false", "no"})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TimeoutSettings(_Frozen):
    """Per-phase deadlines of one attempt, in seconds (see docs/architecture.md for why)."""

    connect: float = Field(5.0, gt=0, description="TCP connect, including DNS")
    tls: float = Field(5.0, gt=0, description="TLS handshake")
    first_byte: float = Field(20.0, gt=0, description="request sent -> response headers")
    stall: float = Field(15.0, gt=0, description="longest gap between two body chunks")
    min_throughput: float = Field(
        2048.0, ge=0, description="bytes/s averaged over throughput_window; 0 disables"
    )
    throughput_window: float = Field(10.0, gt=0, description="window for min_throughput")
    total: float = Field(300.0, gt=0, description="one attempt, start to last byte")
    artifact: float = Field(600.0, gt=0, description="one artifact over all attempts")


class RetrySettings(_Frozen):
    """Full-jitter exponential backoff and the retry budget that caps it."""

    attempts: int = Field(4, ge=1, le=20, description="attempts per upstream per artifact")
    backoff_base: float = Field(0.2, gt=0)
    backoff_cap: float = Field(5.0, gt=0)
    retry_after_cap: float = Field(30.0, ge=0, description="longest Retry-After honoured")
    budget_ratio: float = Field(0.2, ge=0, le=1, description="retries per request, long run")
    budget_min: int = Field(10, ge=0, description="retries always allowed per upstream")


class HedgeSettings(_Frozen):
    """When to start the same request on the next upstream."""

    enabled: bool = True
    floor: float = Field(0.25, ge=0, description="shortest hedge delay")
    ceiling: float = Field(3.0, gt=0, description="longest hedge delay")
    initial: float = Field(0.25, gt=0, description="delay before an upstream has samples")


class BreakerSettings(_Frozen):
    """The assumed-offline breaker per upstream."""

    failures: int = Field(3, ge=1, description="consecutive failures that open it")
    cooldown: float = Field(30.0, gt=0, description="seconds an open upstream is skipped")


_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(?:([kmgt])(i)?b?|b)?\s*$", re.IGNORECASE)
_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(text: str) -> int:
    """Bytes from ``"500MiB"``, ``"20GB"``, ``"1.5g"``, ``"300b"`` or ``"1048576"``."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"not a size: {text!r} (write e.g. 500MiB, 20GB or a number of bytes)")
    number, prefix, binary = match.groups()
    scale = 1 if prefix is None else (1024 if binary else 1000) ** _POWERS[prefix.lower()]
    # Decimal: "2.01k" is 2010 bytes, where binary floats would give 2009.
    return int(Decimal(number) * scale)


class CacheSettings(_Frozen):
    """How long answers that can change are trusted, and how big the store may grow."""

    list_ttl: float = Field(
        60.0, ge=0, description="seconds an upstream's @v/list or @latest is reused"
    )
    negative_ttl: float = Field(
        30.0, ge=0, description="seconds a 404/410 from every upstream is remembered"
    )
    max_size: int | None = Field(
        None, gt=0, description="bytes of zips kept (or 500MiB, 20GB...); LRU evicted"
    )

    @field_validator("max_size", mode="before")
    @classmethod
    def _size_with_unit(cls, value: object) -> object:
        return parse_size(value) if isinstance(value, str) else value


class ProbeSettings(_Frozen):
    """Active health checks of upstreams by ``unstall serve`` (``samples = 0`` disables)."""

    samples: int = Field(5, ge=0, le=50, description="probes per upstream before listening")
    timeout: float = Field(2.0, gt=0, description="seconds a probe waits for an answer")
    interval: float = Field(30.0, gt=0, description="seconds between probes while serving")


class RankSettings(_Frozen):
    """What `unstall mirrors rank` measures besides the current sources."""

    catalogue: bool = Field(True, description="also rank the shipped public mirrors")
    sample_go: str | None = Field(None, description="module to fetch (default: catalogue's)")
    sample_pip: str | None = Field(None, description="pip project to fetch a wheel of")
    sample_npm: str | None = Field(None, description="npm package to fetch the tarball of")


class CheckTimeouts(_Frozen):
    """Timeouts `unstall check --fix` writes, as Go expressions (a DSN takes a duration)."""

    http_client: str = Field("30 * time.Second", description="http.Client Timeout")
    http_server_read_header: str = Field(
        "10 * time.Second", description="http.Server ReadHeaderTimeout"
    )
    net_dial: str = Field("10 * time.Second", description="net.DialTimeout / net.Dialer")
    sql_dsn: str = Field("10s", description="MySQL DSN timeout= and PostgreSQL connect_timeout")
    grpc_dial: str = Field("10 * time.Second", description="context.WithTimeout for dialing")
    grpc_call: str = Field("10 * time.Second", description="context.WithTimeout per call")


class CheckSettings(_Frozen):
    """`unstall check` (``[check]``, ``[check.timeouts]`` in unstall.toml)."""

    timeouts: CheckTimeouts = CheckTimeouts()


class HistorySettings(_Frozen):
    """The history database (``[history]``): whether commands record, and how long."""

    enabled: bool = Field(True, description="record runs; false leaves the database alone")
    keep_days: float = Field(
        90.0, gt=0, description="default retention: older rows are pruned automatically"
    )
    max_attempts: int = Field(
        5_000_000, ge=1000, description="cap on attempt rows: the oldest go first"
    )


class AlertTarget(_Frozen):
    """One webhook (``[[alerts.targets]]``); the URL is a secret and never printed."""

    kind: Literal["slack", "wecom", "json"] = Field(
        description="Slack incoming webhook, WeCom group robot, or generic JSON POST"
    )
    url: SecretStr = Field(description="the webhook URL (redacted everywhere)")
    name: str = Field("", description="how outputs name this target (default: its kind)")


class AlertSettings(_Frozen):
    """When to alert and where (``[alerts]``); each error group alerts once per cooldown."""

    targets: tuple[AlertTarget, ...] = ()
    failure_rate: float | None = Field(
        0.2, ge=0, le=1, description="share of failed attempts over window; none disables"
    )
    window: float = Field(3600.0, gt=0, description="seconds the failure rate is taken over")
    min_attempts: int = Field(20, ge=1, description="fewer attempts in the window never alert")
    new_group: bool = Field(True, description="alert on an error group never seen before")
    fleet_failure_percent: float | None = Field(
        10.0, ge=0, le=100, description="alert when a fleet run's failed share exceeds it"
    )
    cooldown: float = Field(3600.0, ge=0, description="seconds before the same alert repeats")
    timeout: float = Field(10.0, gt=0, description="seconds one webhook delivery may take")
    interval: float = Field(
        60.0, gt=0, description="unstall serve: seconds between two evaluations"
    )

    @field_validator("failure_rate", "fleet_failure_percent", mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:
        # TOML has no null: `failure_rate = false` or "off" turns a threshold off.
        if value is False or (isinstance(value, str) and value.strip().lower() in _OFF):
            return None
        return value


class Settings(_Frozen):
    """Everything configurable, validated once and passed to constructors."""

    home: Path = Field(description="history and state ($UNSTALL_HOME)")
    cache_dir: Path = Field(description="verified artifacts in cache/download layout")
    mirrors: tuple[str, ...] = Field((), description="extra upstream proxies after GOPROXY's")
    concurrency: int = Field(
        8, ge=1, le=256, description="requests in flight per upstream (serve: 32 unless set)"
    )
    timeouts: TimeoutSettings = TimeoutSettings()
    retry: RetrySettings = RetrySettings()
    hedge: HedgeSettings = HedgeSettings()
    breaker: BreakerSettings = BreakerSettings()
    cache: CacheSettings = CacheSettings()
    probe: ProbeSettings = ProbeSettings()
    rank: RankSettings = RankSettings()
    check: CheckSettings = CheckSettings()
    history: HistorySettings = HistorySettings()
    alerts: AlertSettings = AlertSettings()

    @model_validator(mode="after")
    def _hedge_bounds(self) -> Settings:
        if self.hedge.floor > self.hedge.ceiling:
            raise ValueError("hedge.floor must not exceed hedge.ceiling")
        return self

    @property
    def history_path(self) -> Path:
        """The SQLite history database."""
        return self.home / "history.sqlite3"


def _xdg(env: Mapping[str, str], name: str, fallback: str) -> Path:
    value = env.get(name)
    return Path(value) if value else Path(env.get("HOME", str(Path.home()))) / fallback


def default_paths(env: Mapping[str, str]) -> dict[str, Any]:
    """Home and cache directories from UNSTALL_HOME or the XDG base directories."""
    home = env.get("UNSTALL_HOME")
    if home:
        return {"home": Path(home), "cache_dir": Path(home) / "cache"}
    return {
        "home": _xdg(env, "XDG_STATE_HOME", ".local/state") / "unstall",
        "cache_dir": _xdg(env, "XDG_CACHE_HOME", ".cache") / "unstall",
    }


def merge_layers(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``, merging nested tables key by key."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = merge_layers(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", fix=f"Fix or remove {path}.") from exc


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in _NOT_SETTINGS:
            continue
        keys = name[len(ENV_PREFIX) :].lower().split("__")
        node = layer
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = tuple(v for v in value.split(",") if v) if keys == ["mirrors"] else value
    return layer


def load_settings(
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user_config: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build :class:`Settings` from every layer; raise :class:`ConfigError` naming the bad key."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    if user_config is None:
        user_config = _xdg(env, "XDG_CONFIG_HOME", ".config") / "unstall" / "config.toml"
    data: dict[str, Any] = default_paths(env)
    for layer in (
        _read_toml(user_config),
        _read_toml(cwd / "unstall.toml"),
        _from_env(env),
        dict(overrides or {}),
    ):
        data = merge_layers(data, layer)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from exc


__all__ = [
    "AlertSettings",
    "AlertTarget",
    "BreakerSettings",
    "CacheSettings",
    "HedgeSettings",
    "HistorySettings",
    "ProbeSettings",
    "RetrySettings",
    "Settings",
    "TimeoutSettings",
    "default_paths",
    "load_settings",
    "merge_layers",
    "parse_size",
]
