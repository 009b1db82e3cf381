"""`unstall mirrors apply / undo / history` against the real go, pip and npm.

Every tool runs with a temp HOME, XDG_CONFIG_HOME and GOENV, so only files under the
test's temp directory are written. These config commands need no network; to make sure
nothing leaves the machine anyway, npm runs offline and every proxy variable points at
a closed port on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from unstall.errors import ConfigError, ToolchainError, UsageError
from unstall.mirrors.apply import UndoMethod, apply, history, plan, undo
from unstall.mirrors.journal import Journal, JournalChange, Status
from unstall.mirrors.model import Ecosystem
from unstall.mirrors.tools import CommandResult, Runner, Tools, run_command

GO, PIP, NPM = Ecosystem.GO, Ecosystem.PIP, Ecosystem.NPM
SECRET = "s3cret-pw"
CLOSED = "http://127.0.0.1:9"  # nothing listens on port 9 (discard) here


@dataclass
class Sandbox:
    """One isolated user: a temp HOME and the three config files the tools write there."""

    home: Path
    env: dict[str, str]

    @property
    def goenv(self) -> Path:
        return self.home / "goenv"

    @property
    def pipconf(self) -> Path:
        return self.home / ".config" / "pip" / "pip.conf"

    @property
    def npmrc(self) -> Path:
        return self.home / ".npmrc"

    @property
    def journal(self) -> Journal:
        return Journal.in_home(self.home / "state")

    def tools(self, runner: Runner = run_command, **env: str) -> Tools:
        return Tools(env={**self.env, **env}, runner=runner)

    def run(self, *argv: str) -> str:
        done = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=60, check=True
        )
        return done.stdout.strip()

    def go_env(self, *names: str) -> dict[str, str]:
        values = json.loads(self.run("go", "env", "-json", *names))
        return {str(k): str(v) for k, v in values.items()}

    def pip_index(self) -> str | None:
        done = subprocess.run(
            ["python3", "-m", "pip", "config", "--user", "get", "global.index-url"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.stdout.strip() if done.returncode == 0 else None

    def snapshot(self) -> dict[Path, bytes | None]:
        return {p: p.read_bytes() if p.exists() else None for p in self.files}

    @property
    def files(self) -> list[Path]:
        return [self.goenv, self.pipconf, self.npmrc]


def _for_tests(path: str) -> dict[str, str]:
    env = {
        "PATH": path,
        "LANG": "C.UTF-8",
        "GOTOOLCHAIN": "local",
        "npm_config_offline": "true",
        "npm_config_update_notifier": "false",
    }
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env[name] = CLOSED
    env.update({k: v for k, v in os.environ.items() if k.startswith("PYENV_")})
    return env


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    home = tmp_path / "home"
    home.mkdir()
    env = _for_tests(os.environ["PATH"])
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), GOENV=str(home / "goenv"))
    for tool in ("go", "python3", "npm"):
        if shutil.which(tool, path=env["PATH"]) is None:
            pytest.fail(f"{tool} is not on PATH: the suite needs go, python3 (with pip) and npm")
    return Sandbox(home, env)


def choices(**urls: Sequence[str]) -> dict[Ecosystem, Sequence[str]]:
    return {Ecosystem(name): list(values) for name, values in urls.items()}


ALL = choices(
    go=["http://127.0.0.1:8001/", "http://127.0.0.2:8001/", "http://127.0.0.3:8001/"],
    pip=["http://127.0.0.4:8002/simple", "http://127.0.0.5:8002/simple"],
    npm=["http://127.0.0.6:8003/"],
)
GO_TWO = "http://127.0.0.1:8001/|http://127.0.0.2:8001/"

GOENV_BEFORE = (
    b"GOPRIVATE=corp.example.test/*\nGONOPROXY=corp.example.test\n"
    b"GONOSUMDB=corp.example.test\nGOPROXY=http://127.0.0.9:7000/,direct\nGOFLAGS=-mod=mod\n"
)
PIPCONF_BEFORE = (
    b"# team pip settings\n[global]\ntimeout = 7\nindex_url = http://127.0.0.8:7000/simple\n"
    b"\n[install]\nno-compile = true\n"
)
NPMRC_BEFORE = b'; team npm settings\nsave-exact=true\nregistry = "http://127.0.0.7:7000/"\n'


def write_all(sb: Sandbox) -> None:
    sb.pipconf.parent.mkdir(parents=True)
    sb.goenv.write_bytes(GOENV_BEFORE)
    sb.pipconf.write_bytes(PIPCONF_BEFORE)
    sb.npmrc.write_bytes(NPMRC_BEFORE)


def test_apply_writes_through_each_tool_and_undo_removes_files_that_did_not_exist(
    sandbox: Sandbox,
) -> None:
    tools = sandbox.tools()
    entry = apply(plan(ALL, top=2, tools=tools).changes, journal=sandbox.journal, tools=tools)

    # go's own default GOPROXY ends with direct, so the new list keeps it.
    assert sandbox.go_env("GOPROXY") == {"GOPROXY": GO_TWO + ",direct"}
    assert sandbox.pip_index() == "http://127.0.0.4:8002/simple"
    assert sandbox.run("npm", "config", "get", "registry") == "http://127.0.0.6:8003/"
    assert [(c.ecosystem, c.previous, c.existed_before, c.status) for c in entry.changes] == [
        (GO, None, False, Status.APPLIED),
        (PIP, None, False, Status.APPLIED),
        (NPM, None, False, Status.APPLIED),
    ]
    assert [c.config_file for c in entry.changes] == sandbox.files

    report = undo(journal=sandbox.journal, tools=tools)

    assert [a.method for a in report.actions] == [UndoMethod.REMOVED_FILE] * 3
    assert sandbox.snapshot() == dict.fromkeys(sandbox.files)
    assert sandbox.pip_index() is None


def test_undo_puts_existing_files_back_byte_for_byte(sandbox: Sandbox) -> None:
    write_all(sandbox)
    tools = sandbox.tools()
    entry = apply(plan(ALL, top=1, tools=tools).changes, journal=sandbox.journal, tools=tools)

    # The previous values are what each tool itself reads from those files.
    assert [c.previous for c in entry.changes] == [
        "http://127.0.0.9:7000/,direct",
        "http://127.0.0.8:7000/simple",
        "http://127.0.0.7:7000/",
    ]
    assert sandbox.go_env("GOPROXY", "GOPRIVATE", "GONOPROXY", "GONOSUMDB") == {
        "GOPROXY": "http://127.0.0.1:8001/,direct",
        "GOPRIVATE": "corp.example.test/*",
        "GONOPROXY": "corp.example.test",
        "GONOSUMDB": "corp.example.test",
    }
    assert sandbox.npmrc.read_bytes() != NPMRC_BEFORE  # npm rewrote it, comment dropped

    report = undo(journal=sandbox.journal, tools=tools)

    assert [a.method for a in report.actions] == [UndoMethod.RESTORED_FILE] * 3
    assert sandbox.snapshot() == {
        sandbox.goenv: GOENV_BEFORE,
        sandbox.pipconf: PIPCONF_BEFORE,
        sandbox.npmrc: NPMRC_BEFORE,
    }


def test_two_applies_unwind_as_a_stack(sandbox: Sandbox) -> None:
    sandbox.goenv.write_bytes(GOENV_BEFORE)
    tools = sandbox.tools()
    first = plan(choices(go=["http://127.0.0.1:8001/"]), top=3, tools=tools)
    apply(first.changes, journal=sandbox.journal, tools=tools)
    after_first = sandbox.goenv.read_bytes()
    second = plan(choices(go=["http://127.0.0.2:8001/"]), top=3, tools=tools)
    apply(second.changes, journal=sandbox.journal, tools=tools)
    assert sandbox.go_env("GOPROXY") == {"GOPROXY": "http://127.0.0.2:8001/,direct"}

    undo(journal=sandbox.journal, tools=tools)
    assert sandbox.goenv.read_bytes() == after_first
    assert sandbox.go_env("GOPROXY") == {"GOPROXY": "http://127.0.0.1:8001/,direct"}
    undo(journal=sandbox.journal, tools=tools)
    assert sandbox.goenv.read_bytes() == GOENV_BEFORE

    with pytest.raises(UsageError, match="nothing to undo") as caught:
        undo(journal=sandbox.journal, tools=tools)
    assert caught.value.exit_code == 2
    lines = [line for entry in history(sandbox.journal) for line in entry.describe()]
    assert len(lines) == 2
    assert "#2  go GOPROXY: http://127.0.0.1:8001/,direct -> http://127.0.0.2:8001/" in lines[0]
    assert "#1  go GOPROXY: http://127.0.0.9:7000/,direct -> http://127.0.0.1:8001/" in lines[1]
    assert all("(undone " in line for line in lines)


def test_undo_after_user_edits_restores_only_the_value(sandbox: Sandbox) -> None:
    sandbox.goenv.write_bytes(GOENV_BEFORE)
    sandbox.pipconf.parent.mkdir(parents=True)
    sandbox.pipconf.write_bytes(PIPCONF_BEFORE)
    tools = sandbox.tools()  # npm starts with no .npmrc: its undo must unset
    apply(plan(ALL, top=2, tools=tools).changes, journal=sandbox.journal, tools=tools)
    # The user edits every file afterwards (by hand and through the tools).
    sandbox.run("go", "env", "-w", "GOINSECURE=lab.example.test")
    with sandbox.pipconf.open("a") as handle:
        handle.write("[freeze]\nall = true\n")
    sandbox.run("npm", "config", "set", "fund=false")

    report = undo(journal=sandbox.journal, tools=tools)

    assert [a.method for a in report.actions] == [UndoMethod.RESTORED_VALUE] * 3
    assert all("changed since the apply" in line for line in report.lines())
    assert sandbox.go_env("GOPROXY", "GOINSECURE", "GOPRIVATE") == {
        "GOPROXY": "http://127.0.0.9:7000/,direct",
        "GOINSECURE": "lab.example.test",
        "GOPRIVATE": "corp.example.test/*",
    }
    assert sandbox.pip_index() == "http://127.0.0.8:7000/simple"
    assert b"[freeze]\nall = true" in sandbox.pipconf.read_bytes()
    assert sandbox.npmrc.read_text().splitlines() == ["fund=false"]


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ("http://127.0.0.9:7000/|direct", GO_TWO + ",direct"),
        ("http://127.0.0.9:7000/,off", GO_TWO + ",off"),
        ("http://127.0.0.9:7000/", GO_TWO),
    ],
)
def test_goproxy_keeps_the_direct_or_off_tail(
    sandbox: Sandbox, current: str, expected: str
) -> None:
    sandbox.goenv.write_text(f"GOPRIVATE=corp.example.test\nGOPROXY={current}\n")
    tools = sandbox.tools()
    planned = plan({GO: ALL[GO]}, top=2, tools=tools)
    apply(planned.changes, journal=sandbox.journal, tools=tools)
    assert sandbox.go_env("GOPROXY", "GOPRIVATE") == {
        "GOPROXY": expected,
        "GOPRIVATE": "corp.example.test",
    }


def test_dry_run_lists_the_exact_commands_and_changes_nothing(sandbox: Sandbox) -> None:
    sandbox.npmrc.write_bytes(NPMRC_BEFORE)
    tools = sandbox.tools()

    planned = plan(ALL, top=2, tools=tools)

    def which(name: str) -> str:
        return str(shutil.which(name, path=sandbox.env["PATH"]))

    assert planned.commands() == [
        f"{which('go')} env -w 'GOPROXY={GO_TWO},direct'",
        f"{which('python3')} -m pip config --user set global.index-url "
        "http://127.0.0.4:8002/simple",
        f"{which('npm')} config set --location=user registry http://127.0.0.6:8003/",
    ]
    assert sandbox.snapshot() == {
        sandbox.goenv: None,
        sandbox.pipconf: None,
        sandbox.npmrc: NPMRC_BEFORE,
    }
    assert not sandbox.journal.path.exists()


def test_a_missing_tool_is_skipped_and_the_others_apply(sandbox: Sandbox, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"  # go and python3, but no npm
    bin_dir.mkdir()
    python = sandbox.run("python3", "-c", "import sys; print(sys.executable)")
    (bin_dir / "go").symlink_to(str(shutil.which("go", path=sandbox.env["PATH"])))
    (bin_dir / "python3").symlink_to(python)
    tools = sandbox.tools(PATH=str(bin_dir))

    planned = plan(ALL, top=1, tools=tools)
    assert [c.ecosystem for c in planned.changes] == [GO, PIP]
    assert [(s.ecosystem, s.reason) for s in planned.skipped] == [
        (NPM, "npm is not on PATH: skipping npm")
    ]
    apply(planned.changes, journal=sandbox.journal, tools=tools)
    assert sandbox.go_env("GOPROXY") == {"GOPROXY": "http://127.0.0.1:8001/,direct"}
    assert sandbox.pip_index() == "http://127.0.0.4:8002/simple"
    assert not sandbox.npmrc.exists()


def test_a_corrupt_journal_stops_apply_undo_and_history(sandbox: Sandbox) -> None:
    journal = sandbox.journal
    journal.path.parent.mkdir(parents=True)
    journal.path.write_text('{"version": 1, "entries": [{"id": 1,')
    tools = sandbox.tools()
    changes = plan(choices(go=["http://127.0.0.1:8001/"]), top=1, tools=tools).changes

    for attempt in (
        lambda: apply(changes, journal=journal, tools=tools),
        lambda: undo(journal=journal, tools=tools),
        lambda: history(journal),
    ):
        with pytest.raises(ConfigError) as caught:
            attempt()
        assert str(journal.path) in caught.value.message
        assert f"mv {journal.path} {journal.path}.broken" in caught.value.fix
    assert journal.path.read_text() == '{"version": 1, "entries": [{"id": 1,'
    assert not sandbox.goenv.exists()  # apply refused before writing anything


def _failing_pip_set(url: str) -> Runner:
    def runner(argv: Sequence[str], env: Mapping[str, str]) -> CommandResult:
        if "pip" in argv and "set" in argv:
            return CommandResult(1, "", f"ERROR: cannot reach {url}: connection refused\n")
        return run_command(argv, env)

    return runner


def test_credentials_never_appear_in_what_is_shown(sandbox: Sandbox) -> None:
    url = f"http://alice:{SECRET}@127.0.0.1:8001/"
    secret_choices = choices(go=[url], pip=[url + "simple"], npm=[url])
    # npm's previous registry carries credentials too, and is restored through npm's CLI.
    sandbox.npmrc.write_text(f"registry=http://alice:{SECRET}@127.0.0.5:7000/\n")
    tools = sandbox.tools(runner=_failing_pip_set(url + "simple"), GOPROXY=url)

    planned = plan(secret_choices, top=1, tools=tools)
    entry = apply(planned.changes, journal=sandbox.journal, tools=tools)
    assert [c.status for c in entry.changes] == [Status.APPLIED, Status.FAILED, Status.APPLIED]
    sandbox.run("npm", "config", "set", "fund=false")  # so undo goes through npm's CLI
    report = undo(journal=sandbox.journal, tools=tools)
    assert [a.method for a in report.actions] == [
        UndoMethod.REMOVED_FILE,
        UndoMethod.UNCHANGED,
        UndoMethod.RESTORED_VALUE,
    ]
    assert sandbox.npmrc.read_text().splitlines() == [
        f"registry=http://alice:{SECRET}@127.0.0.5:7000/",
        "fund=false",
    ]

    shown = [
        *planned.commands(),
        *planned.notes,
        *(c.describe() for c in planned.changes),
        *(line for e in history(sandbox.journal) for line in e.describe()),
        *report.lines(),
    ]
    assert any("alice:***@127.0.0.1" in text or "***@127.0.0.1" in text for text in shown)
    assert [text for text in shown if SECRET in text] == []
    assert "GOPROXY is set in the environment" in planned.notes[0]
    # The journal must keep the secret to restore it, so only its owner may read it.
    assert stat.S_IMODE(sandbox.journal.path.stat().st_mode) == 0o600


def test_when_every_command_fails_nothing_is_journaled(sandbox: Sandbox) -> None:
    tools = sandbox.tools(runner=_failing_pip_set(f"http://bob:{SECRET}@127.0.0.1:8002/"))
    changes = plan(ALL, top=1, tools=tools).changes

    with pytest.raises(ToolchainError, match="nothing was changed") as caught:
        apply([c for c in changes if c.ecosystem is PIP], journal=sandbox.journal, tools=tools)

    assert SECRET not in caught.value.message
    assert history(sandbox.journal) == []
    with pytest.raises(UsageError, match="nothing to undo"):
        undo(journal=sandbox.journal, tools=tools)


def test_plan_refuses_bad_input_and_skips_what_is_already_set(sandbox: Sandbox) -> None:
    tools = sandbox.tools()
    with pytest.raises(UsageError, match="not an http"):
        plan(choices(go=[f"ftp://carol:{SECRET}@127.0.0.1/"]), top=1, tools=tools)
    with pytest.raises(UsageError, match="at least 1"):
        plan(ALL, top=0, tools=tools)
    with pytest.raises(UsageError, match="not an http") as caught:
        plan(choices(npm=[f"http://carol:{SECRET}@127.0.0.1/ x"]), top=1, tools=tools)
    assert SECRET not in caught.value.message

    sandbox.npmrc.write_text("registry=http://127.0.0.6:8003/\n")
    planned = plan(choices(npm=["http://127.0.0.6:8003/"]), top=1, tools=tools)
    assert planned.changes == ()
    assert planned.skipped[0].reason == "registry is already http://127.0.0.6:8003/"


def test_an_apply_interrupted_after_journaling_is_undone_through_the_tool(
    sandbox: Sandbox,
) -> None:
    sandbox.goenv.write_bytes(GOENV_BEFORE)
    tools = sandbox.tools()
    (change,) = plan({GO: ALL[GO]}, top=1, tools=tools).changes
    # What a crash right after `go env -w` leaves: the entry still says pending.
    sandbox.journal.begin(
        [
            JournalChange(
                GO,
                "GOPROXY",
                change.command,
                change.previous,
                change.new,
                change.config_file,
                GOENV_BEFORE,
            )
        ]
    )
    sandbox.run(*change.command)

    report = undo(journal=sandbox.journal, tools=tools)

    assert [a.method for a in report.actions] == [UndoMethod.RESTORED_VALUE]
    assert sandbox.go_env("GOPROXY", "GOPRIVATE") == {
        "GOPROXY": "http://127.0.0.9:7000/,direct",
        "GOPRIVATE": "corp.example.test/*",
    }
