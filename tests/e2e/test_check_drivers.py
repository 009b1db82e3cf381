"""`unstall check --fix` on code using the real drivers: the fixed code still compiles.

The driver modules (go-sql-driver/mysql, pgx, go-redis, grpc and what they import) are
downloaded by `make test` before the suite runs (tests/support/drivers.py); here go works
with GOPROXY=off against that cache, so the test sends nothing beyond the machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run_unstall
from tests.support.drivers import DRIVER_CACHE, go, go_environment, write_module

VET_TIMEOUT = 600.0


@pytest.fixture
def driver_cache() -> Path:
    if not (DRIVER_CACHE / "cache" / "download").is_dir():
        pytest.fail(
            f"the driver modules are not in {DRIVER_CACHE}: run `make test` (it fetches them "
            "first), or `.venv/bin/python -m tests.support.drivers`"
        )
    return DRIVER_CACHE


def rules_found(stdout: str) -> set[str]:
    findings = json.loads(stdout)
    return {f["rule"] for f in findings if f["fix"] is None or not f["fix"]["applied"]}


def test_fixed_code_still_vets_and_a_second_fix_changes_nothing(
    tmp_path: Path, driver_cache: Path
) -> None:
    module = write_module(tmp_path / "module")
    env = go_environment(driver_cache, tmp_path, offline=True)
    go(["vet", "./..."], cwd=module, env=env, timeout=VET_TIMEOUT)

    before = run_unstall(["check", ".", "--format", "json"], cwd=module, env=env)
    assert before.returncode == 1, before.stderr
    assert {f"UT00{n}" for n in range(1, 9)} <= rules_found(before.stdout)

    fixed = run_unstall(["check", ".", "--fix", "--unsafe-fixes"], cwd=module, env=env)
    assert fixed.returncode in (0, 1), fixed.stderr
    source = (module / "main.go").read_text()
    assert source != write_module(tmp_path / "pristine").joinpath("main.go").read_text()
    assert "ReadHeaderTimeout" in source
    assert "defer cancel()" in source
    go(["vet", "./..."], cwd=module, env=env, timeout=VET_TIMEOUT)

    again = run_unstall(["check", ".", "--fix", "--unsafe-fixes"], cwd=module, env=env)
    assert again.returncode == fixed.returncode
    assert (module / "main.go").read_text() == source
