"""Fleet inventories: Ansible INI/YAML through ansible-core, plain hosts files, -H lists."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, NoReturn

import pytest

from unstall.errors import ConfigError, UsageError
from unstall.fleet.inventory import Host, hosts_from_list, load_inventory, select_hosts

DB1_VARS = (
    "ansible_host=127.0.0.5 ansible_port=2222 ansible_user=dba"
    " ansible_ssh_private_key_file=/keys/db_ed25519"
)
INI = f"""\
# the build farm
[web]
web[01:50].fixture.test

[db]
db1.fixture.test {DB1_VARS}
db2.fixture.test

[prod:children]
web
db

[prod:vars]
ansible_user=ops
tier=production

[web:vars]
http_port=8080
"""

YAML = """\
all:
  children:
    prod:
      vars:
        ansible_user: ops
        tier: production
      children:
        web:
          vars:
            http_port: "8080"
          hosts:
            web[01:50].fixture.test:
        db:
          hosts:
            db1.fixture.test:
              ansible_host: 127.0.0.5
              ansible_port: 2222
              ansible_user: dba
              ansible_ssh_private_key_file: /keys/db_ed25519
            db2.fixture.test:
"""

PLAIN = """\
# build hosts, one per line

build1.fixture.test
deploy@build2.fixture.test:2222   # the old one
127.0.0.7
root@[::1]:2201
[fd00::7]
fd00::8
"""


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading an inventory must never resolve or connect: fail the test if it tries."""

    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise AssertionError(f"network use while reading an inventory: {args!r}")

    real_getaddrinfo = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        # ansible-core probes getaddrinfo("127.0.0.1", ...) once at import: no DNS, no traffic.
        if str(host).startswith("127."):
            return real_getaddrinfo(host, *args, **kwargs)
        refuse(host, *args)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    monkeypatch.setattr(socket, "gethostbyname", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _write(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# Ansible INI and YAML


@pytest.mark.parametrize(("name", "text"), [("hosts.ini", INI), ("hosts.yml", YAML)])
def test_ansible_inventory_expands_ranges_and_merges_vars(
    tmp_path: Path, name: str, text: str
) -> None:
    hosts = load_inventory(_write(tmp_path, name, text))

    names = [h.name for h in hosts]
    web = [n for n in names if n.startswith("web")]
    assert len(web) == 50
    assert web[0] == "web01.fixture.test"
    assert web[8] == "web09.fixture.test"
    assert web[-1] == "web50.fixture.test"
    assert sorted(names) == sorted([*web, "db1.fixture.test", "db2.fixture.test"])

    by_name = {h.name: h for h in hosts}
    assert by_name["db1.fixture.test"] == Host(
        name="db1.fixture.test",
        address="127.0.0.5",
        port=2222,
        user="dba",  # the host var beats the prod group var
        key_file=Path("/keys/db_ed25519"),
        groups=("db", "prod"),
        vars={"tier": "production"},
    )
    assert by_name["db2.fixture.test"] == Host(
        name="db2.fixture.test",
        address="db2.fixture.test",
        user="ops",  # inherited from the parent group prod
        groups=("db", "prod"),
        vars={"tier": "production"},
    )
    web7 = by_name["web07.fixture.test"]
    assert (web7.address, web7.port, web7.user, web7.key_file) == (
        "web07.fixture.test",
        22,
        "ops",
        None,
    )
    assert web7.groups == ("prod", "web")
    assert dict(web7.vars) == {"http_port": "8080", "tier": "production"}


def test_ini_and_yaml_of_the_same_inventory_give_the_same_hosts(tmp_path: Path) -> None:
    from_ini = load_inventory(_write(tmp_path, "hosts.ini", INI))
    from_yaml = load_inventory(_write(tmp_path, "hosts.yaml", YAML))
    assert sorted(from_ini, key=lambda h: h.name) == sorted(from_yaml, key=lambda h: h.name)


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ("db", ["db1.fixture.test", "db2.fixture.test"]),
        ("web0*", [f"web0{i}.fixture.test" for i in range(1, 10)]),
        ("db1*,web5*", ["db1.fixture.test", "web50.fixture.test"]),
        ("prod:!web", ["db1.fixture.test", "db2.fixture.test"]),
        ("web:&web1?.*", [f"web1{i}.fixture.test" for i in range(10)]),
    ],
)
def test_ansible_limit_selects_groups_and_host_patterns(
    tmp_path: Path, limit: str, expected: list[str]
) -> None:
    hosts = load_inventory(_write(tmp_path, "hosts.ini", INI), limit=limit)
    assert sorted(h.name for h in hosts) == expected


