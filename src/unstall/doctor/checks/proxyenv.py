"""Proxy variables: what is set, case conflicts, and URLs tools will misread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from unstall.doctor.checks.context import CheckContext
from unstall.doctor.model import Check, CheckStatus
from unstall.redact import redact

PROXY_VARS: Final = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
# Variables go reads (net/http: HTTP_PROXY, HTTPS_PROXY, NO_PROXY, upper case first);
# ALL_PROXY is read by curl (so git) and Python, never by go.
_GO_READS: Final = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
_SCHEMES: Final = {
    "HTTP_PROXY": ("http", "https", "socks5", "socks5h"),  # what go's net/http accepts
    "HTTPS_PROXY": ("http", "https", "socks5", "socks5h"),
    "ALL_PROXY": ("http", "https", "socks4", "socks4a", "socks5", "socks5h"),  # curl's
}


@dataclass(frozen=True, slots=True)
class ProxySetting:
    """One value of a proxy variable pair, under the name(s) it is set as."""

    upper: str  # the pair's upper-case name, which names its checks
    names: tuple[str, ...]
    value: str


def show_proxy(value: str) -> str:
    """A proxy value safe to print: credentials hidden, with or without a scheme."""
    if "://" not in value and "@" in value:
        value = "***@" + value.rsplit("@", 1)[1]
    return redact(value)


def proxy_settings(context: CheckContext, upper: str) -> list[ProxySetting]:
    """The distinct non-empty values of ``upper`` and its lower-case twin."""
    values: dict[str, list[str]] = {}
    for name in (upper, upper.lower()):
        value = context.environ.get(name, "").strip()
        if value:
            values.setdefault(value, []).append(name)
    return [ProxySetting(upper, tuple(names), value) for value, names in values.items()]


def _check_id(prefix: str, upper: str) -> str:
    return f"{prefix}-{upper.lower().replace('_', '-')}"


def check_proxy_env(context: CheckContext) -> list[Check]:
    """``proxy-env`` (what is set), ``proxy-case-*`` conflicts and ``proxy-url-*`` problems."""
    found: list[Check] = []
    shown: list[str] = []
    for upper in PROXY_VARS:
        settings = proxy_settings(context, upper)
        shown += [f"{'/'.join(s.names)}={show_proxy(s.value)}" for s in settings]
        if len(settings) > 1:
            found.append(_case_conflict(upper, settings))
        if upper != "NO_PROXY":
            found += [c for c in map(_url_problem, settings) if c is not None]
    if proxy_settings(context, "ALL_PROXY") and not proxy_settings(context, "HTTPS_PROXY"):
        found.append(
            Check(
                "proxy-all-only",
                CheckStatus.WARN,
                "only ALL_PROXY is set: go does not read it, so go's module downloads "
                "bypass this proxy (and stall where only the proxy gets out)",
                fix='export HTTPS_PROXY="${ALL_PROXY:-$all_proxy}"',
            )
        )
    if shown:
        found.insert(0, Check("proxy-env", CheckStatus.INFO, "; ".join(shown)))
    else:
        found.insert(0, Check("proxy-env", CheckStatus.OK, "no proxy variables are set"))
    return found


def _case_conflict(upper: str, settings: list[ProxySetting]) -> Check:
    lower = upper.lower()
    go_part = f"go reads {upper} first, " if upper in _GO_READS else ""
    values = " and ".join(f"{s.names[0]}={show_proxy(s.value)}" for s in settings)
    return Check(
        _check_id("proxy-case", upper),
        CheckStatus.WARN,
        f"{values} differ: programs differ in which one they read ({go_part}Python's "
        f"urllib and pip prefer {lower}), so they use different proxies",
        fix=f'export {lower}="${upper}" (or unset {lower}) so both name the same proxy',
    )


def _url_problem(setting: ProxySetting) -> Check | None:
    name = setting.names[0]
    value = setting.value
    check_id = _check_id("proxy-url", setting.upper)
    shown = show_proxy(value)
    if "://" not in value:
        return Check(
            check_id,
            CheckStatus.WARN,
            f"{name}={shown} has no scheme: go and curl assume http://, other programs may "
            "guess differently or reject it",
            fix=f'export {name}="http://${name}"',
        )
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # not a number, or outside 0-65535
        port = 0
    if port == 0 or parts.hostname is None:
        what = "an unparsable port" if parts.hostname else "no host"
        return Check(
            check_id,
            CheckStatus.FAIL,
            f"{name}={shown} has {what}: no program can connect to this proxy",
            fix=f"export {name}={scheme}://<proxy host>:<port number 1-65535>",
        )
    supported = _SCHEMES[setting.upper]
    if scheme not in supported:
        reader = "go" if setting.upper in _GO_READS else "curl"
        return Check(
            check_id,
            CheckStatus.WARN,
            f"{name}={shown}: {reader} cannot use a {scheme}:// proxy (it supports "
            f"{', '.join(supported)})",
            fix=f"export {name}=http://<proxy host>:<port> (an HTTP proxy)",
        )
    return None


__all__ = ["PROXY_VARS", "ProxySetting", "check_proxy_env", "proxy_settings", "show_proxy"]
