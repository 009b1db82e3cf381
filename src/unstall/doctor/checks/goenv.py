"""go env settings that stall installs or weaken their verification."""

from __future__ import annotations

from typing import Final

from unstall.doctor.checks.context import COMMAND_TIMEOUT, CheckContext, env_fix
from unstall.doctor.model import Check, CheckStatus
from unstall.errors import UsageError
from unstall.gotool.env import match_prefix_patterns, parse_goproxy
from unstall.redact import redact

# Unrelated module paths under different top-level names: a pattern list matching all
# of them ("*", "*.*", "*/*") is, for practical purposes, "every module".
_VARIED_MODULE_PATHS: Final = (
    "code.example.com/team/lib",
    "mod.example.org/x",
    "git.example.net/a/b/c",
    "pkg.example.test/v2",
)

_PRIVATE_VARS: Final = {
    "GOPRIVATE": "go fetches every module directly with git (no proxy: slow, and blocked "
    "by firewalls) and checks none against the checksum database",
    "GONOPROXY": "go fetches every module directly with git, never through GOPROXY "
    "(slow, and blocked by firewalls)",
    "GONOSUMDB": "no module is checked against the checksum database (tampered or "
    "retagged versions go unnoticed)",
}


def matches_everything(patterns: str) -> bool:
    """Whether a GOPRIVATE-style list matches any module path whatsoever."""
    return all(match_prefix_patterns(patterns, path) for path in _VARIED_MODULE_PATHS)


def check_go_env(context: CheckContext) -> list[Check]:
    """``goproxy``, ``gosumdb``, ``goflags-insecure``, ``goinsecure`` and pattern findings."""
    if context.go_env is None:
        return [_go_env_missing(context)]
    return [
        _goproxy(context),
        _gosumdb(context),
        *_goflags(context),
        *_goinsecure(context),
        *_private_patterns(context),
    ]


def _go_env_missing(context: CheckContext) -> Check:
    result = context.run(("go", "env", "-json"), timeout=COMMAND_TIMEOUT)
    if result is None:
        return Check("go-env", CheckStatus.INFO, "go is not installed: go env not checked")
    return Check(
        "go-env",
        CheckStatus.FAIL,
        redact(f"`go env -json` failed (exit {result.returncode}): {result.first_line()}"),
        fix="run `go env` yourself and fix the error it prints (often a bad value in "
        "the file `go env GOENV` names)",
    )


def _goproxy(context: CheckContext) -> Check:
    value = context.go_value("GOPROXY")
    if not value:
        return Check("goproxy", CheckStatus.OK, "GOPROXY is not set: go uses its default proxy")
    shown = redact(value)
    fix = env_fix(context, "GOPROXY", "<your proxy>,direct")
    try:
        parsed = parse_goproxy(value)
    except UsageError:
        # file:// and other non-HTTP entries: go accepts them, they need no network.
        return Check("goproxy", CheckStatus.INFO, f"GOPROXY={shown} (not an http(s) proxy)")
    if not parsed.proxies and parsed.tail == "off":
        return Check(
            "goproxy",
            CheckStatus.FAIL,
            f"GOPROXY={shown}: go may not download any module, so every missing one fails",
            fix=fix,
        )
    if not parsed.proxies and parsed.tail == "direct":
        return Check(
            "goproxy",
            CheckStatus.WARN,
            f"GOPROXY={shown}: every module is fetched from its repository with git, "
            "which is slow and often blocked by firewalls",
            fix=fix,
        )
    return Check("goproxy", CheckStatus.OK, f"GOPROXY={shown}")


def _gosumdb(context: CheckContext) -> Check:
    value = context.go_value("GOSUMDB")
    if value == "off":
        return Check(
            "gosumdb",
            CheckStatus.WARN,
            "GOSUMDB=off: downloaded modules are not checked against the checksum database, "
            "so a tampering proxy or retagged version goes unnoticed",
            fix=env_fix(context, "GOSUMDB", None) + " (go then uses its default database)",
        )
    if not value:
        return Check("gosumdb", CheckStatus.OK, "GOSUMDB is not set: go uses its default")
    return Check("gosumdb", CheckStatus.OK, redact(f"GOSUMDB={value}"))


def _is_insecure_flag(flag: str) -> bool:
    if not flag.startswith("-"):
        return False
    name, _, setting = flag.lstrip("-").partition("=")
    return name == "insecure" and setting.lower() not in ("false", "0")


def _goflags(context: CheckContext) -> list[Check]:
    flags = context.go_value("GOFLAGS").split()
    if not any(_is_insecure_flag(flag) for flag in flags):
        return []
    rest = " ".join(flag for flag in flags if not _is_insecure_flag(flag))
    return [
        Check(
            "goflags-insecure",
            CheckStatus.WARN,
            "GOFLAGS contains -insecure: older go versions then fetch modules without TLS "
            "verification, and current ones refuse to run `go get` with it",
            fix=env_fix(context, "GOFLAGS", rest or None)
            + " (use GOINSECURE for a specific host if you really must)",
        )
    ]


def _goinsecure(context: CheckContext) -> list[Check]:
    value = context.go_value("GOINSECURE")
    if not value:
        return []
    scope = "every module" if matches_everything(value) else "matching modules"
    return [
        Check(
            "goinsecure",
            CheckStatus.WARN,
            redact(
                f"GOINSECURE={value}: {scope} may be fetched over plain HTTP or without "
                "certificate checks"
            ),
            fix=env_fix(context, "GOINSECURE", None)
            + " (install the host's CA instead: SSL_CERT_FILE)",
        )
    ]


def _private_patterns(context: CheckContext) -> list[Check]:
    goprivate = context.go_value("GOPRIVATE")
    found: list[Check] = []
    shown: list[str] = []
    for name, consequence in _PRIVATE_VARS.items():
        value = context.go_value(name)
        # go env reports GONOPROXY/GONOSUMDB as GOPRIVATE when they are not set themselves.
        if not value or (name != "GOPRIVATE" and value == goprivate):
            continue
        shown.append(f"{name}={value}")
        if matches_everything(value):
            found.append(
                Check(
                    f"{name.lower()}-all",
                    CheckStatus.WARN,
                    redact(f"{name}={value} matches every module: {consequence}"),
                    fix=env_fix(context, name, "<your private module patterns>"),
                )
            )
    if shown and not found:
        found.append(Check("go-private", CheckStatus.INFO, redact(", ".join(shown))))
    return found


__all__ = ["check_go_env", "matches_everything"]