def test_ansible_limit_matching_nothing_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--limit 'dbb' matches no host") as caught:
        load_inventory(_write(tmp_path, "hosts.ini", INI), limit="dbb")
    assert caught.value.exit_code == 2


def test_inventory_directory_with_group_vars(tmp_path: Path) -> None:
    (tmp_path / "inventory" / "group_vars").mkdir(parents=True)
    _write(tmp_path / "inventory", "hosts", "[app]\napp1.fixture.test\napp2.fixture.test\n")
    _write(tmp_path / "inventory" / "group_vars", "app.yml", "ansible_port: 2200\n")

    hosts = load_inventory(str(tmp_path / "inventory"))

    assert [(h.name, h.port, h.groups) for h in hosts] == [
        ("app1.fixture.test", 2200, ("app",)),
        ("app2.fixture.test", 2200, ("app",)),
    ]


def test_secret_vars_are_kept_but_never_shown(tmp_path: Path) -> None:
    source = _write(tmp_path, "hosts.ini", "[app]\napp1.fixture.test ansible_password=s3cr3t\n")
    (host,) = load_inventory(source)
    assert host.vars["ansible_password"] == "s3cr3t"
    assert "s3cr3t" not in repr(host)
    assert "s3cr3t" not in str(host)
    assert len({host, host}) == 1  # hashable: the executor keys its state by host


def test_malformed_ansible_inventory_is_a_config_error_and_ansible_stays_quiet(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path, "broken.yml", "all:\n  hosts:\n    a: [1\n")

    with pytest.raises(ConfigError, match=r"broken\.yml") as caught:
        load_inventory(source)

    assert "could not parse" in caught.value.message
    assert "ansible-inventory" in caught.value.fix
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_ansible_load_writes_nothing_to_the_terminal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    load_inventory(_write(tmp_path, "hosts.ini", INI), limit="nothing*,db1*")
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('app1.fixture.test ansible_host=\'{{ lookup("env", "X") }}\'', "is a template"),
        ("app1.fixture.test ansible_port=ssh", "is not a port"),
        ("app1.fixture.test ansible_port=70000", "is not a port"),
    ],
)
def test_unusable_connection_vars_name_the_host(tmp_path: Path, line: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=rf"host app1\.fixture\.test: .*{reason}"):
        load_inventory(_write(tmp_path, "hosts.ini", f"[app]\n{line}\n"))


# plain hosts files and -H lists


def test_plain_hosts_file_with_users_ports_ipv6_and_comments(tmp_path: Path) -> None:
    hosts = load_inventory(_write(tmp_path, "hosts", PLAIN))
    assert hosts == [
        Host(name="build1.fixture.test", address="build1.fixture.test"),
        Host(
            name="build2.fixture.test:2222",
            address="build2.fixture.test",
            port=2222,
            user="deploy",
        ),
        Host(name="127.0.0.7", address="127.0.0.7"),
        Host(name="[::1]:2201", address="::1", port=2201, user="root"),
        Host(name="fd00::7", address="fd00::7"),
        Host(name="fd00::8", address="fd00::8"),
    ]


