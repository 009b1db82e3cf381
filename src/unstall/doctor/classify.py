"""Reading go's own error output: which catalogue cause explains a failed go run.

unstall explains the artifacts its proxy fetched from its own attempt records, but go
also fails for reasons that proxy never sees: direct git fetches, the checksum
database, private modules sent to a public proxy, the proxy variables, TLS
interception. Those are read here from go's stderr, one pattern per message, each
anchored on go's (or git's) own wording and mapped onto :mod:`unstall.doctor.causes`.

go prints one failure as a *record*: a line at column 0 and indented detail lines.
After ``server response:`` the detail is a module proxy's words about its *own*
fetch, so the same message means something else there (see :data:`Source`). A bare
HTTP status only says that something failed; the detail under it says what, so a
record is explained by its most specific line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from unstall.doctor.causes import CATALOGUE, cause_for
from unstall.redact import redact

Source = Literal["go", "proxy", "unstall"]
"""Who wrote a line of go's output.

``"go"``: go itself, or git run by go, on this machine. ``"proxy"``: a module proxy's
error body: a network or git failure there is the proxy failing to fetch the module's
origin, not this machine's network. ``"unstall"``: unstall's own proxy relaying its
upstream's error: network failures are this machine's, but git failures were reported
by an upstream proxy (unstall never runs git).
"""

_SPECIFIC: Final = 0
_STATED: Final = 1  # "unstall: cause <id>:" written by unstall's own proxy
_GENERIC: Final = 2  # a bare status: the lines under it usually say more


@dataclass(frozen=True, slots=True)
class _Rule:
    cause: str
    pattern: re.Pattern[str]
    rank: int = _SPECIFIC


def _rule(cause: str, pattern: str, rank: int = _SPECIFIC) -> _Rule:
    if cause not in CATALOGUE:  # a typo here would silently explain nothing
        raise ValueError(f"unknown cause {cause!r}")
    return _Rule(cause, re.compile(pattern), rank)


_DNS_LOOKUP: Final = r"\blookup [^\s:]+(?: on \S+)?: "
_NOT_TLS: Final = r"(?!.*(?:x509|tls: ))"

# First match wins, so the order matters: a proxyconnect failure also reads like a
# direct one, a DNS timeout also contains "i/o timeout", and a sumdb lookup also
# fails at some network layer.
_RULES: Final[tuple[_Rule, ...]] = (
    # The HTTP proxy named by HTTPS_PROXY/HTTP_PROXY, before the target was reached.
    _rule("proxy-refused", r"proxyconnect tcp: .*connection refused"),
    _rule("proxy-timeout", r"proxyconnect tcp: .*(?:i/o timeout|timed out)"),
    _rule(
        "proxy-protocol",
        r"proxyconnect tcp: .*(?:first record does not look like a TLS handshake"
        r"|server gave HTTP response to HTTPS client)",
    ),
    _rule("proxy-auth-required", r"Proxy Authentication Required|: 407 "),
    _rule(
        "proxy-unreachable",
        r"proxyconnect tcp: .*(?:no such host|lookup |unreachable|no route to host"
        r"|connection reset|EOF)",
    ),
    # The checksum database.
    _rule("gosumdb-invalid", r"invalid GOSUMDB"),
    _rule("checksum-mismatch", r"checksum mismatch|\bSECURITY ERROR\b"),
    # The checksum database has never heard of a private module.
    _rule("module-not-public", r"reading \S+/lookup/\S+: (?:404|410) "),
    _rule(
        "sumdb-proxy-error",
        rf"reading \S*/sumdb/\S+: (?:429|5\d\d) |Get \"[^\"]*/sumdb/[^\"]*\": {_NOT_TLS}",
    ),
    # No proxy in GOPROXY proxies /sumdb/, so go asked the database itself and failed.
    _rule(
        "sumdb-unsupported",
        rf"Get \"(?![^\"]*/sumdb/)[^\"]*/(?:lookup/[^\"]*|tile/[^\"]*|latest)\": {_NOT_TLS}",
    ),
    _rule("goproxy-off", r"disabled by GOPROXY=off"),
    # DNS: go's resolver, and git's (curl's) wording.
    _rule("dns-nxdomain", rf"{_DNS_LOOKUP}no such host|Could not resolve host"),
    _rule("dns-timeout", rf"{_DNS_LOOKUP}.*(?:i/o timeout|timed out)"),
    _rule("dns-error", _DNS_LOOKUP),
    # git run by go in direct mode.
    _rule(
        "git-auth-required",
        r"terminal prompts disabled|could not read (?:Username|Password)"
        r"|Authentication failed for",
    ),
    _rule("vcs-unreachable", r"Failed to connect to |unable to access '"),
    # TCP.
    _rule("tcp-refused", r"connection refused"),
    _rule(
        "tcp-timeout",
        r"\bdial tcp \S+: (?:connect: )?(?:i/o timeout|connection timed out)"
        r"|connect: connection timed out",
    ),
    _rule("tcp-unreachable", r"no route to host|network is unreachable|host is unreachable"),
    _rule("tcp-reset", r"connection reset|broken pipe|\": EOF$"),
    # TLS.
    _rule("tls-timeout", r"TLS handshake timeout"),
    _rule("tls-untrusted", r"x509: |failed to verify certificate"),
    _rule(
        "tls-plain-http",
        r"first record does not look like a TLS handshake"
        r"|server gave HTTP response to HTTPS client",
    ),
    _rule("tls-error", r"\btls: "),
    # HTTP, and the body of an answer.
    _rule(
        "http-timeout",
        r"timeout awaiting response headers|Client\.Timeout exceeded while awaiting headers"
        r"|fetch timed out",
    ),
    _rule(
        "transfer-stall",
        r"\bread tcp \S+: i/o timeout|Client\.Timeout or context cancellation while reading",
    ),
    _rule("transfer-truncated", r"unexpected EOF|stream error: |INTERNAL_ERROR"),
    _rule("integrity-zip", r"zip: not a valid zip file|zip: checksum error|flate: corrupt input"),
    _rule("version-missing", r"unknown revision|bad upstream|no matching versions for query"),
    _rule("mirror-deprecated", r": 418 "),
    _rule("vcs-unreachable", r"unrecognized import path"),
    # Bare statuses and exit codes: whatever is written under them says more.
    _rule("module-not-public", r": 410 Gone\b", _GENERIC),
    _rule("version-missing", r": 404 Not Found\b", _GENERIC),
    _rule("http-server-error", r": (?:429|5\d\d) [A-Z]", _GENERIC),
    _rule("http-client-error", r": 4\d\d [A-Z]", _GENERIC),
    _rule("vcs-unreachable", r"\bgit .*\bexit status \d+:?$", _GENERIC),
)

_UNSTALL_CAUSE: Final = re.compile(r"^\s*unstall: cause (?P<id>[a-z0-9-]+):")
_SERVER_RESPONSE: Final = re.compile(r"^\s+server response:")
# How go's own error records begin. Anything else on go's stderr is the output of a
# program go ran (`go run`, `go generate`), whose failures are not go's.
_GO_RECORD: Final = re.compile(r"^(?:go: |verifying |SECURITY ERROR|\S+\.go:\d+:\d+: )")
# A module path whose first element looks like a host name, followed by "@version".
_MODULE: Final = re.compile(
    r"(?<![\w./-])(?P<path>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?:/[^\s@:\"']+)*)@"
)
_ORIGIN_FETCH: Final = frozenset({"git-auth-required", "vcs-unreachable"})
_NETWORK_LAYERS: Final = frozenset({"dns", "tcp", "tls", "proxy"})


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """One cause of a failed go run, with the line of go's output that shows it."""

    cause: str  # catalogue id
    line: str  # the go output line that matched, redacted
    explanation: str  # from the catalogue
    fix: str  # from the catalogue, with the failing module's host filled in when known

    @property
    def layer(self) -> str:
        """The layer of the cause (dns, tcp, tls, proxy, http, vcs, config, ...)."""
        return cause_for(self.cause).layer


