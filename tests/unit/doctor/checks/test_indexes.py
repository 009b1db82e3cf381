"""pip and npm index settings, and pip's extra-index-url risk."""

from __future__ import annotations

from pathlib import Path

from tests.unit.doctor.checks import FakeRunner, by_id, make_context, ok
from unstall.doctor.checks import CommandResult
from unstall.doctor.checks.indexes import check_indexes, parse_pip_config
from unstall.doctor.model import Check, CheckStatus

PIP_LIST = (
    "global.index-url='https://deploy:s3cr3t@pypi.example.test/simple'\n"
    "global.cert='/etc/ssl/certs/bundle.pem'\n"
    ":env:.index-url='https://env.example.test/simple'\n"
)


def _run(tmp_path: Path, runner: FakeRunner, environ: dict[str, str] | None = None) -> list[Check]:
    return check_indexes(make_context(tmp_path, runner=runner, environ=environ))


def test_pip_config_lines_are_parsed_including_several_urls() -> None:
    output = (
        PIP_LIST + "user.extra-index-url='\\nhttps://a.example.test\\nhttps://b.example.test'\n"
    )

    pairs = parse_pip_config(output)

    assert pairs[0] == ("global.index-url", "https://deploy:s3cr3t@pypi.example.test/simple")
    assert pairs[-1] == ("user.extra-index-url", "\nhttps://a.example.test\nhttps://b.example.test")


def test_pip_index_is_reported_redacted(tmp_path: Path) -> None:
    checks = _run(tmp_path, FakeRunner({("pip", "config", "list"): ok(PIP_LIST)}))

    check = by_id(checks, "pip-index")
    assert check.status is CheckStatus.INFO
    assert "global.index-url=https://***@pypi.example.test/simple" in check.message
    assert "s3cr3t" not in check.message
    assert not [c for c in checks if c.id == "pip-extra-index"]


def test_pip_is_found_through_python3_when_pip_is_not_on_path(tmp_path: Path) -> None:
    runner = FakeRunner({("python3", "-m", "pip"): ok(PIP_LIST)})

    check = by_id(_run(tmp_path, runner), "pip-index")

    assert "pypi.example.test" in check.message
    assert runner.calls[0][0] == "pip"


def test_pip_index_url_variable_is_reported(tmp_path: Path) -> None:
    environ = {"PIP_INDEX_URL": "https://mirror.example.test/simple"}

    check = by_id(_run(tmp_path, FakeRunner({("pip",): ok("")}), environ), "pip-index")

    assert check.message == "PIP_INDEX_URL=https://mirror.example.test/simple"


def test_extra_index_urls_warn_about_dependency_confusion(tmp_path: Path) -> None:
    output = "global.extra-index-url='https://private.example.test/simple'\n"
    environ = {"PIP_EXTRA_INDEX_URL": "https://u:pw-9z@other.example.test/simple"}

    checks = _run(tmp_path, FakeRunner({("pip",): ok(output)}), environ)

    check = by_id(checks, "pip-extra-index")
    assert check.status is CheckStatus.WARN
    assert "dependency confusion" in check.message
    assert "private.example.test" in check.message
    assert "other.example.test" in check.message
    assert "pw-9z" not in check.message + check.fix
    assert "`pip config unset global.extra-index-url`" in check.fix
    assert "`unset PIP_EXTRA_INDEX_URL`" in check.fix


def test_missing_pip_and_npm_are_information_only(tmp_path: Path) -> None:
    checks = _run(tmp_path, FakeRunner())

    assert [(c.id, c.status) for c in checks] == [
        ("pip-index", CheckStatus.INFO),
        ("npm-registry", CheckStatus.INFO),
    ]
    assert "not installed" in checks[0].message
    assert "not installed" in checks[1].message


def test_npm_registry_and_its_variable_are_reported(tmp_path: Path) -> None:
    runner = FakeRunner({("npm", "config", "get", "registry"): ok("https://npm.example.test/\n")})
    environ = {"npm_config_registry": "https://npm.example.test/"}

    check = by_id(_run(tmp_path, runner, environ), "npm-registry")

    assert check.message == (
        "npm registry: https://npm.example.test/ "
        "(set by npm_config_registry=https://npm.example.test/)"
    )


def test_a_broken_npm_config_warns(tmp_path: Path) -> None:
    runner = FakeRunner({("npm",): CommandResult(1, "", "npm ERR! bad .npmrc line 3\n")})

    check = by_id(_run(tmp_path, runner), "npm-registry")

    assert check.status is CheckStatus.WARN
    assert "bad .npmrc" in check.message
    assert check.fix
