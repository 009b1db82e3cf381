"""UT006 sql-call-without-context: a database/sql call that ignores a context in scope.

Without type information, a receiver counts as a database/sql value only when this
file declares it so: a parameter, variable or struct field typed ``*sql.DB``,
``*sql.Tx`` or ``*sql.Stmt``, or a variable assigned from ``sql.Open`` /
``Begin`` / ``Prepare``. That keeps ORMs with look-alike methods (``gorm.DB.Exec``)
out. A call is flagged only when the enclosing function has a ``context.Context`` or
an ``*http.Request`` to pass, so the fix never has to invent a context.
"""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from unstall.check.model import Edit, Finding, Fix
from unstall.check.parse import GoFile
from unstall.config import CheckTimeouts

# Methods without a context and the types that have them (DB, Tx, Stmt).
_METHODS: dict[str, frozenset[str]] = {
    "Query": frozenset({"DB", "Tx", "Stmt"}),
    "QueryRow": frozenset({"DB", "Tx", "Stmt"}),
    "Exec": frozenset({"DB", "Tx", "Stmt"}),
    "Prepare": frozenset({"DB", "Tx"}),
    "Ping": frozenset({"DB"}),
    "Begin": frozenset({"DB"}),
}
_SQL_TYPES = frozenset({"DB", "Tx", "Stmt", "Conn"})
# Calls whose first result is a database/sql value of the given type.
_PRODUCERS = {
    "Open": "DB",
    "OpenDB": "DB",
    "Begin": "Tx",
    "BeginTx": "Tx",
    "Prepare": "Stmt",
    "PrepareContext": "Stmt",
    "Conn": "Conn",
}


class SqlContextRule:
    """Flags Query/QueryRow/Exec/Prepare/Ping/Begin on database/sql values when a
    context is at hand; fixes them with the ``...Context`` variant (safe)."""

    id = "UT006"
    name = "sql-call-without-context"
    summary = "database/sql call without the context in scope"
    description = (
        "database/sql methods without a context (Query, QueryRow, Exec, Prepare, Ping, "
        "Begin) use context.Background(): they cannot be cancelled and ignore the "
        "deadline of the request or caller, so a slow or unreachable database holds the "
        "goroutine and its connection long after the client gave up. The ...Context "
        "variants (and BeginTx) take the context that is already in scope."
    )

    def check(self, file: GoFile, timeouts: CheckTimeouts) -> Iterator[Finding]:
        """Yield a finding, with its safe fix, for each context-less call on a sql value."""
        sql_names = file.names_for("database/sql")
        if not sql_names:
            return
        fields = _sql_fields(file, sql_names)
        globals_ = _declared_sql_names(file, file.root, sql_names, top_level=True)
        for call in file.calls():
            function = call.child_by_field_name("function")
            if function is None or function.type != "selector_expression":
                continue
            method_node = function.child_by_field_name("field")
            receiver = function.child_by_field_name("operand")
            method = file.text(method_node)
            if method_node is None or receiver is None or method not in _METHODS:
                continue
            enclosing = file.enclosing_function(call)
            if enclosing is None:
                continue
            kind = _receiver_type(file, receiver, call, sql_names, fields, globals_)
            if kind is None or kind not in _METHODS[method]:
                continue
            context = _context_in_scope(file, call)
            if context is None:
                continue
            yield self._finding(file, call, method_node, method, context)

    def _finding(
        self, file: GoFile, call: Node, method_node: Node, method: str, context: str
    ) -> Finding:
        arguments = call.child_by_field_name("arguments")
        replacement = "BeginTx" if method == "Begin" else f"{method}Context"
        edits = [file.replace(method_node, replacement)]
        if arguments is not None:
            opening = arguments.start_byte + 1  # just after "("
            if method == "Begin":
                edits.append(Edit(opening, opening, f"{context}, nil"))
            elif arguments.named_children:
                edits.append(Edit(opening, opening, f"{context}, "))
            else:
                edits.append(Edit(opening, opening, context))
        fix = Fix(safe=True, edits=tuple(edits), description=f"use {replacement} with {context}")
        callee = file.text(call.child_by_field_name("function"))
        message = (
            f"{callee} ignores the context in scope: it cannot be cancelled or bounded by "
            f"its deadline; use {replacement}({context}, ...)"
        )
        return file.finding(self.id, call, message, fix)


def _sql_type(file: GoFile, type_node: Node | None, sql_names: set[str]) -> str | None:
    """ "DB"/"Tx"/"Stmt"/"Conn" for ``*sql.X`` (or ``sql.X``) type nodes."""
    if type_node is not None and type_node.type == "pointer_type":
        type_node = type_node.named_children[0] if type_node.named_children else None
    if type_node is None or type_node.type != "qualified_type":
        return None
    package = file.text(type_node.child_by_field_name("package"))
    name = file.text(type_node.child_by_field_name("name"))
    return name if package in sql_names and name in _SQL_TYPES else None


def _sql_fields(file: GoFile, sql_names: set[str]) -> dict[str, str]:
    """Struct field name -> sql type, for every struct declared in this file."""
    found: dict[str, str] = {}
    for declaration in file.nodes_of("field_declaration"):
        kind = _sql_type(file, declaration.child_by_field_name("type"), sql_names)
        if kind is None:
            continue
        for name in declaration.children_by_field_name("name"):
            found[file.text(name)] = kind
    return found


