"""Which hosts a fleet run targets: Ansible inventories, plain hosts files and ``-H`` lists.

``load_inventory`` decides what a source is. A plain hosts file (one ``[user@]host[:port]``
per line, ``#`` comments) is read here without Ansible; anything else that looks like an
Ansible inventory (``[group]`` headers, ``key=value`` vars, YAML, a directory) is read by
ansible-core's own inventory API in :mod:`unstall.fleet.inventory_ansible`, so ranges,
children and variable precedence behave exactly as in Ansible. ``--limit`` uses Ansible's
patterns for Ansible inventories and the same simple patterns (fnmatch, ``,``/``:``
separated, ``!`` to exclude, ``&`` to intersect, ``~`` for a regex) for plain lists.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final

from unstall.errors import ConfigError, UsageError
from unstall.redact import redact

_ENTRY_SYNTAX: Final = "[user@]host[:port] (IPv6 as [::1]:2222)"
_USER: Final = re.compile(r"[A-Za-z0-9._][A-Za-z0-9._-]*\$?")
# Host names and IPv4 addresses; a leading '-' is refused so that no name can ever be
# mistaken for an ssh option by a tool the command line is later shown to.
_HOSTNAME: Final = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?")
_BRACKETED: Final = re.compile(r"\[(?P<address>[^\]]+)\](?::(?P<port>[^:]*))?")
_ANSIBLE_SUFFIXES: Final = frozenset({".yml", ".yaml", ".json", ".toml"})


@dataclass(frozen=True, slots=True)
class Host:
    """One target of a fleet run, as the SSH executor needs it.

    ``vars`` holds every other host and group variable as text. It may hold secrets
    (``ansible_password``, tokens), so it is left out of ``repr`` and of the hash.
    """

    name: str
    address: str
    port: int = 22
    user: str | None = None
    key_file: Path | None = None
    groups: tuple[str, ...] = ()
    vars: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, hash=False
    )


class _EntryError(ValueError):
    """A ``[user@]host[:port]`` entry is malformed; the text says why."""


def parse_host_entry(text: str) -> Host:
    """Parse one ``[user@]host[:port]`` entry; raise ``ValueError`` saying what is wrong."""
    user: str | None = None
    rest = text
    if "@" in text:
        user, _, rest = text.rpartition("@")
        if ":" in user:
            # "user:secret@host": a password has no place in a hosts file.
            raise _EntryError("a password in the entry (use SSH keys or an agent)")
        if not _USER.fullmatch(user):
            raise _EntryError(f"invalid user name {user!r}")
    address, port_text = _split_host_port(rest)
    port = 22
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise _EntryError(f"invalid port {port_text!r} (1-65535)")
        port = int(port_text)
    if port_text is None:
        name = address
    else:
        name = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    return Host(name=name, address=address, port=port, user=user)


def _split_host_port(text: str) -> tuple[str, str | None]:
    """Split ``host[:port]``, ``[v6][:port]`` or a bare IPv6 address."""
    if text.startswith("["):
        match = _BRACKETED.fullmatch(text)
        if match is None or not _is_ipv6(match["address"]):
            raise _EntryError("brackets only enclose an IPv6 address, as in [::1]:2222")
        return match["address"], match["port"]
    if text.count(":") > 1:
        if not _is_ipv6(text):
            raise _EntryError(f"{text!r} is not an IPv6 address (with a port: [::1]:2222)")
        return text, None
    host, colon, port = text.partition(":")
    if not _HOSTNAME.fullmatch(host):
        raise _EntryError(f"invalid host name {host!r}" if host else "no host name")
    return host, (port if colon else None)


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def hosts_from_list(text: str) -> list[Host]:
    """The hosts of a ``-H host1,user@host2:2222`` list, in order."""
    entries = [(i, part.strip()) for i, part in enumerate(text.split(","), 1) if part.strip()]
    hosts: list[Host] = []
    seen: dict[tuple[str, int], int] = {}
    for position, entry in entries:
        where = f"host list entry {position} {redact(entry)!r}"
        try:
            host = parse_host_entry(entry)
        except _EntryError as exc:
            raise UsageError(
                f"{where}: {exc}", fix=f"Write each host as {_ENTRY_SYNTAX}, comma separated."
            ) from exc
        _check_unique(host, position, seen, where, "entry")
        hosts.append(host)
    if not hosts:
        raise UsageError("the host list names no host", fix="Pass -H host1,user@host2:2222.")
    return hosts


def _check_unique(
    host: Host, position: int, seen: dict[tuple[str, int], int], where: str, unit: str
) -> None:
    """Refuse a host listed twice: running an install twice on it is never what was meant."""
    key = (host.address.lower(), host.port)
    if key in seen:
        raise ConfigError(
            f"{where}: {host.name} is already listed ({unit} {seen[key]})",
            fix="Remove the duplicate entry.",
        )
    seen[key] = position


def load_inventory(source: str, *, limit: str | None = None) -> list[Host]:
    """The hosts of ``source`` selected by ``limit``, in inventory order.

    ``source`` is a plain hosts file, an Ansible inventory file or directory, or (as with
    ``ansible -i``) a comma-separated host list. Raises :class:`UsageError` for a missing
    source or a limit that selects nothing, :class:`ConfigError` for unreadable content.
    """
    path = Path(source).expanduser()
    if not path.exists():
        if "," in source:
            return select_hosts(hosts_from_list(source), limit)
        raise UsageError(
            f"inventory {source} does not exist",
            fix="Pass an existing inventory file or directory to -i, or hosts with -H.",
        )
    if path.is_file():
        lines = _read_lines(path)
        plain = _plain_hosts(path, lines)
        if plain is not None:
            return select_hosts(plain, limit, source=source)
    # Imported here: it pulls in ansible-core only when an Ansible inventory is read.
    from unstall.fleet.inventory_ansible import load_ansible_inventory

    return load_ansible_inventory(path, limit=limit)


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read inventory {path}: {exc}", fix="Check the file's permissions and encoding."
        ) from exc


def _plain_hosts(path: Path, lines: Sequence[str]) -> list[Host] | None:
    """The hosts of a plain hosts file, or None when the file is an Ansible inventory."""
    if path.suffix.lower() in _ANSIBLE_SUFFIXES:
        return None
    entries = [
        (number, entry)
        for number, line in enumerate(lines, 1)
        if (entry := _strip_comment(line)) and not (number == 1 and line.startswith("#!"))
    ]
    if (lines and lines[0].startswith("#!")) or any(_ansible_marker(e) for _, e in entries):
        # A script, an INI group header, key=value vars or YAML: Ansible's to read.
        return None
    hosts: list[Host] = []
    seen: dict[tuple[str, int], int] = {}
    for number, entry in entries:
        where = f"{path}, line {number}"
        try:
            host = parse_host_entry(entry)
        except _EntryError as exc:
            raise ConfigError(
                f"{where}: {exc} in {redact(entry)!r}; expected {_ENTRY_SYNTAX}",
                fix=f"Write one {_ENTRY_SYNTAX} per line, or use an Ansible inventory.",
            ) from exc
        _check_unique(host, number, seen, where, "line")
        hosts.append(host)
    if not hosts:
        raise ConfigError(f"inventory {path} lists no host", fix=f"Add one {_ENTRY_SYNTAX} a line.")
    return hosts


def _strip_comment(line: str) -> str:
    text = line.strip()
    if text.startswith("#"):
        return ""
    # "host  # the build box": a comment after whitespace; '#' is never part of a host.
    return re.split(r"\s+#", text, maxsplit=1)[0]


def _ansible_marker(entry: str) -> bool:
    """True for lines only an Ansible inventory has (never a valid or near-valid entry)."""
    if "=" in entry or entry.startswith((";", "---", "- ")):
        return True
    if entry.endswith(":") and "@" not in entry:  # a YAML key such as "all:"
        return True
    if ": " in entry:
        return True
    # "[web]", "[web:children]", "web[01:50]": groups and ranges, but not "[::1]:2222".
    host = entry.rpartition("@")[2]
    return "[" in entry and not (host.startswith("[") and _BRACKETED.fullmatch(host))


def select_hosts(hosts: Sequence[Host], limit: str | None, *, source: str = "-H") -> list[Host]:
    """Filter ``hosts`` with an Ansible-style simple pattern; refuse a limit matching nothing."""
    if limit is None:
        return list(hosts)
    terms = split_limit(limit)
    union = [t for t in terms if not t.startswith(("!", "&"))]
    selected = [h for h in hosts if any(_matches(h, t) for t in union)] if union else list(hosts)
    for term in terms:
        if term.startswith("&"):
            selected = [h for h in selected if _matches(h, term[1:])]
        elif term.startswith("!"):
            selected = [h for h in selected if not _matches(h, term[1:])]
    if not selected:
        raise UsageError(
            f"--limit {limit!r} matches no host in {source}",
            fix="Check the pattern: host names and fnmatch patterns, separated by ',' or ':'.",
        )
    return selected


def split_limit(limit: str) -> list[str]:
    """Split a limit into terms on ',' and on ':' (but not inside an IPv6 address)."""
    terms: list[str] = []
    for part in (p.strip() for p in limit.split(",")):
        if part.startswith(("~", "[")) or part.lstrip("!&").count(":") > 1:
            terms.append(part)
        else:
            terms.extend(t.strip() for t in part.split(":"))
    terms = [t for t in terms if t and t not in {"!", "&"}]
    if not terms:
        raise UsageError(f"--limit {limit!r} holds no pattern", fix="Pass --limit web*,db1.")
    return terms


def _matches(host: Host, pattern: str) -> bool:
    if pattern in {"all", "*"}:
        return True
    candidates: Iterable[str] = (host.name, host.address, *host.groups)
    if pattern.startswith("~"):
        try:
            regex = re.compile(pattern[1:])
        except re.error as exc:
            raise UsageError(
                f"--limit regex {pattern!r} is invalid: {exc}", fix="Fix the regular expression."
            ) from exc
        return any(regex.search(c) for c in candidates)
    return any(fnmatch.fnmatchcase(c, pattern) for c in candidates)


__all__ = [
    "Host",
    "hosts_from_list",
    "load_inventory",
    "parse_host_entry",
    "select_hosts",
    "split_limit",
]
