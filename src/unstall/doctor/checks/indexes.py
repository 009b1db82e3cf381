"""Which package indexes pip and npm use, and pip's extra-index risk."""

from __future__ import annotations

import ast
from typing import Final

from unstall.doctor.checks.context import COMMAND_TIMEOUT, CheckContext
from unstall.doctor.model import Check, CheckStatus
from unstall.redact import redact

_PIP_COMMANDS: Final = (
    ("pip", "config", "list"),
    ("python3", "-m", "pip", "config", "list"),
)
_NPM_ENV: Final = ("NPM_CONFIG_REGISTRY", "npm_config_registry")


def parse_pip_config(output: str) -> list[tuple[str, str]]:
    """``pip config list`` lines, ``section.name='value'``, as (key, value) pairs."""
    pairs = []
    for line in output.splitlines():
        key, sep, literal = line.partition("=")
        if not sep:
            continue
        try:
            value = ast.literal_eval(literal.strip())
        except (ValueError, SyntaxError):
            value = literal.strip().strip("'\"")
        pairs.append((key.strip(), str(value)))
    return pairs


def _urls(value: str) -> list[str]:
    # pip accepts several URLs separated by whitespace or newlines.
    return value.split()


def check_indexes(context: CheckContext) -> list[Check]:
    """``pip-index``, ``pip-extra-index`` and ``npm-registry``."""
    return [*_pip(context), _npm(context)]


def _pip_config(context: CheckContext) -> list[tuple[str, str]] | None:
    for argv in _PIP_COMMANDS:
        result = context.run(argv, timeout=COMMAND_TIMEOUT)
        if result is not None and result.ok:
            return parse_pip_config(result.stdout)
    return None


def _pip(context: CheckContext) -> list[Check]:
    config = _pip_config(context)
    index: list[str] = []
    extra: list[str] = []
    for key, value in config or []:
        name = key.rsplit(".", 1)[-1]
        # pip lists PIP_* variables as ":env:.name"; they are reported by name below.
        if key.startswith(":env:"):
            continue
        if name == "index-url":
            index += [f"{key}={url}" for url in _urls(value)]
        elif name == "extra-index-url":
            extra += [f"{key}={url}" for url in _urls(value)]
    for variable, target in (("PIP_INDEX_URL", index), ("PIP_EXTRA_INDEX_URL", extra)):
        target += [f"{variable}={url}" for url in _urls(context.environ.get(variable, ""))]
    found = []
    if config is None and not index:
        found.append(Check("pip-index", CheckStatus.INFO, "pip is not installed"))
    elif index:
        found.append(Check("pip-index", CheckStatus.INFO, redact("; ".join(index))))
    else:
        found.append(Check("pip-index", CheckStatus.INFO, "pip uses its default index"))
    if extra:
        unset = [
            f"`pip config unset {key}`" if not key.startswith("PIP_") else f"`unset {key}`"
            for key in dict.fromkeys(item.split("=", 1)[0] for item in extra)
        ]
        found.append(
            Check(
                "pip-extra-index",
                CheckStatus.WARN,
                redact(
                    f"extra indexes: {'; '.join(extra)}. pip takes the highest version "
                    "from any index, so a public package named like a private one can be "
                    "installed instead (dependency confusion)"
                ),
                fix="serve private and public packages through one index and remove the "
                f"extra one: {', '.join(unset)} (add --global or --site for files outside "
                "your user config)",
            )
        )
    return found


def _npm(context: CheckContext) -> Check:
    env = next(
        (f"{n}={context.environ[n]}" for n in _NPM_ENV if context.environ.get(n, "").strip()),
        "",
    )
    from_env = f" (set by {env})" if env else ""
    result = context.run(("npm", "config", "get", "registry"), timeout=COMMAND_TIMEOUT)
    if result is None:
        return Check("npm-registry", CheckStatus.INFO, redact(f"npm is not installed{from_env}"))
    if not result.ok:
        return Check(
            "npm-registry",
            CheckStatus.WARN,
            redact(f"`npm config get registry` failed: {result.first_line()}{from_env}"),
            fix="run `npm config list` and fix the .npmrc it complains about",
        )
    registry = result.stdout.strip() or "(default)"
    return Check("npm-registry", CheckStatus.INFO, redact(f"npm registry: {registry}{from_env}"))


__all__ = ["check_indexes", "parse_pip_config"]
