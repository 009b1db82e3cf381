"""--metrics-textfile as a user runs it: doctor and go leave their metrics for Prometheus.

Every source and upstream is a loopback server the test starts; the environment is
isolated as in the other end-to-end tests.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from tests.support.cli import run_unstall
from tests.support.gocmd import GoEnvFactory, go_environment
from tests.support.modfactory import FixtureGraph
from tests.support.netfaults import probe_upstream
from tests.support.upstream import UpstreamPool

RUN_BOUND = 60.0  # did-not-hang bound for doctor with one-second phases


def _samples(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if not line.startswith("#")]


def test_doctor_writes_a_failing_source_as_down_and_records_the_run(tmp_path: Path) -> None:
    home = tmp_path / "unstall-home"
    textfile = tmp_path / "textfile" / "doctor.prom"  # its directory does not exist yet
    env = go_environment(tmp_path, goproxy="off", extra={"UNSTALL_HOME": str(home)})
    with probe_upstream(mode="refuse") as closed:
        source = closed.url + "/"
        done = run_unstall(
            ["doctor", "--source", source, "--timeout", "1", "--metrics-textfile", str(textfile)],
            cwd=tmp_path,
            env=env,
            timeout=RUN_BOUND,
        )
    assert done.returncode == 1, done.stderr
    assert "unstall: metrics:" not in done.stderr
    samples = _samples(textfile)
    assert f'unstall_doctor_source_up{{command="doctor",kind="url",source="{source}"}} 0.0' in (
        samples
    )
    assert 'unstall_run_exit_code{command="doctor"} 1.0' in samples
    assert not any(s.startswith("unstall_run_last_success_timestamp_seconds") for s in samples)

    with sqlite3.connect(home / "history.sqlite3") as db:
        runs = db.execute("SELECT run_id, command, exit_code FROM runs").fetchall()
        verdicts = db.execute(
            "SELECT run_id, source, verdict, layer, cause FROM doctor_verdicts"
        ).fetchall()
    assert [(command, code) for _, command, code in runs] == [("doctor", 1)]
    assert verdicts == [(runs[0][0], source, "fail", "tcp", "tcp-refused")]


def test_an_unwritable_textfile_is_reported_and_the_exit_code_is_doctors(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    env = go_environment(
        tmp_path, goproxy="off", extra={"UNSTALL_HOME": str(tmp_path / "unstall-home")}
    )
    with probe_upstream() as healthy:
        done = run_unstall(
            [
                "doctor",
                "--source",
                healthy.url + "/",
                "--timeout",
                "1",
                "--metrics-textfile",
                str(blocker / "doctor.prom"),
            ],
            cwd=tmp_path,
            env=env,
            timeout=RUN_BOUND,
        )
    assert done.returncode == 0, done.stderr
    assert f"unstall: metrics: cannot write the metrics textfile {blocker}" in done.stderr


def test_go_writes_its_attempts_and_its_success(
    tmp_path: Path,
    go_env: GoEnvFactory,
    upstream_factory: UpstreamPool,
    fixture_graph: FixtureGraph,
) -> None:
    healthy = upstream_factory(fixture_graph.modules)
    main = fixture_graph.write_main(tmp_path / "main")
    env = go_env(healthy.url, {"GOSUMDB": "off", "UNSTALL_HOME": str(tmp_path / "home")})
    textfile = tmp_path / "go.prom"
    started = time.time()
    done = run_unstall(
        ["go", "--metrics-textfile", str(textfile), "mod", "download"], cwd=main, env=env
    )
    assert done.returncode == 0, done.stderr
    samples = _samples(textfile)
    ok_zips = next(
        s
        for s in samples
        if s.startswith("unstall_artifacts_total{")
        and 'kind="zip"' in s
        and 'outcome="ok"' in s
        and 'command="go"' in s
    )
    assert float(ok_zips.rsplit(" ", 1)[1]) == len(fixture_graph.closure)
    assert any(
        s.startswith("unstall_upstream_attempts_total{")
        and f'upstream="{healthy.url}"' in s
        and 'outcome="ok"' in s
        for s in samples
    )
    assert 'unstall_run_exit_code{command="go"} 0.0' in samples
    (success,) = [
        s
        for s in samples
        if s.startswith('unstall_run_last_success_timestamp_seconds{command="go"}')
    ]
    assert float(success.rsplit(" ", 1)[1]) >= int(started)
