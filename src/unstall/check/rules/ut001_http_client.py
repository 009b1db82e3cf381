"""UT001 http-client-no-timeout: net/http clients that can wait forever.

``http.Get/Head/Post/PostForm`` and ``http.DefaultClient`` use a client whose
``Timeout`` is zero (no limit); so does an ``http.Client{...}`` literal that sets neither
``Timeout`` nor ``Transport``. The helpers at the bottom are shared with UT002/UT003
(literal fields, later assignments, timeout expressions).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tree_sitter import Node

from unstall.check.model import Edit, Finding, Fix
from unstall.check.parse import GoFile
from unstall.config import CheckTimeouts

HTTP = "net/http"
_HELPERS = ("Get", "Head", "Post", "PostForm")
# A literal with a custom Transport is trusted: the transport usually carries dial, TLS
# and response-header timeouts, and flagging it would be noise.
_CLIENT_BOUNDS = ("Timeout", "Transport")
# Where a composite literal needs no parentheses: inside brackets of its own.
_OPEN_CONTEXTS = (
    "block",
    "literal_value",
    "func_literal",
    "parenthesized_expression",
    "argument_list",
)


class HttpClientNoTimeout:
    """UT001: an HTTP client without a timeout."""

    id: str = "UT001"
    name: str = "http-client-no-timeout"
    summary: str = "HTTP client without a timeout"
    description: str = (
        "http.DefaultClient, the package helpers http.Get/Head/Post/PostForm that use it, "
        "and an http.Client without Timeout or Transport have no time limit: a server that "
        "accepts the connection but never answers blocks the caller forever. Set "
        "http.Client.Timeout (it bounds the whole exchange, including reading the body)."
    )

    def check(self, file: GoFile, timeouts: CheckTimeouts) -> Iterable[Finding]:
        packages = file.names_for(HTTP)
        if not packages:
            return
        timeout, imports = file.duration(timeouts.http_client)
        default_replaced = _default_client_configured(file, packages)
        yield from self._literals(file, packages, timeout, imports)
        if not default_replaced:
            yield from self._helpers(file, packages, timeout, imports)
            yield from self._default_client(file, packages, timeout, imports)

    def _literals(
        self, file: GoFile, packages: set[str], timeout: str, imports: tuple[str, ...]
    ) -> Iterator[Finding]:
        for literal in file.nodes_of("composite_literal"):
            found = file.composite_type(literal)
            if found is None or found[0] not in packages or found[1] != "Client":
                continue
            fields = file.literal_fields(literal)
            if not keyed_only(literal) or any(name in fields for name in _CLIENT_BOUNDS):
                continue
            if assigned_later(file, literal, _CLIENT_BOUNDS):
                continue
            edit = add_field(file, literal, "Timeout", timeout)
            fix = None
            if edit is not None:
                fix = Fix(True, (edit,), imports, f"set Timeout: {timeout}")
            message = "http.Client without Timeout or Transport never times out; set Timeout"
            yield file.finding(self.id, literal, message, fix)

    def _helpers(
        self, file: GoFile, packages: set[str], timeout: str, imports: tuple[str, ...]
    ) -> Iterator[Finding]:
        for call in file.calls():
            helper = file.package_call(call, HTTP, *_HELPERS)
            callee = call.child_by_field_name("function")
            if helper is None or callee is None:
                continue
            package = file.text(callee.child_by_field_name("operand"))
            # Unsafe: a client Timeout also bounds reading the response body, so a long
            # download that worked before may now be cut off.
            text = f"(&{package}.Client{{Timeout: {timeout}}}).{helper}"
            fix = Fix(False, (file.replace(callee, text),), imports, f"use {text}")
            message = (
                f"http.{helper} uses http.DefaultClient, which has no timeout; "
                "use an http.Client with Timeout"
            )
            yield file.finding(self.id, call, message, fix)

    def _default_client(
        self, file: GoFile, packages: set[str], timeout: str, imports: tuple[str, ...]
    ) -> Iterator[Finding]:
        for selector in file.nodes_of("selector_expression"):
            if not _is_default_client(file, selector, packages):
                continue
            if _assignment_target(selector):
                continue
            package = file.text(selector.child_by_field_name("operand"))
            text = f"&{package}.Client{{Timeout: {timeout}}}"
            if _needs_parentheses(selector):
                text = f"({text})"
            fix = Fix(False, (file.replace(selector, text),), imports, f"use {text}")
            message = "http.DefaultClient has no timeout; use an http.Client with Timeout"
            yield file.finding(self.id, selector, message, fix)


def _is_default_client(file: GoFile, selector: Node, packages: set[str]) -> bool:
    operand = selector.child_by_field_name("operand")
    field = selector.child_by_field_name("field")
    return (
        operand is not None
        and operand.type == "identifier"
        and file.text(operand) in packages
        and file.text(field) == "DefaultClient"
    )


def _default_client_configured(file: GoFile, packages: set[str]) -> bool:
    """True when this file assigns ``http.DefaultClient.Timeout`` or replaces
    ``http.DefaultClient``: then the helpers and the default client have a limit."""
    for selector in file.nodes_of("selector_expression"):
        if not _is_default_client(file, selector, packages):
            continue
        parent = selector.parent
        if parent is not None and parent.type == "expression_list":
            if _assignment_target(selector):
                return True
        elif parent is not None and parent.type == "selector_expression":
            field = parent.child_by_field_name("field")
            if file.text(field) == "Timeout" and _assignment_target(parent):
                return True
    return False


def _assignment_target(node: Node) -> bool:
    """True when ``node`` is (inside) the left side of an assignment."""
    current: Node | None = node
    while current is not None and current.parent is not None:
        parent = current.parent
        if parent.type in ("assignment_statement", "short_var_declaration"):
            left = parent.child_by_field_name("left")
            return left is not None and left.start_byte <= node.start_byte < left.end_byte
        if parent.type in ("block", "statement_list", "func_literal", "source_file"):
            return False
        current = parent
    return False


def _needs_parentheses(node: Node) -> bool:
    """A ``&T{...}`` replacing ``node`` needs parentheses when it is the operand of a
    selector (``(&T{}).Do``) or sits in an if/for/switch header, where a composite
    literal's brace would be read as the start of the block."""
    parent = node.parent
    if parent is not None and parent.type == "selector_expression":
        return True
    current = parent
    while current is not None:
        if current.type in _OPEN_CONTEXTS:
            return False
        if current.type in (
            "if_statement",
            "for_statement",
            "expression_switch_statement",
            "type_switch_statement",
        ):
            return True
        current = current.parent
    return False