def test_plain_hosts_file_needs_no_ansible(tmp_path: Path) -> None:
    """Without ansible-core a plain file still loads; an INI file says what to install."""
    plain = _write(tmp_path, "hosts", PLAIN)
    ini = _write(tmp_path, "hosts.ini", INI)
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["ansible"] = None  # as if ansible-core were not installed
        from unstall.errors import ConfigError
        from unstall.fleet.inventory import load_inventory
        print(len(load_inventory({plain!r})))
        try:
            load_inventory({ini!r})
        except ConfigError as exc:
            print(exc.message)
            print(exc.fix)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "6",
        "reading Ansible inventories needs ansible-core: pip install 'unstall[ansible]'",
        "pip install 'unstall[ansible]'",
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("deploy@build3.fixture.test:99999", "invalid port '99999'"),
        ("deploy@build3.fixture.test:", "invalid port ''"),
        ("[build3.fixture.test]:22", "brackets only enclose an IPv6 address"),
        ("fd00::zz", "'fd00::zz' is not an IPv6 address"),
        ("bad user@build3.fixture.test", "invalid user name"),
        ("-oProxyCommand", "invalid host name"),
        ("deploy@", "no host name"),
    ],
)
def test_malformed_plain_line_is_named(tmp_path: Path, line: str, reason: str) -> None:
    source = _write(tmp_path, "hosts", f"build1.fixture.test\n# fine\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        load_inventory(source)
    assert caught.value.message.startswith(f"{source}, line 3: {reason}")
    assert "[user@]host[:port]" in caught.value.fix


def test_password_in_a_plain_line_is_refused_without_echoing_it(tmp_path: Path) -> None:
    source = _write(tmp_path, "hosts", "deploy:hunter2@build1.fixture.test\n")
    with pytest.raises(ConfigError, match="line 1: a password in the entry") as caught:
        load_inventory(source)
    assert "hunter2" not in str(caught.value)


def test_duplicate_plain_host_is_refused(tmp_path: Path) -> None:
    source = _write(tmp_path, "hosts", "build1.fixture.test\nops@build1.fixture.test:22\n")
    with pytest.raises(ConfigError, match=r"line 2: .*already listed \(line 1\)"):
        load_inventory(source)


def test_empty_or_missing_inventory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lists no host"):
        load_inventory(_write(tmp_path, "hosts", "# nothing yet\n\n"))
    with pytest.raises(UsageError, match="does not exist") as caught:
        load_inventory(str(tmp_path / "absent"))
    assert "-H" in caught.value.fix


def test_host_list_from_flag() -> None:
    assert hosts_from_list("build1.fixture.test, deploy@127.0.0.9:2222,[::1]:2201,") == [
        Host(name="build1.fixture.test", address="build1.fixture.test"),
        Host(name="127.0.0.9:2222", address="127.0.0.9", port=2222, user="deploy"),
        Host(name="[::1]:2201", address="::1", port=2201),
    ]


def test_comma_source_is_a_host_list_as_with_ansible(tmp_path: Path) -> None:
    hosts = load_inventory("127.0.0.2,127.0.0.3,", limit="*.3")
    assert [h.address for h in hosts] == ["127.0.0.3"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("build1.fixture.test,build2.fixture.test:0", "host list entry 2 'build2.fixture.test:0'"),
        (" , ,", "names no host"),
        ("a.fixture.test,a.fixture.test:22", "already listed"),
    ],
)
def test_bad_host_list_names_the_entry(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        hosts_from_list(text)


PLAIN_HOSTS = hosts_from_list(
    "web1.fixture.test,web2.fixture.test,db1.fixture.test:2222,127.0.0.4,[::1]:2201"
)


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        ("web*", ["web1.fixture.test", "web2.fixture.test"]),
        ("web1*:db*", ["web1.fixture.test", "db1.fixture.test:2222"]),
        ("all:!web2*", ["web1.fixture.test", "db1.fixture.test:2222", "127.0.0.4", "[::1]:2201"]),
        ("*.fixture.test,&*1*", ["web1.fixture.test", "db1.fixture.test:2222"]),
        ("::1", ["[::1]:2201"]),
        ("~^(web2|db)", ["web2.fixture.test", "db1.fixture.test:2222"]),
        ("127.0.0.?", ["127.0.0.4"]),
    ],
)
def test_plain_limit_patterns(limit: str, expected: list[str]) -> None:
    assert [h.name for h in select_hosts(PLAIN_HOSTS, limit)] == expected


def test_plain_limit_matching_nothing_is_a_usage_error(tmp_path: Path) -> None:
    source = _write(tmp_path, "hosts", PLAIN)
    with pytest.raises(UsageError, match=rf"--limit 'cache\*' matches no host in {source}"):
        load_inventory(source, limit="cache*")
    with pytest.raises(UsageError, match="holds no pattern"):
        select_hosts(PLAIN_HOSTS, " , :")
