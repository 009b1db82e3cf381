"""Required modules whose host looks private but that go would ask public services for."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from unstall.doctor.checks.context import CheckContext, env_fix
from unstall.doctor.model import Check, CheckStatus
from unstall.gotool.env import match_prefix_patterns, private_patterns
from unstall.redact import redact

_PRIVATE_SUFFIXES: Final = (
    ".local",
    ".internal",
    ".corp",
    ".lan",
    ".intranet",
    ".home.arpa",
    ".localdomain",
)
_TOKEN: Final = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`|\S+')


@dataclass(frozen=True, slots=True)
class GoMod:
    """The parts of a go.mod this check needs.

    ``requires`` are (module path, indirect?); ``replacements`` map a module path to
    what go fetches instead: another module path, or None for a local directory.
    """

    requires: tuple[tuple[str, bool], ...] = ()
    replacements: dict[str, str | None] = field(default_factory=dict)


def _split_comment(line: str) -> tuple[str, str]:
    """Code and comment of a line; '//' inside a quoted string is not a comment."""
    quote = ""
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in '"`':
            quote = char
        elif line.startswith("//", index):
            return line[:index], line[index + 2 :]
    return line, ""


def _tokens(code: str) -> list[str]:
    return [token.strip('"`') for token in _TOKEN.findall(code)]


def _is_local_path(target: str) -> bool:
    return target.startswith(("./", "../", "/")) or target in (".", "..")


def parse_go_mod(text: str) -> GoMod:
    """Read ``require`` and ``replace`` directives, single-line and block form."""
    requires: list[tuple[str, bool]] = []
    replacements: dict[str, str | None] = {}
    block = ""
    for raw in text.splitlines():
        code, comment = _split_comment(raw)
        tokens = _tokens(code)
        if not tokens:
            continue
        if block:
            if tokens == [")"]:
                block = ""
                continue
            verb, args = block, tokens
        else:
            verb, args = tokens[0], tokens[1:]
            if args == ["("]:
                block = verb
                continue
        if verb == "require" and len(args) >= 2:
            # go writes "// indirect" (possibly followed by "; more comment").
            indirect = comment.strip().split(";")[0].strip() == "indirect"
            requires.append((args[0], indirect))
        elif verb == "replace" and "=>" in args:
            arrow = args.index("=>")
            if arrow >= 1 and len(args) > arrow + 1:
                target = args[arrow + 1]
                replacements[args[0]] = None if _is_local_path(target) else target
    return GoMod(tuple(requires), replacements)


def find_go_mod(context: CheckContext) -> Path | None:
    """The main module's go.mod: GOMOD from go env, else found walking up like go."""
    if context.go_env is not None and "GOMOD" in context.go_env:
        gomod = context.go_env["GOMOD"]
        if gomod and gomod != os.devnull and gomod.endswith("go.mod"):
            return Path(gomod)
        return None
    for directory in (context.cwd, *context.cwd.parents):
        candidate = directory / "go.mod"
        if candidate.is_file():
            return candidate
    return None


def looks_private(module_path: str) -> bool:
    """Judged from the name only (no DNS): a dotless first element, an internal-only
    suffix, or an IP literal in a private range."""
    host = module_path.split("/", 1)[0].lower()
    if "." not in host:
        return True
    if host.endswith(_PRIVATE_SUFFIXES):
        return True
    try:
        return ipaddress.ip_address(host).is_private
    except ValueError:
        return False


def _host_pattern(module_path: str) -> str:
    return module_path.split("/", 1)[0]


def check_go_mod(context: CheckContext) -> list[Check]:
    """``gomod-private-hosts``: private-looking requirements not in GOPRIVATE/GONOPROXY."""
    path = find_go_mod(context)
    if path is None:
        return [Check("gomod-private-hosts", CheckStatus.INFO, "not inside a Go module")]
    try:
        gomod = parse_go_mod(path.read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        return [
            Check(
                "gomod-private-hosts",
                CheckStatus.WARN,
                f"cannot read {path}: {exc.strerror or exc}",
                fix=f"check the permissions of {path}",
            )
        ]
    values = context.go_env if context.go_env is not None else context.environ
    noproxy = private_patterns(values)
    nosumdb = values.get("GONOSUMDB") or values.get("GOPRIVATE") or ""
    sumdb_on = context.go_value("GOSUMDB") != "off"
    uncovered: dict[str, list[str]] = {}
    asked: dict[str, None] = {}  # which public services learn the names, in order
    for required, _indirect in gomod.requires:
        fetched = gomod.replacements.get(required, required)
        if fetched is None or not looks_private(fetched):
            continue
        if not match_prefix_patterns(noproxy, fetched):
            asked["the module proxy (not in GONOPROXY)"] = None
        elif not sumdb_on or match_prefix_patterns(nosumdb, fetched):
            continue
        if sumdb_on and not match_prefix_patterns(nosumdb, fetched):
            asked["the checksum database (not in GONOSUMDB)"] = None
        uncovered.setdefault(_host_pattern(fetched), []).append(fetched)
    if not uncovered:
        return [
            Check(
                "gomod-private-hosts",
                CheckStatus.OK,
                f"{path}: {len(gomod.requires)} requirements; any private-looking ones are "
                "covered by GOPRIVATE/GONOPROXY",
            )
        ]
    listed = ", ".join(f"{host} ({', '.join(paths)})" for host, paths in uncovered.items())
    return [
        Check(
            "gomod-private-hosts",
            CheckStatus.WARN,
            redact(
                f"{path} requires modules that look private, yet go asks "
                f"{' and '.join(asked)} for them: {listed}. They answer 404/410 (the "
                "download fails or waits for git) and learn the private module names"
            ),
            fix=redact(_private_fix(context, list(uncovered))),
        )
    ]


def _private_fix(context: CheckContext, hosts: list[str]) -> str:
    def extended(current: str) -> str:
        patterns = [p.strip() for p in [*current.split(","), *hosts] if p.strip()]
        return ",".join(dict.fromkeys(patterns))

    goprivate = context.go_value("GOPRIVATE")
    fixes = [env_fix(context, "GOPRIVATE", extended(goprivate))]
    # An explicit GONOPROXY/GONOSUMDB overrides GOPRIVATE, so it needs the hosts too.
    for name in ("GONOPROXY", "GONOSUMDB"):
        value = context.go_value(name)
        if value and value != goprivate and extended(value) != value:
            fixes.append(env_fix(context, name, extended(value)))
    return "; ".join(fixes)


__all__ = ["GoMod", "check_go_mod", "find_go_mod", "looks_private", "parse_go_mod"]
