"""UT004 net-dial-no-timeout: ``net.Dial`` / ``tls.Dial`` on a TCP or UDP network.

Both wait for the operating system's connect timeout (often minutes) when the peer
does not answer. The fix is mechanical and keeps behaviour otherwise identical:
``net.DialTimeout`` or ``tls.DialWithDialer`` with a ``&net.Dialer{Timeout: ...}``.
"""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from unstall.check.model import Edit, Finding, Fix
from unstall.check.parse import GoFile
from unstall.config import CheckTimeouts

# Networks whose dial goes over IP and can therefore hang on an unreachable peer. A
# unix socket connects (or fails) at once, and a network that is not a literal may be
# one: flagging it would be noise the user cannot silence by fixing anything.
_IP_NETWORKS = frozenset({"tcp", "tcp4", "tcp6", "udp", "udp4", "udp6"})
_STRING_LITERALS = ("interpreted_string_literal", "raw_string_literal")


def string_literal_value(file: GoFile, node: Node | None) -> str | None:
    """The text between the quotes of a Go string literal node, else None (escape
    sequences are kept as written, which is all the rules need to look for keys)."""
    if node is None or node.type not in _STRING_LITERALS:
        return None
    text = file.text(node)
    return text[1:-1] if len(text) >= 2 else None


class NetDialRule:
    """Flags ``net.Dial`` and ``tls.Dial`` over tcp/udp; fixes them with a dial timeout."""

    id = "UT004"
    name = "net-dial-no-timeout"
    summary = "net.Dial / tls.Dial without a timeout"
    description = (
        "net.Dial and tls.Dial have no timeout of their own: connecting to a host that "
        "drops packets waits for the operating system's TCP connect timeout, which is "
        "often two minutes or more, and a TLS handshake with a silent peer can wait "
        "forever. net.DialTimeout and tls.DialWithDialer with a net.Dialer Timeout bound "
        "the whole dial (and, for TLS, the handshake)."
    )

    def check(self, file: GoFile, timeouts: CheckTimeouts) -> Iterator[Finding]:
        """Yield a finding, with its safe fix, for every unbounded tcp/udp dial."""
        if not (file.names_for("net") or file.names_for("crypto/tls")):
            return
        for call in file.calls():
            if file.package_call(call, "net", "Dial"):
                finding = self._net_dial(file, call, timeouts)
            elif file.package_call(call, "crypto/tls", "Dial"):
                finding = self._tls_dial(file, call, timeouts)
            else:
                continue
            if finding is not None:
                yield finding

    def _network_ok(self, file: GoFile, call: Node, count: int) -> bool:
        arguments = file.arguments(call)
        if len(arguments) != count or any(a.type == "variadic_argument" for a in arguments):
            return False
        network = string_literal_value(file, arguments[0])
        return network is not None and network in _IP_NETWORKS

    def _net_dial(self, file: GoFile, call: Node, timeouts: CheckTimeouts) -> Finding | None:
        if not self._network_ok(file, call, 2):
            return None
        function = call.child_by_field_name("function")
        field = None if function is None else function.child_by_field_name("field")
        last = file.arguments(call)[-1]
        if field is None:
            return None
        timeout, imports = file.duration(timeouts.net_dial)
        fix = Fix(
            safe=True,
            edits=(
                file.replace(field, "DialTimeout"),
                Edit(last.end_byte, last.end_byte, f", {timeout}"),
            ),
            imports=imports,
            description=f"use net.DialTimeout with {timeout}",
        )
        callee = file.text(function)
        message = (
            f"{callee} has no timeout: an unreachable host blocks until the OS gives up; "
            f"use DialTimeout"
        )
        return file.finding(self.id, call, message, fix)

    def _tls_dial(self, file: GoFile, call: Node, timeouts: CheckTimeouts) -> Finding | None:
        if not self._network_ok(file, call, 3):
            return None
        function = call.child_by_field_name("function")
        field = None if function is None else function.child_by_field_name("field")
        first = file.arguments(call)[0]
        if field is None:
            return None
        timeout, time_imports = file.duration(timeouts.net_dial)
        net, net_imports = file.package_name("net")
        dialer = f"&{net}.Dialer{{Timeout: {timeout}}}, "
        fix = Fix(
            safe=True,
            edits=(
                file.replace(field, "DialWithDialer"),
                Edit(first.start_byte, first.start_byte, dialer),
            ),
            imports=net_imports + time_imports,
            description=f"use tls.DialWithDialer with a net.Dialer Timeout of {timeout}",
        )
        message = (
            f"{file.text(function)} has no timeout: an unreachable host or a silent TLS "
            f"peer blocks the dial; use DialWithDialer with a net.Dialer Timeout"
        )
        return file.finding(self.id, call, message, fix)


RULE = NetDialRule()

__all__ = ["RULE", "NetDialRule", "string_literal_value"]
