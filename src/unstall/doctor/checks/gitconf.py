"""git's own proxy and URL-rewrite settings, which go's direct mode inherits."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Final

from unstall.doctor.checks.context import COMMAND_TIMEOUT, CheckContext
from unstall.doctor.checks.proxyenv import show_proxy
from unstall.doctor.model import Check, CheckStatus
from unstall.redact import redact

# Keys git prints canonically: section and variable lower-cased, subsection as written.
GIT_CONFIG_REGEX: Final = r"^(https?\..*proxy|url\..*\.insteadof)$"
_SCOPED: Final = ("git", "config", "--show-scope", "--get-regexp", GIT_CONFIG_REGEX)
_UNSCOPED: Final = ("git", "config", "--get-regexp", GIT_CONFIG_REGEX)
# The order go reads them in; any of the others routes some tool through a proxy.
_GO_HTTPS_PROXY: Final = ("HTTPS_PROXY", "https_proxy")
_ANY_PROXY: Final = (*_GO_HTTPS_PROXY, "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
_SSH_PREFIXES: Final = ("ssh://", "git+ssh://", "ssh+git://", "git://")


@dataclass(frozen=True, slots=True)
class GitSetting:
    """One ``key value`` line of git config, with the scope it came from if known."""

    scope: str
    key: str
    value: str


def parse_git_config(output: str, *, scoped: bool) -> list[GitSetting]:
    """Lines of ``git config [--show-scope] --get-regexp``: ``[scope\\t]key value``."""
    settings = []
    for line in output.splitlines():
        scope = ""
        if scoped and "\t" in line:
            scope, line = line.split("\t", 1)
        key, _, value = line.partition(" ")
        if key:
            settings.append(GitSetting(scope, key, value.strip()))
    return settings


def _unset(setting: GitSetting, *, all_values: bool = False) -> str:
    # Without a known scope (old git), the user's global file is where these usually are.
    known = setting.scope in ("system", "global", "local", "worktree")
    scope = f"--{setting.scope} " if known else "--global "
    if redact(setting.key) != setting.key:
        # The key itself holds credentials: printing a runnable command would leak them.
        return f"git config {scope}--edit (and delete the section for this URL)"
    flag = "--unset-all" if all_values else "--unset"
    return f"git config {scope}{flag} {shlex.quote(setting.key)}"


def _is_ssh(url: str) -> bool:
    """Whether git reaches ``url`` by a transport that ignores HTTP proxies."""
    lowered = url.lower()
    if lowered.startswith(_SSH_PREFIXES):
        return True
    # scp-like "git@host:path": a colon before any slash and no scheme.
    head = url.split("/", 1)[0]
    return "://" not in url and ":" in head


def check_git_config(context: CheckContext) -> list[Check]:
    """``git-config`` and one ``git-proxy`` / ``git-insteadof`` finding per setting."""
    scoped = True
    result = context.run(_SCOPED, timeout=COMMAND_TIMEOUT)
    if result is not None and result.returncode not in (0, 1):
        scoped = False  # git older than 2.26 has no --show-scope
        result = context.run(_UNSCOPED, timeout=COMMAND_TIMEOUT)
    if result is None:
        return [Check("git-config", CheckStatus.INFO, "git is not installed: not checked")]
    if result.returncode == 1:  # no key matched
        return [Check("git-config", CheckStatus.OK, "no proxy or insteadOf settings in git")]
    if not result.ok:
        return [
            Check(
                "git-config",
                CheckStatus.WARN,
                redact(f"`git config` failed: {result.first_line()}"),
                fix="run `git config --list` and fix the config file it complains about",
            )
        ]
    found = []
    for setting in parse_git_config(result.stdout, scoped=scoped):
        check = _judge(context, setting)
        if check is not None:
            found.append(check)
    return found or [Check("git-config", CheckStatus.OK, "no proxy or insteadOf settings")]


def _env_proxy(context: CheckContext, names: tuple[str, ...]) -> str:
    for name in names:
        if context.environ.get(name, "").strip():
            return context.environ[name].strip()
    return ""


def _judge(context: CheckContext, setting: GitSetting) -> Check | None:
    key = setting.key
    where = f" ({setting.scope} config)" if setting.scope else ""
    shown = f"{redact(key)}={show_proxy(setting.value)}{where}"
    if key.lower() == "https.proxy":
        return Check(
            "git-proxy",
            CheckStatus.WARN,
            f"{shown}: git has no https.proxy setting and ignores it; http.proxy applies "
            "to https:// URLs too",
            fix=f"{_unset(setting)}; git config --global http.proxy <your proxy URL>",
        )
    if key.lower().endswith(".insteadof"):
        return _insteadof(context, setting, where)
    if not key.lower().endswith(".proxy") or not key.lower().startswith("http."):
        return None
    if key.lower() != "http.proxy":
        # http.<url>.proxy: a per-site override; "" means "no proxy for this site".
        return Check("git-proxy", CheckStatus.INFO, f"{shown}: used for matching URLs only")
    env = _env_proxy(context, _GO_HTTPS_PROXY)
    if setting.value == env:
        return Check(
            "git-proxy",
            CheckStatus.INFO,
            f"{shown}: the same proxy as HTTPS_PROXY, so git and go agree",
        )
    env_text = f"HTTPS_PROXY is {show_proxy(env)}" if env else "HTTPS_PROXY is not set"
    return Check(
        "git-proxy",
        CheckStatus.WARN,
        f"{shown}, but {env_text}: go downloads from module proxies through one and runs "
        "git (direct mode, private modules) through the other; if either is wrong or "
        "gone, those downloads stall",
        fix=f"{_unset(setting)} if that proxy is gone, or make HTTPS_PROXY and "
        "http.proxy name the same proxy",
    )


def _insteadof(context: CheckContext, setting: GitSetting, where: str) -> Check:
    base = setting.key[len("url.") : -len(".insteadof")]
    prefix = setting.value
    text = f"git rewrites {redact(prefix)} to {redact(base)}{where}"
    if _is_ssh(base) and _env_proxy(context, _ANY_PROXY):
        return Check(
            "git-insteadof",
            CheckStatus.WARN,
            f"{text}: go's direct fetches of matching modules then use ssh (or git://), "
            "which ignores the HTTP proxy variables and stalls where only the proxy gets out",
            fix=f"{_unset(setting, all_values=True)}, or send ssh through the proxy with "
            "a ProxyCommand in ~/.ssh/config",
        )
    return Check(
        "git-insteadof",
        CheckStatus.INFO,
        f"{text}: go's direct fetches of matching modules use the rewritten URL",
    )


__all__ = ["GIT_CONFIG_REGEX", "GitSetting", "check_git_config", "parse_git_config"]