def _declared_sql_names(
    file: GoFile,
    scope: Node,
    sql_names: set[str],
    top_level: bool = False,
    before: int | None = None,
    known: dict[str, str | None] | None = None,
) -> dict[str, str | None]:
    """Names declared in ``scope`` -> their sql type, or None for a declaration of
    another type (which shadows an outer sql name). ``top_level`` reads only package
    level ``var`` declarations; ``before`` ignores declarations after that byte."""
    nodes: list[Node] = []
    if top_level:
        for declaration in scope.children:
            if declaration.type == "var_declaration":
                nodes += file.nodes_of("var_spec", within=declaration)
    else:
        for field_name in ("receiver", "parameters"):
            parameters = scope.child_by_field_name(field_name)
            if parameters is not None:
                nodes += [p for p in parameters.named_children if p.type == "parameter_declaration"]
        body = scope.child_by_field_name("body")
        if body is not None:
            nodes += [
                node
                for node in file.nodes_of("var_spec", "short_var_declaration", within=body)
                if file.enclosing_function(node) == scope
            ]
    found: dict[str, str | None] = {}
    for node in nodes:
        if before is not None and node.start_byte >= before:
            continue
        visible = {**(known or {}), **found}
        if node.type == "short_var_declaration":
            left = node.child_by_field_name("left")
            right = node.child_by_field_name("right")
            names = [] if left is None else list(left.named_children)
            values = [] if right is None else right.named_children
            first = _produced(file, values[0], sql_names, visible) if len(values) == 1 else None
            kinds: list[str | None] = [first] + [None] * len(names)
        else:
            declared = _sql_type(file, node.child_by_field_name("type"), sql_names)
            names = node.children_by_field_name("name")
            value = node.child_by_field_name("value")
            kinds = [declared] * len(names)
            if declared is None and value is not None and len(value.named_children) == 1:
                kinds[0] = _produced(file, value.named_children[0], sql_names, visible)
        for name, kind in zip(names, kinds, strict=False):
            if name.type == "identifier":
                found[file.text(name)] = kind
    return found


def _produced(
    file: GoFile, value: Node, sql_names: set[str], known: dict[str, str | None]
) -> str | None:
    """The sql type a call like ``sql.Open(...)`` or ``db.Begin()`` returns first."""
    if value.type != "call_expression":
        return None
    found = file.selector_call(value)
    if found is None:
        return None
    operand, function = found
    if operand in sql_names:
        return _PRODUCERS.get(function) if function in ("Open", "OpenDB") else None
    if (
        known.get(operand) is not None
        and function in _PRODUCERS
        and function not in ("Open", "OpenDB")
    ):
        return _PRODUCERS[function]
    return None


def _receiver_type(
    file: GoFile,
    receiver: Node,
    call: Node,
    sql_names: set[str],
    fields: dict[str, str],
    globals_: dict[str, str | None],
) -> str | None:
    if receiver.type == "selector_expression":
        # ``s.db.Query``: judged by the field's declared type anywhere in this file.
        return fields.get(file.text(receiver.child_by_field_name("field")))
    if receiver.type != "identifier":
        return None
    name = file.text(receiver)
    scopes: list[Node] = []
    current: Node | None = file.enclosing_function(call)
    while current is not None:
        scopes.append(current)
        current = file.enclosing_function(current)
    known: dict[str, str | None] = dict(globals_)
    for scope in reversed(scopes):  # outermost first, so inner declarations shadow
        known.update(
            _declared_sql_names(file, scope, sql_names, before=call.start_byte, known=known)
        )
    return known.get(name)


def _context_in_scope(file: GoFile, call: Node) -> str | None:
    """The expression to pass as context: a ``context.Context`` parameter or variable
    declared before the call (innermost function first), else ``r.Context()`` for an
    ``*http.Request`` parameter."""
    context_names = file.names_for("context")
    http_names = file.names_for("net/http")
    request: str | None = None
    current = file.enclosing_function(call)
    while current is not None:
        parameters = current.child_by_field_name("parameters")
        for declaration in [] if parameters is None else parameters.named_children:
            type_text = file.text(declaration.child_by_field_name("type")).replace(" ", "")
            names = [file.text(n) for n in declaration.children_by_field_name("name")]
            names = [n for n in names if n != "_"]
            if not names:
                continue
            if any(type_text == f"{c}.Context" for c in context_names):
                return names[0]
            if request is None and any(type_text == f"*{h}.Request" for h in http_names):
                request = f"{names[0]}.Context()"
        local = _local_context(file, current, call, context_names)
        if local is not None:
            return local
        current = file.enclosing_function(current)
    return request


def _local_context(file: GoFile, scope: Node, call: Node, context_names: set[str]) -> str | None:
    """A variable assigned from ``context.With*``/``Background``/``TODO`` before ``call``."""
    body = scope.child_by_field_name("body")
    if body is None:
        return None
    for declaration in file.nodes_of("short_var_declaration", within=body):
        if (
            declaration.start_byte >= call.start_byte
            or file.enclosing_function(declaration) != scope
        ):
            continue
        left = declaration.child_by_field_name("left")
        right = declaration.child_by_field_name("right")
        if left is None or right is None or not left.named_children or not right.named_children:
            continue
        value = right.named_children[0]
        found = file.selector_call(value) if value.type == "call_expression" else None
        if found is not None and found[0] in context_names and _makes_context(found[1]):
            name = file.text(left.named_children[0])
            if name != "_":
                return name
    return None


def _makes_context(function: str) -> bool:
    """Whether ``context.<function>`` returns a Context first (not Cause, AfterFunc)."""
    return function.startswith("With") or function in ("Background", "TODO")


RULE = SqlContextRule()

__all__ = ["RULE", "SqlContextRule"]