# -- helpers shared with UT002 and UT003 --------------------------------------------


def field_value(value: Node | None) -> Node | None:
    """The expression of a keyed element's value (tree-sitter wraps it in literal_element)."""
    if value is not None and value.type == "literal_element" and value.named_child_count == 1:
        return value.named_children[0]
    return value


def keyed_only(literal: Node) -> bool:
    """True when every element of the literal is ``Key: value`` (a positional literal
    sets every field, so rules leave it alone)."""
    body = literal.child_by_field_name("body")
    if body is None:
        return False
    return all(child.type in ("keyed_element", "comment") for child in body.named_children)


def add_field(file: GoFile, literal: Node, key: str, value: str) -> Edit | None:
    """An edit adding ``key: value`` as the literal's first field, keeping its layout: on
    its own line when the fields are one per line, inline otherwise."""
    body = literal.child_by_field_name("body")
    if body is None or body.child_count == 0 or body.children[0].type != "{":
        return None
    opening = body.children[0]
    elements = [c for c in body.named_children if c.type == "keyed_element"]
    if elements:
        first = elements[0]
        if first.start_point[0] == opening.start_point[0]:
            return Edit(first.start_byte, first.start_byte, f"{key}: {value}, ")
        indent = file.indentation(first)
        return Edit(first.start_byte, first.start_byte, f"{key}: {value},\n{indent}")
    multiline = body.end_point[0] != opening.start_point[0]
    comma = "," if multiline else ""
    return Edit(opening.end_byte, opening.end_byte, f"{key}: {value}{comma}")


def assigned_later(file: GoFile, literal: Node, fields: tuple[str, ...]) -> bool:
    """True when the variable the literal is stored in gets one of ``fields`` assigned
    (``c.Timeout = ...``) later in the same function."""
    target = _stored_in(file, literal)
    scope = file.enclosing_function(literal) or file.root
    if target is None:
        return False
    for statement in file.nodes_of("assignment_statement", within=scope):
        if statement.start_byte < literal.end_byte:
            continue
        left = statement.child_by_field_name("left")
        for expression in [] if left is None else left.named_children:
            if expression.type != "selector_expression":
                continue
            operand = expression.child_by_field_name("operand")
            field = expression.child_by_field_name("field")
            if file.text(field) in fields and _same_target(file, operand, target):
                return True
    return False


def _same_target(file: GoFile, operand: Node | None, target: str) -> bool:
    text = "".join(file.text(operand).split())
    # `c.Timeout` where c holds the literal, or `(*c).Timeout`.
    return text in (target, f"(*{target})")


def _stored_in(file: GoFile, literal: Node) -> str | None:
    """The text of the variable or field the literal (or ``&literal``) is assigned to."""
    value = literal
    parent = value.parent
    while parent is not None and parent.type in ("unary_expression", "parenthesized_expression"):
        value, parent = parent, parent.parent
    if parent is None or parent.type != "expression_list":
        return None
    statement = parent.parent
    if statement is None:
        return None
    if statement.type == "var_spec":
        names = statement.children_by_field_name("name")
    elif statement.type in ("short_var_declaration", "assignment_statement"):
        left = statement.child_by_field_name("left")
        names = [] if left is None else list(left.named_children)
    else:
        return None
    values = parent.named_children
    index = next((i for i, v in enumerate(values) if v.id == value.id), None)
    if index is None or index >= len(names) or len(values) != len(names):
        return None
    return "".join(file.text(names[index]).split())


RULE = HttpClientNoTimeout()

__all__ = [
    "RULE",
    "HttpClientNoTimeout",
    "add_field",
    "assigned_later",
    "field_value",
    "keyed_only",
]
