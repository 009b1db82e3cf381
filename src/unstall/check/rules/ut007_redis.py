"""UT007 redis-timeout-disabled: go-redis options that switch a socket timeout off.

go-redis has default timeouts (dial 5s, read 3s, write = read), so a bare
``redis.Options{}`` is fine and is NOT flagged. What stalls is the opt-out: ``-1``
means "no timeout, block indefinitely" and ``-2`` means "never call SetDeadline" for
``ReadTimeout`` and ``WriteTimeout``; a negative ``DialTimeout`` is not a valid timeout
at all. Report only: the right value is a judgement call for the user.
"""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from unstall.check.model import Finding
from unstall.check.parse import GoFile
from unstall.config import CheckTimeouts

# v9 moved to the redis organisation; v6-v8 live under go-redis. Only v9 has
# ContextTimeoutEnabled (v8 honoured context deadlines unconditionally).
_V9_PATHS = frozenset({"github.com/redis/go-redis/v9"})
_REDIS_PATHS = _V9_PATHS | frozenset(
    {
        "github.com/go-redis/redis/v8",
        "github.com/go-redis/redis/v7",
        "github.com/go-redis/redis",
    }
)
_OPTION_TYPES = frozenset(
    {"Options", "ClusterOptions", "FailoverOptions", "UniversalOptions", "RingOptions"}
)
_TIMEOUT_FIELDS = ("DialTimeout", "ReadTimeout", "WriteTimeout")
_UNITS = {
    "Nanosecond": 1,
    "Microsecond": 1_000,
    "Millisecond": 1_000_000,
    "Second": 1_000_000_000,
    "Minute": 60_000_000_000,
    "Hour": 3_600_000_000_000,
}


def duration_constant(file: GoFile, node: Node | None) -> int | None:
    """The value in nanoseconds of a constant duration expression (``-1``,
    ``time.Duration(-2)``, ``-1 * time.Second``), or None when it is not a simple
    constant (a variable, a function call): the rule only judges what it can read."""
    if node is None:
        return None
    kind = node.type
    if kind == "literal_element" or kind == "parenthesized_expression":
        children = node.named_children
        return duration_constant(file, children[0]) if len(children) == 1 else None
    if kind == "int_literal":
        try:
            return int(file.text(node).replace("_", ""), 0)
        except ValueError:
            return None
    if kind == "unary_expression":
        operator = node.child_by_field_name("operator")
        value = duration_constant(file, node.child_by_field_name("operand"))
        if value is None or operator is None:
            return None
        sign = file.text(operator)
        return -value if sign == "-" else value if sign == "+" else None
    if kind == "binary_expression":
        operator = node.child_by_field_name("operator")
        left = duration_constant(file, node.child_by_field_name("left"))
        right = duration_constant(file, node.child_by_field_name("right"))
        if operator is None or left is None or right is None or file.text(operator) != "*":
            return None
        return left * right
    if kind == "selector_expression":
        operand = node.child_by_field_name("operand")
        field = node.child_by_field_name("field")
        if file.text(operand) in file.names_for("time"):
            return _UNITS.get(file.text(field))
        return None
    if kind == "call_expression" and file.package_call(node, "time", "Duration"):
        arguments = file.arguments(node)
        return duration_constant(file, arguments[0]) if len(arguments) == 1 else None
    return None


def _meaning(field: str, value: int) -> str:
    if field == "DialTimeout":
        return (
            f"DialTimeout: {value} is not a dial timeout (go-redis hands it to net.Dialer, "
            "where a negative value is not 'no timeout'); remove it for the 5s default"
        )
    what = "read" if field == "ReadTimeout" else "write"
    if value == -1:
        effect = (
            f"-1 disables the {what} timeout, so a stalled Redis server blocks the call forever"
        )
    elif value == -2:
        effect = f"-2 disables {what} deadlines entirely, so a stalled Redis server blocks forever"
    else:
        effect = f"{value} (negative) leaves {what}s without a deadline"
    default = "3s" if field == "ReadTimeout" else "ReadTimeout"
    return f"{field}: {effect}; use a positive duration or remove it (default: {default})"


class RedisTimeoutRule:
    """Flags go-redis option literals whose Dial/Read/WriteTimeout is negative."""

    id = "UT007"
    name = "redis-timeout-disabled"
    summary = "go-redis timeout disabled with -1 or -2"
    description = (
        "go-redis bounds every dial, read and write by default (DialTimeout 5s, "
        "ReadTimeout 3s, WriteTimeout = ReadTimeout). Setting ReadTimeout or WriteTimeout "
        "to -1 (no timeout) or -2 (no SetDeadline calls at all) turns that off: a Redis "
        "server that stops answering, or a network path that drops packets, then blocks "
        "the calling goroutine and its pool connection forever. go-redis v9 also ignores "
        "context deadlines unless ContextTimeoutEnabled is true, so a caller's "
        "context.WithTimeout does not help either. Report only: choose a timeout that fits "
        "the slowest command you run."
    )

    def check(self, file: GoFile, timeouts: CheckTimeouts) -> Iterator[Finding]:
        """Yield one finding per negative timeout field in a go-redis options literal."""
        packages = {name: path for name, path in file.imports().items() if path in _REDIS_PATHS}
        if not packages:
            return
        context_deadlines = self._uses_context_deadlines(file)
        for literal in file.nodes_of("composite_literal"):
            qualified = file.composite_type(literal)
            if qualified is None or qualified[0] not in packages:
                continue
            if qualified[1] not in _OPTION_TYPES:
                continue
            fields = file.literal_fields(literal)
            note = ""
            if context_deadlines and packages[qualified[0]] in _V9_PATHS:
                enabled = fields.get("ContextTimeoutEnabled")
                if enabled is None or file.text(enabled).strip() != "true":
                    note = (
                        "; note: go-redis v9 ignores the context deadlines this file "
                        "passes unless ContextTimeoutEnabled is true"
                    )
            for field in _TIMEOUT_FIELDS:
                value_node = fields.get(field)
                value = duration_constant(file, value_node)
                if value_node is None or value is None or value >= 0:
                    continue
                element = value_node.parent or value_node
                message = f"redis.{qualified[1]} {_meaning(field, value)}{note}"
                yield file.finding(self.id, element, message)

    def _uses_context_deadlines(self, file: GoFile) -> bool:
        # A file that derives deadline contexts presumably hands them to redis calls;
        # following every context value to every call would cost more than it tells.
        names = file.names_for("context")
        if not names:
            return False
        return any(
            file.package_call(call, "context", "WithTimeout", "WithDeadline") is not None
            for call in file.calls()
        )


RULE = RedisTimeoutRule()

__all__ = ["RULE", "RedisTimeoutRule", "duration_constant"]
