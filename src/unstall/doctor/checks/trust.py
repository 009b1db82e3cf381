"""CA bundle variables and the system trust store that TLS verification relies on."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Final

from cryptography import x509

from unstall.doctor.checks.context import CheckContext
from unstall.doctor.model import Check, CheckStatus
from unstall.redact import redact

# Each names a single PEM file (some tools add it to, others replace, the system store).
CA_FILE_VARS: Final = (
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "PIP_CERT",
    "GIT_SSL_CAINFO",
)
# A directory of certificates; OpenSSL and go accept a ':'-separated list.
CA_DIR_VARS: Final = ("SSL_CERT_DIR",)
_PEM_BLOCK: Final = re.compile(
    rb"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----", re.DOTALL
)
_MAX_BUNDLE_BYTES: Final = 32 * 1024 * 1024
_INSTALL_CAS: Final = (
    "install the CA certificates: `apt-get install ca-certificates` (Debian/Ubuntu), "
    "`dnf install ca-certificates` (Fedora/RHEL), `apk add ca-certificates` (Alpine)"
)


def count_certificates(path: Path) -> int:
    """How many parseable PEM certificates ``path`` holds (bad blocks are skipped)."""
    with path.open("rb") as handle:
        data = handle.read(_MAX_BUNDLE_BYTES)
    count = 0
    with warnings.catch_warnings():
        # Old roots with non-positive serials still load; their deprecation notice is
        # cryptography's business, not the user's.
        warnings.simplefilter("ignore")
        for block in _PEM_BLOCK.findall(data):
            try:
                x509.load_pem_x509_certificate(block)
            except ValueError:
                continue
            count += 1
    return count


def _file_problem(path: Path) -> tuple[str, int]:
    """('', count) for a usable bundle, else (what is wrong, 0)."""
    if not path.exists():
        return "does not exist", 0
    if path.is_dir():
        return "is a directory, not a file", 0
    try:
        count = count_certificates(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})", 0
    if count == 0:
        return "holds no PEM certificate", 0
    return "", count


def _dir_problem(path: Path) -> tuple[str, int]:
    if not path.exists():
        return "does not exist", 0
    if not path.is_dir():
        return "is not a directory", 0
    try:
        files = sum(1 for entry in path.iterdir() if entry.is_file())
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})", 0
    if files == 0:
        return "holds no certificate files", 0
    return "", files


def check_trust(context: CheckContext) -> list[Check]:
    """``ca-*`` per set CA variable, and ``trust-store`` for the system's own store."""
    found = []
    for name in (*CA_FILE_VARS, *CA_DIR_VARS):
        value = context.environ.get(name, "").strip()
        if value:
            found.append(_ca_variable(name, value))
    found.append(_trust_store(context))
    return found


def _ca_variable(name: str, value: str) -> Check:
    check_id = "ca-" + name.lower().replace("_", "-")
    is_dir = name in CA_DIR_VARS
    paths = [Path(p) for p in value.split(os.pathsep) if p] if is_dir else [Path(value)]
    facts = []
    for path in paths:
        problem, count = _dir_problem(path) if is_dir else _file_problem(path)
        if problem:
            return Check(
                check_id,
                CheckStatus.FAIL,
                redact(
                    f"{name}={value}: {path} {problem}, so TLS verification fails for the "
                    "programs that read it"
                ),
                fix=f"unset {name} to use the system store, or export {name}=<path to "
                + ("a directory of CA certificates>" if is_dir else "a PEM CA bundle>"),
            )
        facts.append(f"{path}: {count} {'files' if is_dir else 'certificates'}")
    return Check(check_id, CheckStatus.OK, redact(f"{name}=" + ", ".join(facts)))


def _trust_store(context: CheckContext) -> Check:
    paths = context.verify_paths()
    facts = []
    # The compiled-in locations, not the env-overridden ones: the variables are
    # judged above, and this is the store everything falls back to.
    if paths.openssl_cafile:
        problem, count = _file_problem(Path(paths.openssl_cafile))
        if not problem:
            facts.append(f"{paths.openssl_cafile} ({count} certificates)")
    if paths.openssl_capath:
        problem, count = _dir_problem(Path(paths.openssl_capath))
        if not problem:
            facts.append(f"{paths.openssl_capath} ({count} files)")
    if facts:
        return Check("trust-store", CheckStatus.OK, "system trust store: " + ", ".join(facts))
    where = " or ".join(p for p in (paths.openssl_cafile, paths.openssl_capath) if p) or "-"
    return Check(
        "trust-store",
        CheckStatus.FAIL,
        f"no system trust store (looked at {where}): every https download fails "
        "certificate verification",
        fix=_INSTALL_CAS + "; or export SSL_CERT_FILE=<a PEM CA bundle>",
    )


__all__ = ["CA_DIR_VARS", "CA_FILE_VARS", "check_trust", "count_certificates"]
