"""The one catalogue of failure causes: cause id -> layer, explanation, fix.

Every error in :mod:`unstall.errors` carries one of these ids, so `unstall go`,
`unstall doctor` and the reports explain the same failure with the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Cause:
    """What went wrong at which layer, and the concrete thing to do about it."""

    id: str
    layer: str
    explanation: str
    fix: str


_CAUSES: Final[tuple[Cause, ...]] = (
    Cause("ok", "none", "Everything answered in time.", "Nothing to do."),
    Cause(
        "dns-nxdomain",
        "dns",
        "The host name does not exist for this resolver.",
        "Check the URL's spelling, or the split-DNS/VPN that should resolve it.",
    ),
    Cause(
        "dns-timeout",
        "dns",
        "The resolver did not answer in time.",
        "Check /etc/resolv.conf and that UDP/TCP port 53 to the resolver is open.",
    ),
    Cause(
        "dns-error",
        "dns",
        "Name resolution failed.",
        "Check /etc/resolv.conf and the resolver's health.",
    ),
    Cause(
        "tcp-refused",
        "tcp",
        "The host answered the connection with a reset (nothing listens).",
        "Check the port and that the mirror or proxy is running.",
    ),
    Cause(
        "tcp-timeout",
        "tcp",
        "No answer to the connection attempt: packets are dropped.",
        "A firewall drops the traffic: use a reachable mirror (`unstall mirrors`) or a proxy.",
    ),
    Cause(
        "tcp-reset",
        "tcp",
        "The connection was reset by the peer or by a middlebox.",
        "Retry; if it persists a middlebox injects resets: use another mirror or a proxy.",
    ),
    Cause(
        "tls-timeout",
        "tls",
        "The TLS handshake did not finish in time.",
        "The ClientHello is dropped or the path MTU is broken: try another mirror or proxy.",
    ),
    Cause(
        "tls-untrusted",
        "tls",
        "The server certificate does not verify against the trust store.",
        "TLS interception: install the corporate CA and point SSL_CERT_FILE at it.",
    ),
    Cause(
        "tls-error",
        "tls",
        "The TLS handshake failed.",
        "Check the mirror's certificate and the local trust store.",
    ),
    Cause(
        "proxy-refused",
        "proxy",
        "The configured HTTP proxy refused the connection.",
        "Check HTTPS_PROXY/HTTP_PROXY: the proxy is down or the port is wrong.",
    ),
    Cause(
        "proxy-timeout",
        "proxy",
        "The configured HTTP proxy did not answer in time.",
        "Check HTTPS_PROXY/HTTP_PROXY and the proxy's health.",
    ),
    Cause(
        "proxy-auth-required",
        "proxy",
        "The proxy answered 407 Proxy Authentication Required.",
        "Put credentials in the proxy URL, or run a local NTLM/Negotiate helper.",
    ),
    Cause(
        "proxy-protocol",
        "proxy",
        "The proxy did not speak the expected protocol.",
        "Use an http:// proxy URL for a plain HTTP proxy, not https://.",
    ),
    Cause(
        "http-client-error",
        "http",
        "The server rejected the request (4xx).",
        "Check the URL and credentials; private modules belong in GOPRIVATE.",
    ),
    Cause(
        "http-not-found",
        "http",
        "No upstream has this module version (404/410).",
        "Check the module path and version; for a private module set GOPRIVATE.",
    ),
    Cause(
        "http-server-error",
        "http",
        "The server failed (5xx) or asked to slow down (429).",
        "Retry later or add a healthy mirror: `unstall go` retries and fails over for you.",
    ),
    Cause(
        "http-timeout",
        "http",
        "The server accepted the request but sent no response in time.",
        "The mirror is overloaded or stalled: add another mirror to fail over to.",
    ),
    Cause(
        "transfer-stall",
        "transfer",
        "The body stopped arriving mid-transfer.",
        "Retry (downloads resume with Range); if it persists use another mirror.",
    ),
    Cause(
        "transfer-slow",
        "transfer",
        "The body arrived slower than the minimum throughput.",
        "Use a faster mirror, or lower UNSTALL_TIMEOUTS__MIN_THROUGHPUT.",
    ),
    Cause(
        "transfer-truncated",
        "transfer",
        "The connection closed before the whole body arrived.",
        "Retry (downloads resume with Range); if it persists use another mirror.",
    ),
    Cause(
        "deadline-exceeded",
        "transfer",
        "The artifact did not arrive within its total deadline.",
        "Raise UNSTALL_TIMEOUTS__TOTAL, or add a faster mirror.",
    ),
    Cause(
        "tcp-unreachable",
        "tcp",
        "No route to the host (an ICMP unreachable or a local routing problem).",
        "Check the network route, VPN or firewall rules; use a mirror or a proxy.",
    ),
    Cause(
        "sumdb-unsupported",
        "http",
        "The module proxy does not proxy the checksum database, so go contacts it directly.",
        "Make sure GOSUMDB's host is reachable, or use a proxy that proxies /sumdb/.",
    ),
    Cause(
        "retry-budget-exhausted",
        "policy",
        "Retries were stopped to protect a failing upstream.",
        "Wait for the upstream to recover, or add another mirror.",
    ),
    Cause(
        "integrity-size",
        "integrity",
        "The artifact is larger than Go allows.",
        "The mirror serves a bogus file: report it and use another mirror.",
    ),
    Cause(
        "integrity-zip",
        "integrity",
        "The module zip is corrupt or has entries outside module@version/.",
        "The mirror serves a bogus zip: report it and use another mirror.",
    ),
    Cause(
        "integrity-info",
        "integrity",
        "The .info answer is not JSON with the requested Version.",
        "The mirror serves bogus metadata: report it and use another mirror.",
    ),
    Cause(
        "checksum-mismatch",
        "integrity",
        "The content's h1 hash differs from the one go.sum records.",
        "Never disable verification: find out which side changed (retagged version or "
        "tampering mirror) and fix go.sum only if you trust the new content.",
    ),
    Cause(
        "private-module",
        "policy",
        "The module path matches GOPRIVATE/GONOPROXY.",
        "go fetches it directly; make sure git can reach it.",
    ),
    Cause(
        "bad-request",
        "input",
        "The request names no valid module path or version.",
        "Check the module path and version syntax.",
    ),
    Cause(
        "config-invalid",
        "config",
        "The configuration is invalid.",
        "Fix the named setting in unstall.toml, the UNSTALL_* variable or the flag.",
    ),
    Cause(
        "ssh-handshake-timeout",
        "ssh",
        "The TCP connection opened but the SSH handshake or login did not finish in time.",
        "Check that sshd answers on that port (ssh -v) and is not overloaded (MaxStartups).",
    ),
    Cause(
        "ssh-host-key-changed",
        "ssh",
        "The host presented a different key than known_hosts records for it.",
        "Find out why the key changed; if it is legitimate, remove the old line with "
        "`ssh-keygen -R <host>` and connect again.",
    ),
    Cause(
        "ssh-host-key-unknown",
        "ssh",
        "The host's key is not in known_hosts.",
        "Verify the key and add it (ssh-keyscan), or pass --accept-new to record new hosts.",
    ),
    Cause(
        "ssh-auth-failed",
        "ssh",
        "The host refused every key offered.",
        "Check the user and key (ansible_user, ansible_ssh_private_key_file) and the "
        "host's authorized_keys.",
    ),
    Cause(
        "ssh-connection-lost",
        "ssh",
        "The SSH connection dropped while the command ran.",
        "Check the host's health and the network; the run retries transient losses.",
    ),
    Cause(
        "ssh-error",
        "ssh",
        "The SSH session failed.",
        "Run `ssh -v` to the host to see the error.",
    ),
    Cause(
        "tool-missing",
        "environment",
        "A tool unstall needs to run (pip, npm, go) is not installed.",
        "Install it, or leave its ecosystem out (e.g. --ecosystem go).",
    ),
    Cause(
        "tool-failed",
        "environment",
        "A tool's command failed.",
        "Run the command shown yourself and fix the error it prints.",
    ),
    Cause(
        "tool-unusable",
        "environment",
        "A tool is installed but cannot be run or gives output unstall cannot read.",
        "Check the tool's installation (run it with --version).",
    ),
    Cause(
        "go-missing",
        "environment",
        "The go command was not found.",
        "Install Go (https://go.dev/doc/install) and put it on PATH.",
    ),
    Cause(
        "go-env-error",
        "environment",
        "`go env` failed.",
        "Run `go env` yourself and fix the error it prints.",
    ),
    Cause(
        "gosum-malformed",
        "input",
        "A go.sum line is malformed.",
        "Run `go mod tidy` to rewrite go.sum.",
    ),
    Cause(
        "upstream-none",
        "config",
        "No module proxy is configured (GOPROXY is direct or off).",
        "Set GOPROXY to a module proxy, or add mirrors to unstall.toml.",
    ),
    # Causes read from go's own error output (unstall.doctor.classify). "<host>" and
    # "<module>" in a fix are filled in from the failing module when it is known.
    Cause(
        "module-not-public",
        "config",
        "A public module proxy or checksum database cannot fetch this module (410 Gone, git "
        "asked for credentials, or its origin is unreachable from there): the module is "
        "private, or its path is misspelled.",
        "For a private module, let go fetch it directly and skip the checksum database: "
        "`go env -w GOPRIVATE=<host>/*`; otherwise check the module path.",
    ),
    Cause(
        "version-missing",
        "http",
        "The proxy has no such module version (404 Not Found, unknown revision, bad "
        "upstream): the version does not exist, or a mirror's cached list is stale.",
        "Check the path and version: `go list -m -versions <module>`; for a tag pushed "
        "minutes ago retry later or put a fresher proxy first in GOPROXY.",
    ),
    Cause(
        "mirror-deprecated",
        "http",
        "The mirror answered 418 I'm a teapot: it is retired or refuses this client.",
        "Take it out of GOPROXY (`go env -w GOPROXY=<proxy-url>,direct`), or let "
        "`unstall mirrors` pick a working one.",
    ),
    Cause(
        "sumdb-proxy-error",
        "http",
        "The module proxy proxies the checksum database but failed to answer for it.",
        "Retry later, or put a proxy whose /sumdb/ works first in GOPROXY; keep verification "
        "on (GONOSUMDB is for private modules only).",
    ),
    Cause(
        "gosumdb-invalid",
        "config",
        "GOSUMDB is not a valid checksum database name, key or URL.",
        "Reset it to the toolchain default: `go env -u GOSUMDB`, and unset a GOSUMDB "
        "environment variable.",
    ),
    Cause(
        "goproxy-off",
        "config",
        "GOPROXY=off forbids module downloads, and the module is not in the module cache.",
        "Allow downloads: `go env -w GOPROXY=<proxy-url>,direct`, or fill the module cache "
        "first where the network works (`unstall prefetch`).",
    ),
    Cause(
        "vcs-unreachable",
        "vcs",
        "In direct mode (GOPROXY=direct, or the module matches GOPRIVATE/GONOPROXY) go "
        "fetches the module itself with HTTPS and git, and could not reach its repository.",
        "Make <host> reachable for git (VPN, or `git config --global http.proxy "
        "http://<proxy>:<port>`); a public module can come from a module proxy instead: "
        "drop it from GOPRIVATE/GONOPROXY and `go env -w GOPROXY=<proxy-url>,direct`.",
    ),
    Cause(
        "git-auth-required",
        "vcs",
        "git needs credentials for the module's repository, and go runs it with terminal "
        "prompts disabled.",
        "Give git credentials for <host>: a `machine <host>` entry in ~/.netrc or a "
        "credential helper, or SSH: `git config --global "
        'url."ssh://git@<host>/".insteadOf "https://<host>/"`.',
    ),
    Cause(
        "tls-plain-http",
        "tls",
        "An https:// URL points at a server that speaks plain HTTP.",
        "Write that URL with http:// (in GOPROXY, the mirror list or the proxy variables), "
        "or enable TLS on that server.",
    ),
    Cause(
        "proxy-unreachable",
        "proxy",
        "The HTTP proxy that HTTPS_PROXY/HTTP_PROXY names cannot be reached (its name does "
        "not resolve, or there is no route to it).",
        "Check the proxy variables (`env | grep -i _proxy`): fix the proxy's host name, or "
        "unset them if this network needs no proxy.",
    ),
    Cause(
        "internal",
        "internal",
        "An unexpected error occurred inside unstall.",
        "Re-run with UNSTALL_DEBUG=1 and report the traceback.",
    ),
)

CATALOGUE: Final[dict[str, Cause]] = {cause.id: cause for cause in _CAUSES}


def cause_for(cause_id: str) -> Cause:
    """Return the catalogue entry for ``cause_id``; unknown ids map to ``internal``."""
    return CATALOGUE.get(cause_id, CATALOGUE["internal"])


__all__ = ["CATALOGUE", "Cause", "cause_for"]