def _match(line: str, source: Source) -> tuple[str, int] | None:
    stated = _UNSTALL_CAUSE.match(line)
    if stated is not None:
        cause = stated.group("id")
        return (cause, _STATED) if cause in CATALOGUE else None
    text = line.strip()
    for rule in _RULES:
        if rule.pattern.search(text):
            return _as_seen_from(rule.cause, source), rule.rank
    return None


def _as_seen_from(cause: str, source: Source) -> str:
    """What ``cause`` means when ``source`` wrote the message (see :data:`Source`)."""
    if source == "go":
        return cause
    # A proxy that cannot run git against the origin, or cannot even reach it, cannot
    # serve the module: for the user that is a private module asked of a public proxy.
    if cause in _ORIGIN_FETCH:
        return "module-not-public"
    if source == "proxy" and cause_for(cause).layer in _NETWORK_LAYERS:
        return "module-not-public"
    return cause


def classify_line(line: str, *, source: Source = "go") -> str | None:
    """The catalogue cause id that one line of go's output shows, or None.

    ``source`` says who wrote the line (default: go itself); go's output as a whole
    is better read with :func:`classify_go_output`, which works this out.
    """
    found = _match(line, source)
    return found[0] if found else None


def _records(lines: Sequence[str]) -> Iterator[list[str]]:
    """Group lines into go's records: a line at column 0 and its indented details."""
    record: list[str] = []
    for line in lines:
        if record and not line[:1].isspace():
            yield record
            record = []
        record.append(line)
    if record:
        yield record


def _sourced(record: list[str]) -> list[tuple[str, Source]]:
    start = next((i for i, line in enumerate(record) if _SERVER_RESPONSE.match(line)), None)
    if start is None:
        return [(line, "go") for line in record]
    body = record[start:]
    source: Source = "unstall" if any(_UNSTALL_CAUSE.match(line) for line in body) else "proxy"
    return [(line, "go") for line in record[:start]] + [(line, source) for line in body]


def _diagnosis(cause_id: str, line: str, record: list[str]) -> Diagnosis:
    cause = cause_for(cause_id)
    fix = cause.fix
    module = next((m for m in map(_MODULE.search, record) if m is not None), None)
    if module is not None:
        path = module.group("path")
        fix = fix.replace("<module>", path).replace("<host>", path.split("/")[0])
    return Diagnosis(cause.id, redact(line.strip()), cause.explanation, fix)


def classify_go_output(text: str) -> list[Diagnosis]:
    """The distinct causes go's output ``text`` shows, in order of first appearance.

    Each record (a go error line and its indented details) contributes its most
    specific cause: the words under a bare "404 Not Found" say why it was not found.
    Lines that are not go's own records (a program's output under `go run`) are skipped.
    """
    found: dict[str, Diagnosis] = {}
    for record in _records(text.splitlines()):
        if not _GO_RECORD.match(record[0]):
            continue
        best: tuple[str, int, str] | None = None
        for line, source in _sourced(record):
            hit = _match(line, source)
            if hit is not None and (best is None or hit[1] < best[1]):
                best = (hit[0], hit[1], line)
        if best is not None and best[0] not in found:
            found[best[0]] = _diagnosis(best[0], best[2], record)
    return list(found.values())


__all__ = ["Diagnosis", "Source", "classify_go_output", "classify_line"]
