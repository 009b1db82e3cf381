"""Operating system, architecture, user, and who owns the Go module cache."""

from __future__ import annotations

import platform
import pwd
import shlex
from pathlib import Path

from unstall.doctor.checks.context import CheckContext
from unstall.doctor.model import Check, CheckStatus
from unstall.redact import redact


def check_system(context: CheckContext) -> list[Check]:
    """``os``, ``user`` and ``module-cache-owner`` findings."""
    return [_os_check(), _user_check(context), *_module_cache_check(context)]


def _os_check() -> Check:
    uname = platform.uname()
    text = f"{uname.system or 'unknown OS'} {uname.release} on {uname.machine or 'unknown'}"
    return Check("os", CheckStatus.INFO, redact(text.strip()))


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a container uid without a passwd entry
        return f"uid {uid}"


def _user_check(context: CheckContext) -> Check:
    name = _user_name(context.uid)
    if context.uid == 0:
        sudo = context.environ.get("SUDO_USER")
        via = f" (through sudo, from {sudo})" if sudo else ""
        return Check("user", CheckStatus.INFO, f"running as root{via}")
    return Check("user", CheckStatus.INFO, f"running as {name} (uid {context.uid})")


def _module_cache_check(context: CheckContext) -> list[Check]:
    """A cache written by another user is the common way root gets in the way.

    go makes extracted modules read-only and expects the cache owner to run it: a
    ``sudo go get`` leaves root-owned directories that a later run as the user cannot
    extend, and root writing into a user's cache leaves files that user cannot remove.
    """
    gomodcache = context.go_value("GOMODCACHE")
    if not gomodcache:
        return []
    cache = Path(gomodcache)
    owners: dict[Path, int] = {}
    for path in (cache, cache / "cache" / "download"):
        try:
            owners[path] = path.stat().st_uid
        except OSError:
            continue
    if not owners:
        return [Check("module-cache-owner", CheckStatus.OK, f"{cache} does not exist yet")]
    foreign = {path: uid for path, uid in owners.items() if uid != context.uid}
    if not foreign:
        return [Check("module-cache-owner", CheckStatus.OK, f"{cache} is owned by you")]
    path, owner = next(iter(foreign.items()))
    owner_name = _user_name(owner)
    if context.uid == 0:
        return [
            Check(
                "module-cache-owner",
                CheckStatus.WARN,
                f"running as root, but the module cache {path} belongs to {owner_name}: "
                f"modules downloaded now become root-owned, and later go commands run by "
                f"{owner_name} fail with 'permission denied'",
                fix=f"run go as {owner_name} instead of root (no sudo), or point root at "
                "its own cache: GOMODCACHE=/root/go/pkg/mod",
            )
        ]
    return [
        Check(
            "module-cache-owner",
            CheckStatus.WARN,
            f"the module cache {path} belongs to {owner_name}, not to you "
            f"({_user_name(context.uid)}): go cannot add modules to it and fails with "
            "'permission denied' (typically left behind by `sudo go ...`)",
            fix=f"sudo chown -R $(id -u):$(id -g) {shlex.quote(str(cache))}",
        )
    ]


__all__ = ["check_system"]
