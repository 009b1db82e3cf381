"""Go, pip and npm as `unstall mirrors apply` drives them: where each keeps its user
config file, the source value in that file, and the commands that set or unset it.

Writes go through each tool's own CLI (``go env -w``, ``pip config --user set``,
``npm config set``), so the tool keeps its own format. The previous value is read
from the exact file the tool writes, parsed by the tool's rules: that is the value
undo puts back (``npm config get`` cannot say whether the registry comes from the
user file or the default, and refuses to show one that carries credentials).
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from unstall.errors import ConfigError, ToolchainError
from unstall.mirrors.model import Ecosystem
from unstall.redact import redact

_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What one tool command did."""

    returncode: int
    stdout: str
    stderr: str


Runner = Callable[[Sequence[str], Mapping[str, str]], CommandResult]


def run_command(argv: Sequence[str], env: Mapping[str, str]) -> CommandResult:
    """Run ``argv`` with exactly ``env``; a command that cannot start gives code 127."""
    try:
        done = subprocess.run(
            list(argv),
            env=dict(env),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return CommandResult(124, "", f"no answer within {_TIMEOUT:g} s")
    except OSError as exc:
        return CommandResult(127, "", str(exc))
    return CommandResult(done.returncode, done.stdout, done.stderr)


@dataclass(frozen=True, slots=True)
class Location:
    """Where a tool keeps its user config, and the value it uses now (Go: GOPROXY)."""

    config_file: Path
    effective: str | None = None


class SourceTool(ABC):
    """One tool's source setting. Subclasses say how to find, parse and write it."""

    ecosystem: Ecosystem
    key: str
    program: str

    def __init__(self, env: Mapping[str, str], runner: Runner) -> None:
        self.env = env
        self.runner = runner

    def executable(self) -> str:
        """The program's path, or a ToolchainError when it is not on PATH."""
        found = shutil.which(self.program, path=self.env.get("PATH", os.defpath))
        if found is None:
            raise ToolchainError(
                f"{self.program} is not on PATH: skipping {self.ecosystem}",
                cause="go-missing" if self.program == "go" else "tool-missing",
                fix=f"Install {self.program} (or put it on PATH) to configure {self.ecosystem}.",
            )
        return found

    def run(self, argv: Sequence[str]) -> CommandResult:
        """Run a command of this tool; a non-zero exit becomes a redacted ToolchainError."""
        result = self.runner(argv, self.run_env())
        if result.returncode != 0:
            detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
            shown = shlex.join([Path(argv[0]).name, *argv[1:]])
            raise ToolchainError(
                redact(f"`{shown}` failed ({result.returncode}): {' '.join(detail)}"),
                cause="tool-failed",
                fix=f"Run the command by hand to see why {self.program} refuses it.",
            )
        return result

    def run_env(self) -> Mapping[str, str]:
        """The environment the tool's commands run with."""
        return self.env

    @abstractmethod
    def locate(self) -> Location:
        """Ask the tool where its user config file is."""

    @abstractmethod
    def value_in(self, content: bytes | None, path: Path) -> str | None:
        """The source value that config file content sets (None: unset)."""

    @abstractmethod
    def set_command(self, value: str) -> list[str]:
        """The command that writes ``value`` into the user config."""

    @abstractmethod
    def unset_command(self) -> list[str]:
        """The command that removes the setting from the user config."""

    @abstractmethod
    def overridden_by(self) -> str | None:
        """Why the user config file may not take effect (an environment variable wins)."""


class GoTool(SourceTool):
    """GOPROXY in the go env file (``go env GOENV``)."""

    ecosystem = Ecosystem.GO
    key = "GOPROXY"
    program = "go"

    def locate(self) -> Location:
        result = self.run([self.executable(), "env", "-json", "GOENV", "GOPROXY"])
        try:
            values = json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise ToolchainError(f"`go env -json` printed no JSON: {exc}") from exc
        goenv = str(values.get("GOENV", ""))
        if goenv in ("", "off"):
            raise ToolchainError(
                "go has no env file to write GOPROXY into (GOENV=off, or no config directory)",
                cause="tool-unusable",
                fix="Unset GOENV (or point it at a file) to let go keep settings.",
            )
        return Location(Path(goenv), str(values.get("GOPROXY", "")))

    def value_in(self, content: bytes | None, path: Path) -> str | None:
        # As go reads the file: the first '=' splits, no trimming, lines not starting
        # with an upper-case letter are ignored, the last assignment wins.
        value = None
        for line in (content or b"").decode("utf-8", "replace").split("\n"):
            name, eq, rest = line.partition("=")
            if eq and line[:1].isupper() and line[:1].isascii() and name == self.key:
                value = rest
        return value

    def set_command(self, value: str) -> list[str]:
        return [self.executable(), "env", "-w", f"{self.key}={value}"]

    def unset_command(self) -> list[str]:
        return [self.executable(), "env", "-u", self.key]

    def overridden_by(self) -> str | None:
        if self.env.get(self.key):
            return f"{self.key} is set in the environment and wins over"
        return None


class PipTool(SourceTool):
    """``global.index-url`` in pip's user config file."""

    ecosystem = Ecosystem.PIP
    key = "global.index-url"
    program = "python3"

    def __init__(
        self, env: Mapping[str, str], runner: Runner, python: Sequence[str] | None = None
    ) -> None:
        super().__init__(env, runner)
        self._python = list(python) if python else None

    def pip(self) -> list[str]:
        """``<python3 on PATH, else this interpreter> -m pip``, unless injected."""
        if self._python is not None:
            return [*self._python, "-m", "pip"]
        found = shutil.which("python3", path=self.env.get("PATH", os.defpath))
        return [found or sys.executable, "-m", "pip"]

    def locate(self) -> Location:
        argv = [*self.pip(), "config", "debug"]
        result = self.runner(argv, self.run_env())
        if result.returncode != 0 and "No module named pip" in result.stderr:
            raise ToolchainError(
                f"pip is not installed for {argv[0]}: skipping pip",
                cause="tool-missing",
                fix=f"Install pip for {argv[0]} to configure pip.",
            )
        result = self.run(argv) if result.returncode != 0 else result
        # pip writes `--user` settings to the last file of its "user" variant.
        user_files: list[Path] = []
        section = ""
        for line in result.stdout.splitlines():
            if not line.startswith(" "):
                section = line.rstrip(":")
            elif section == "user" and not line.startswith("    "):
                match = re.fullmatch(r"  (.+), exists: (?:True|False)", line)
                if match:
                    user_files.append(Path(match.group(1)))
        if user_files:
            return Location(user_files[-1])
        return Location(self._default_user_file())

    def _default_user_file(self) -> Path:
        # pip's own rule, for a pip whose `config debug` prints something else.
        base = self.env.get("XDG_CONFIG_HOME") or os.path.join(
            self.env.get("HOME", str(Path.home())), ".config"
        )
        return Path(base) / "pip" / "pip.conf"

    def value_in(self, content: bytes | None, path: Path) -> str | None:
        parser = configparser.RawConfigParser()
        try:
            parser.read_string((content or b"").decode("utf-8"), source=str(path))
        except (configparser.Error, UnicodeDecodeError) as exc:
            raise ConfigError(
                redact(f"{path} is not a valid pip config file: {exc}"),
                fix=f"Fix {path} (pip itself cannot read it either).",
            ) from exc
        if not parser.has_section("global"):
            return None
        # pip treats index_url and index-url alike.
        found = {k.replace("_", "-"): v for k, v in parser.items("global")}
        return found.get("index-url")

    def set_command(self, value: str) -> list[str]:
        return [*self.pip(), "config", "--user", "set", self.key, value]

    def unset_command(self) -> list[str]:
        return [*self.pip(), "config", "--user", "unset", self.key]

    def overridden_by(self) -> str | None:
        if self.env.get("PIP_INDEX_URL"):
            return "PIP_INDEX_URL is set in the environment and wins over"
        config = self.env.get("PIP_CONFIG_FILE")
        if config == os.devnull:
            return f"PIP_CONFIG_FILE={os.devnull} makes pip ignore"
        if not config:
            return None
        try:
            found = self.value_in(Path(config).read_bytes(), Path(config))
        except (OSError, ConfigError):
            return None  # pip reports an unreadable PIP_CONFIG_FILE itself
        return "PIP_CONFIG_FILE sets an index-url that wins over" if found else None


class NpmTool(SourceTool):
    """``registry`` in npm's user config file (``npm config get userconfig``)."""

    ecosystem = Ecosystem.NPM
    key = "registry"
    program = "npm"

    def run_env(self) -> Mapping[str, str]:
        # No update check (it would reach the network) and no debug log files: a config
        # write needs neither, and neither changes the user's config file.
        return {**self.env, "npm_config_update_notifier": "false", "npm_config_logs_max": "0"}

    def locate(self) -> Location:
        result = self.run([self.executable(), "config", "get", "userconfig"])
        path = result.stdout.strip()
        if not path:
            raise ToolchainError("`npm config get userconfig` printed nothing")
        return Location(Path(path))

    def value_in(self, content: bytes | None, path: Path) -> str | None:
        value = None
        for raw in (content or b"").decode("utf-8", "replace").splitlines():
            line = raw.strip()
            if line.startswith("["):
                break  # the top-level keys end at the first section
            name, eq, rest = line.partition("=")
            if eq and not line.startswith((";", "#")) and name.strip() == self.key:
                value = _ini_value(rest)
        return value

    def set_command(self, value: str) -> list[str]:
        return [self.executable(), "config", "set", "--location=user", self.key, value]

    def unset_command(self) -> list[str]:
        return [self.executable(), "config", "delete", "--location=user", self.key]

    def overridden_by(self) -> str | None:
        name = next((n for n in self.env if n.lower() == "npm_config_registry"), None)
        return f"{name} is set in the environment and wins over" if name else None


def _ini_value(text: str) -> str:
    """A value as npm's ini reader sees it: quoted (JSON for double quotes), or up to
    an unescaped ``;``/``#``, with ``\\`` escapes."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        if text[0] == "'":
            return text[1:-1]
        try:
            decoded = json.loads(text)
        except json.JSONDecodeError:
            return text
        return decoded if isinstance(decoded, str) else text
    out, escaped = [], False
    for char in text:
        if escaped:
            out.append(char if char in "\\;#" else "\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ";#":
            break
        else:
            out.append(char)
    return "".join(out).strip()


class Tools:
    """The three tools, run with one injectable environment and command runner."""

    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        runner: Runner = run_command,
        python: Sequence[str] | None = None,
    ) -> None:
        self.env = dict(os.environ if env is None else env)
        self._tools: dict[Ecosystem, SourceTool] = {
            Ecosystem.GO: GoTool(self.env, runner),
            Ecosystem.PIP: PipTool(self.env, runner, python),
            Ecosystem.NPM: NpmTool(self.env, runner),
        }

    def __getitem__(self, ecosystem: Ecosystem) -> SourceTool:
        return self._tools[ecosystem]


__all__ = [
    "CommandResult",
    "GoTool",
    "Location",
    "NpmTool",
    "PipTool",
    "Runner",
    "SourceTool",
    "Tools",
    "run_command",
]
