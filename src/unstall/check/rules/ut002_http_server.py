"""UT002 http-server-no-read-header-timeout: an http.Server that waits forever for headers.

net/http reads request headers under ``ReadHeaderTimeout``; when that is zero it uses
``ReadTimeout``, and when it is negative (or zero with a zero or negative ReadTimeout)
there is no limit: a client that sends its headers slowly holds a connection and a
goroutine for as long as it likes (Slowloris).
"""

from __future__ import annotations

from collections.abc import Iterable

from tree_sitter import Node

from unstall.check.model import Edit, Finding, Fix
from unstall.check.parse import GoFile
from unstall.check.rules.ut001_http_client import (
    HTTP,
    add_field,
    assigned_later,
    field_value,
    keyed_only,
)
from unstall.config import CheckTimeouts

_BOUNDS = ("ReadHeaderTimeout", "ReadTimeout")


class HttpServerNoReadHeaderTimeout:
    """UT002: an http.Server literal without a header read timeout."""

    id: str = "UT002"
    name: str = "http-server-no-read-header-timeout"
    summary: str = "http.Server without ReadHeaderTimeout"
    description: str = (
        "An http.Server with neither ReadHeaderTimeout nor ReadTimeout (or with them zero or "
        "negative) waits without limit for a client to finish sending request headers, so "
        "slow or idle clients (Slowloris) exhaust connections and goroutines. Set "
        "ReadHeaderTimeout; it does not limit request bodies or streaming responses."
    )

    def check(self, file: GoFile, timeouts: CheckTimeouts) -> Iterable[Finding]:
        packages = file.names_for(HTTP)
        if not packages:
            return
        timeout, imports = file.duration(timeouts.http_server_read_header)
        for literal in file.nodes_of("composite_literal"):
            found = file.composite_type(literal)
            if found is None or found[0] not in packages or found[1] != "Server":
                continue
            if not keyed_only(literal):
                continue
            fields = file.literal_fields(literal)
            header = _sign(file, field_value(fields.get("ReadHeaderTimeout")))
            read = _sign(file, field_value(fields.get("ReadTimeout")))
            if not _unbounded(header, read):
                continue
            if assigned_later(file, literal, _BOUNDS):
                continue
            existing = fields.get("ReadHeaderTimeout")
            edit: Edit | None
            if existing is not None:
                edit = file.replace(existing, timeout)
            else:
                edit = add_field(file, literal, "ReadHeaderTimeout", timeout)
            fix = None
            if edit is not None:
                fix = Fix(True, (edit,), imports, f"set ReadHeaderTimeout: {timeout}")
            message = (
                "http.Server without ReadHeaderTimeout waits forever for request headers; "
                "set ReadHeaderTimeout"
            )
            yield file.finding(self.id, literal, message, fix)


# The sign of a field's value: None when the field is absent, 0 for zero, -1 for a
# negative constant, 1 for a positive one or anything not known at compile time.
Sign = int | None


def _unbounded(header: Sign, read: Sign) -> bool:
    """net/http's rule: a positive ReadHeaderTimeout wins; zero falls back to ReadTimeout;
    a negative one disables the limit whatever ReadTimeout is."""
    if header is not None and header > 0:
        return False
    if header is not None and header < 0:
        return True
    return read is None or read <= 0


def _sign(file: GoFile, node: Node | None) -> Sign:
    if node is None:
        return None
    constant = _constant_sign(file, node)
    return 1 if constant is None else constant


def _constant_sign(file: GoFile, node: Node) -> int | None:
    """-1/0/1 for constant durations built from number literals, ``time.<Unit>``,
    unary minus, products and conversions; None when the sign is not evident."""
    kind = node.type
    if kind in ("int_literal", "float_literal"):
        text = file.text(node).replace("_", "").lower()
        try:
            number = float(int(text, 0)) if kind == "int_literal" else float(text)
        except ValueError:
            return None
        return (number > 0) - (number < 0)
    if kind == "selector_expression":
        operand = node.child_by_field_name("operand")
        if operand is not None and file.text(operand) in file.names_for("time"):
            return 1  # time.Second, time.Millisecond, ...: positive units
        return None
    if kind == "parenthesized_expression" and node.named_child_count == 1:
        return _constant_sign(file, node.named_children[0])
    if kind == "unary_expression":
        operator = node.child_by_field_name("operator")
        operand = node.child_by_field_name("operand")
        inner = None if operand is None else _constant_sign(file, operand)
        if inner is None or operator is None:
            return None
        signs = {"-": -inner, "+": inner}
        return signs.get(file.text(operator))
    if kind == "binary_expression":
        symbol = file.text(node.child_by_field_name("operator"))
        left_node = node.child_by_field_name("left")
        right_node = node.child_by_field_name("right")
        if symbol != "*" or left_node is None or right_node is None:
            return None
        left = _constant_sign(file, left_node)
        right = _constant_sign(file, right_node)
        if left == 0 or right == 0:
            return 0
        return None if left is None or right is None else left * right
    if kind == "call_expression":
        # time.Duration(0): a conversion keeps the sign of its argument.
        arguments = file.arguments(node)
        function = file.text(node.child_by_field_name("function"))
        names = {f"{name}.Duration" for name in file.names_for("time")}
        if function in names and len(arguments) == 1:
            return _constant_sign(file, arguments[0])
    return None


RULE = HttpServerNoReadHeaderTimeout()

__all__ = ["RULE", "HttpServerNoReadHeaderTimeout"]
