"""CA bundle variables and the system trust store."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from tests.unit.doctor.checks import by_id, make_context
from unstall.doctor.checks.trust import check_trust, count_certificates
from unstall.doctor.model import CheckStatus


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "corp-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


def _store(cafile: Path | None, capath: Path | None) -> Callable[[], ssl.DefaultVerifyPaths]:
    def paths() -> ssl.DefaultVerifyPaths:
        return ssl.DefaultVerifyPaths(
            "", "", "SSL_CERT_FILE", str(cafile or ""), "SSL_CERT_DIR", str(capath or "")
        )

    return paths


def test_a_real_ca_bundle_is_counted(tmp_path: Path, ca_file: Path) -> None:
    second = trustme.CA().cert_pem.bytes()
    ca_file.write_bytes(ca_file.read_bytes() + b"junk\n" + second)

    assert count_certificates(ca_file) == 2
    check = by_id(
        check_trust(make_context(tmp_path, environ={"SSL_CERT_FILE": str(ca_file)})),
        "ca-ssl-cert-file",
    )
    assert check.status is CheckStatus.OK
    assert "2 certificates" in check.message


def test_a_ca_variable_naming_a_missing_file_fails(tmp_path: Path) -> None:
    environ = {"REQUESTS_CA_BUNDLE": str(tmp_path / "gone.pem")}

    check = by_id(check_trust(make_context(tmp_path, environ=environ)), "ca-requests-ca-bundle")

    assert check.status is CheckStatus.FAIL
    assert "does not exist" in check.message
    assert "unset REQUESTS_CA_BUNDLE" in check.fix


def test_a_ca_file_without_certificates_fails(tmp_path: Path) -> None:
    key_only = tmp_path / "key.pem"
    key_only.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    environ = {"SSL_CERT_FILE": str(key_only), "NODE_EXTRA_CA_CERTS": str(broken)}

    checks = check_trust(make_context(tmp_path, environ=environ))

    for check_id in ("ca-ssl-cert-file", "ca-node-extra-ca-certs"):
        check = by_id(checks, check_id)
        assert check.status is CheckStatus.FAIL
        assert "holds no PEM certificate" in check.message


def test_a_directory_given_as_a_bundle_file_fails(tmp_path: Path) -> None:
    check = by_id(
        check_trust(make_context(tmp_path, environ={"PIP_CERT": str(tmp_path)})), "ca-pip-cert"
    )

    assert check.status is CheckStatus.FAIL
    assert "is a directory" in check.message


def test_ssl_cert_dir_entries_must_exist_and_hold_files(tmp_path: Path, ca_file: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    good = make_context(tmp_path, environ={"SSL_CERT_DIR": str(tmp_path)})
    bad = make_context(tmp_path, environ={"SSL_CERT_DIR": f"{tmp_path}:{empty}"})

    assert by_id(check_trust(good), "ca-ssl-cert-dir").status is CheckStatus.OK
    failed = by_id(check_trust(bad), "ca-ssl-cert-dir")
    assert failed.status is CheckStatus.FAIL
    assert f"{empty} holds no certificate files" in failed.message


def test_the_system_store_is_ok_when_its_bundle_holds_certificates(
    tmp_path: Path, ca_file: Path
) -> None:
    context = make_context(tmp_path, verify_paths=_store(ca_file, None))

    check = by_id(check_trust(context), "trust-store")

    assert check.status is CheckStatus.OK
    assert f"{ca_file} (1 certificates)" in check.message


def test_a_missing_or_empty_system_store_fails(tmp_path: Path) -> None:
    empty_file = tmp_path / "empty.pem"
    empty_file.write_text("")
    empty_dir = tmp_path / "certs"
    empty_dir.mkdir()
    context = make_context(tmp_path, verify_paths=_store(empty_file, empty_dir))

    check = by_id(check_trust(context), "trust-store")

    assert check.status is CheckStatus.FAIL
    assert "apt-get install ca-certificates" in check.fix
    assert str(empty_file) in check.message


def test_unset_ca_variables_are_not_reported(tmp_path: Path) -> None:
    checks = check_trust(make_context(tmp_path, environ={"SSL_CERT_FILE": ""}))

    assert [c.id for c in checks] == ["trust-store"]
