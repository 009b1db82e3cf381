"""The DNS resolver configuration every module download starts with.

resolv.conf is read here with go's rules (go resolves module hosts itself) rather
than dnspython's: dnspython rejects the whole file for one bad nameserver line and
ignores ``attempts``, while go skips bad lines, uses at most three servers and
clamps the options as done below.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from unstall.doctor.checks.context import CheckContext
from unstall.doctor.model import Check, CheckStatus

MAX_NAMESERVERS: Final = 3  # go and glibc both stop at three
# A lookup that can stall longer than this behind a dead resolver is worth a warning.
STALL_WARN_SECONDS: Final = 30


@dataclass(slots=True)
class ResolvConf:
    """resolv.conf as go reads it (defaults: timeout 5s, 2 attempts, ndots 1)."""

    nameservers: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # unusable or beyond the third
    search: list[str] = field(default_factory=list)
    timeout: int = 5
    attempts: int = 2
    ndots: int = 1


def _number(option: str) -> int:
    digits = ""
    for char in option.split(":", 1)[1]:
        if not char.isdigit():
            break
        digits += char
    return int(digits) if digits else 0


def parse_resolv_conf(text: str) -> ResolvConf:
    """The nameserver, domain/search and options lines of a resolv.conf."""
    conf = ResolvConf()
    for raw in text.splitlines():
        fields = raw.split()
        if not fields or fields[0].startswith(("#", ";")):
            continue
        keyword, args = fields[0], fields[1:]
        if keyword == "nameserver" and args:
            try:
                ipaddress.ip_address(args[0].split("%", 1)[0])
            except ValueError:
                conf.ignored.append(f"{args[0]} (not an IP address)")
                continue
            if len(conf.nameservers) < MAX_NAMESERVERS:
                conf.nameservers.append(args[0])
            else:
                conf.ignored.append(f"{args[0]} (only {MAX_NAMESERVERS} are used)")
        elif keyword == "domain" and args:
            conf.search = [args[0]]
        elif keyword == "search":
            conf.search = [name for name in args if name != "."]
        elif keyword == "options":
            for option in args:
                if option.startswith("ndots:"):
                    conf.ndots = min(max(_number(option), 0), 15)
                elif option.startswith("timeout:"):
                    conf.timeout = max(_number(option), 1)
                elif option.startswith("attempts:"):
                    conf.attempts = max(_number(option), 1)
    return conf


def _is_loopback(server: str) -> bool:
    return ipaddress.ip_address(server.split("%", 1)[0]).is_loopback


def check_resolver(context: CheckContext) -> list[Check]:
    """``dns-nameservers``, ``dns-local-resolver``, ``dns-search`` and ``dns-timeouts``."""
    path = context.resolv_conf
    try:
        conf = parse_resolv_conf(path.read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        conf, missing = ResolvConf(), f"{path} cannot be read ({exc.strerror or exc})"
    else:
        missing = f"{path} names no usable nameserver"
    fix = (
        f"add `nameserver <your DNS server's IP>` to {path}, or repair what writes it "
        "(systemd-resolved, NetworkManager, resolvconf, DHCP)"
    )
    if not conf.nameservers:
        ignored = f" (ignored: {', '.join(conf.ignored)})" if conf.ignored else ""
        return [
            Check(
                "dns-nameservers",
                CheckStatus.FAIL,
                f"{missing}{ignored}: go and libc fall back to 127.0.0.1:53, and without a "
                "local resolver every host name lookup fails",
                fix=fix,
            )
        ]
    found = [_nameservers(conf, path)]
    local = [s for s in conf.nameservers if _is_loopback(s)]
    if local:
        found.append(
            Check(
                "dns-local-resolver",
                CheckStatus.INFO,
                f"{', '.join(local)} is a local stub resolver: the servers it forwards to "
                "are configured elsewhere (e.g. `resolvectl status` for systemd-resolved)",
            )
        )
    if conf.search:
        found.append(_search(conf))
    found.append(_timeouts(conf, path))
    return found


def _nameservers(conf: ResolvConf, path: Path) -> Check:
    text = f"nameservers: {', '.join(conf.nameservers)}"
    if conf.ignored:
        return Check(
            "dns-nameservers",
            CheckStatus.WARN,
            f"{text}; ignored: {', '.join(conf.ignored)}",
            fix=f"keep at most {MAX_NAMESERVERS} valid `nameserver <IP>` lines in {path}",
        )
    return Check("dns-nameservers", CheckStatus.OK, text)


def _search(conf: ResolvConf) -> Check:
    return Check(
        "dns-search",
        CheckStatus.INFO,
        f"search domains: {' '.join(conf.search)} (ndots:{conf.ndots}): a name with fewer "
        f"than {conf.ndots} dots is first tried with each of them appended, "
        f"up to {len(conf.search)} extra lookups",
    )


def _timeouts(conf: ResolvConf, path: Path) -> Check:
    # go's resolver asks every server in turn, once per attempt, waiting `timeout` each.
    servers = len(conf.nameservers)
    stall = conf.timeout * conf.attempts * servers
    text = (
        f"timeout:{conf.timeout} attempts:{conf.attempts} with {servers} "
        f"nameserver{'s' if servers > 1 else ''}: a resolver that does not answer stalls "
        f"each lookup in go for up to {stall}s before it fails"
    )
    if stall > STALL_WARN_SECONDS:
        return Check(
            "dns-timeouts",
            CheckStatus.WARN,
            text,
            fix=f"shorten it in {path}: `options timeout:2 attempts:2`",
        )
    return Check("dns-timeouts", CheckStatus.INFO, text)


__all__ = ["MAX_NAMESERVERS", "ResolvConf", "check_resolver", "parse_resolv_conf"]
