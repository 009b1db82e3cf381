"""The ``cache`` settings table and the sizes it accepts ("500MiB", "20GB", bytes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from unstall.config import CacheSettings, load_settings, parse_size
from unstall.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1048576", 1_048_576),
        ("0", 0),
        ("500MiB", 500 * 1024**2),
        ("500mib", 500 * 1024**2),
        ("500Mi", 500 * 1024**2),
        ("500MB", 500 * 1000**2),
        ("500m", 500 * 1000**2),
        ("20GB", 20 * 1000**3),
        ("20GiB", 20 * 1024**3),
        ("1.5g", 1_500_000_000),
        ("1.5GiB", 3 * 512 * 1024**2),
        ("64k", 64_000),
        ("64KiB", 65_536),
        ("2TB", 2 * 1000**4),
        ("1TiB", 1024**4),
        ("123b", 123),
        ("123B", 123),
        (" 10 MB ", 10_000_000),
        ("2.5", 2),
        ("2.01k", 2010),
        ("2.05g", 2_050_000_000),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text",
    [
        *("", " ", "MiB", "lots", "-5MB", "5 XB", "5PB", "1e9", "5MiBs"),
        *("5 M B", "1,000", "1.5.2G", "5ib", "5i"),
    ],
)
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a size") as caught:
        parse_size(text)
    assert repr(text) in str(caught.value)


def test_cache_defaults(home: Path, project: Path) -> None:
    cache = load_settings(env={"HOME": str(home)}, cwd=project).cache
    assert cache == CacheSettings()
    assert cache.list_ttl == 60.0
    assert cache.negative_ttl == 30.0
    assert cache.max_size is None


def test_sizes_with_units_from_overrides(home: Path, project: Path) -> None:
    settings = load_settings(
        env={"HOME": str(home)}, cwd=project, overrides={"cache": {"max_size": "500MiB"}}
    )
    assert settings.cache.max_size == 500 * 1024**2
    # The rest of the table keeps its defaults.
    assert settings.cache.list_ttl == 60.0


def test_size_in_bytes_from_overrides(home: Path, project: Path) -> None:
    settings = load_settings(
        env={"HOME": str(home)}, cwd=project, overrides={"cache": {"max_size": 4096}}
    )
    assert settings.cache.max_size == 4096


def test_cache_table_from_the_environment(home: Path, project: Path) -> None:
    env = {
        "HOME": str(home),
        "UNSTALL_CACHE__MAX_SIZE": "20GB",
        "UNSTALL_CACHE__LIST_TTL": "5",
        "UNSTALL_CACHE__NEGATIVE_TTL": "0",
    }
    cache = load_settings(env=env, cwd=project).cache
    assert cache.max_size == 20 * 1000**3
    assert cache.list_ttl == 5.0
    assert cache.negative_ttl == 0.0


def test_cache_table_from_toml_under_env_under_overrides(home: Path, project: Path) -> None:
    (project / "unstall.toml").write_text(
        '[cache]\nmax_size = "1.5g"\nlist_ttl = 120\nnegative_ttl = 10\n'
    )
    from_toml = load_settings(env={"HOME": str(home)}, cwd=project).cache
    assert from_toml == CacheSettings(list_ttl=120, negative_ttl=10, max_size=1_500_000_000)
    env = {"HOME": str(home), "UNSTALL_CACHE__MAX_SIZE": "2GiB"}
    from_env = load_settings(env=env, cwd=project).cache
    assert from_env.max_size == 2 * 1024**3
    assert from_env.list_ttl == 120.0  # still from the file
    overridden = load_settings(env=env, cwd=project, overrides={"cache": {"max_size": "1MB"}})
    assert overridden.cache.max_size == 1_000_000
    assert overridden.cache.negative_ttl == 10.0


@pytest.mark.parametrize("value", ["lots", "-1GB", "5PB", ""])
def test_invalid_size_in_the_environment_is_a_config_error(
    home: Path, project: Path, value: str
) -> None:
    env = {"HOME": str(home), "UNSTALL_CACHE__MAX_SIZE": value}
    with pytest.raises(ConfigError, match=r"cache\.max_size") as caught:
        load_settings(env=env, cwd=project)
    assert "not a size" in caught.value.message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("value", ["0", "0MiB", "0.1b", 0, -5])
def test_a_size_must_be_positive(home: Path, project: Path, value: str | int) -> None:
    with pytest.raises(ConfigError, match=r"cache\.max_size"):
        load_settings(
            env={"HOME": str(home)}, cwd=project, overrides={"cache": {"max_size": value}}
        )


def test_invalid_size_in_toml_is_a_config_error(home: Path, project: Path) -> None:
    (project / "unstall.toml").write_text('[cache]\nmax_size = "a lot"\n')
    with pytest.raises(ConfigError, match=r"cache\.max_size.*not a size"):
        load_settings(env={"HOME": str(home)}, cwd=project)


@pytest.mark.parametrize(
    ("key", "value"), [("list_ttl", -1), ("negative_ttl", -0.5), ("list_ttl", "soon")]
)
def test_invalid_ttls_are_config_errors(
    home: Path, project: Path, key: str, value: float | str
) -> None:
    with pytest.raises(ConfigError, match=rf"cache\.{key}"):
        load_settings(env={"HOME": str(home)}, cwd=project, overrides={"cache": {key: value}})


def test_unknown_cache_key_is_a_config_error(home: Path, project: Path) -> None:
    env = {"HOME": str(home), "UNSTALL_CACHE__MAX_SIZES": "1GB"}
    with pytest.raises(ConfigError, match=r"cache\.max_sizes"):
        load_settings(env=env, cwd=project)


def test_cache_settings_are_frozen() -> None:
    cache = CacheSettings.model_validate({"max_size": "1KiB"})
    assert cache.max_size == 1024
    with pytest.raises(ValueError, match="frozen"):
        cache.max_size = 1  # type: ignore[misc]
