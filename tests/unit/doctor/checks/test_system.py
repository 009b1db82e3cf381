"""OS, user, and a module cache owned by someone else."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytest

from tests.unit.doctor.checks import by_id, make_context
from unstall.doctor.checks.system import check_system
from unstall.doctor.model import CheckStatus


def _cache(tmp_path: Path) -> Path:
    cache = tmp_path / "gomodcache"
    (cache / "cache" / "download").mkdir(parents=True)
    return cache


def test_os_and_architecture_are_reported(tmp_path: Path) -> None:
    check = by_id(check_system(make_context(tmp_path)), "os")

    assert check.status is CheckStatus.INFO
    assert platform.machine() in check.message
    assert platform.system() in check.message


def test_an_ordinary_user_is_a_fact(tmp_path: Path) -> None:
    check = by_id(check_system(make_context(tmp_path, uid=54321)), "user")

    assert check.status is CheckStatus.INFO
    assert "uid 54321" in check.message


def test_root_alone_is_only_a_fact_and_says_who_used_sudo(tmp_path: Path) -> None:
    context = make_context(tmp_path, uid=0, environ={"SUDO_USER": "alice"})

    checks = check_system(context)

    user = by_id(checks, "user")
    assert user.status is CheckStatus.INFO
    assert "root" in user.message
    assert "alice" in user.message
    assert all(c.status is not CheckStatus.WARN for c in checks)


def test_a_module_cache_not_created_yet_is_fine(tmp_path: Path) -> None:
    context = make_context(tmp_path, go_env={"GOMODCACHE": str(tmp_path / "nope")})

    check = by_id(check_system(context), "module-cache-owner")

    assert check.status is CheckStatus.OK
    assert "does not exist yet" in check.message


def test_a_cache_owned_by_the_user_is_ok(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    context = make_context(tmp_path, uid=cache.stat().st_uid, go_env={"GOMODCACHE": str(cache)})

    assert by_id(check_system(context), "module-cache-owner").status is CheckStatus.OK


def test_a_cache_owned_by_another_user_cannot_be_extended(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    owner = cache.stat().st_uid
    me = owner + 1000  # anyone but the owner, and not root
    context = make_context(tmp_path, uid=me, go_env={"GOMODCACHE": str(cache)})

    check = by_id(check_system(context), "module-cache-owner")

    assert check.status is CheckStatus.WARN
    assert "permission denied" in check.message
    assert check.fix == f"sudo chown -R $(id -u):$(id -g) {cache}"


def test_root_writing_into_a_users_cache_is_a_warning(tmp_path: Path) -> None:
    cache = _cache(tmp_path)
    if cache.stat().st_uid == 0:
        if os.geteuid() != 0:
            pytest.skip("cannot make a cache owned by someone other than root")
        os.chown(cache, 4242, 4242)
    context = make_context(tmp_path, uid=0, go_env={"GOMODCACHE": str(cache)})

    check = by_id(check_system(context), "module-cache-owner")

    assert check.status is CheckStatus.WARN
    assert "running as root" in check.message
    assert "root-owned" in check.message
    assert "no sudo" in check.fix
