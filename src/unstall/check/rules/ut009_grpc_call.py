"""UT009 grpc-call-no-deadline: a generated gRPC client call with an empty context.

gRPC has no default deadline: a unary call whose context is ``context.Background()``
or ``context.TODO()`` waits as long as the server (or a black-holed connection) keeps
it waiting. The suggested fix derives a ``context.WithTimeout`` for the call.

A "generated client" is recognised without type information: a value built by a
one-argument ``pkg.NewXxxClient(conn)`` constructor, or declared with an interface type
``pkg.XxxClient`` (generated clients are interfaces, used without ``*``). go-redis,
whose clients also end in "Client" and take a context first, is excluded by path.
"""

from __future__ import annotations

from collections.abc import Iterator

from tree_sitter import Node

from unstall.check.model import Finding, Fix
from unstall.check.parse import GoFile
from unstall.check.rules.ut008_grpc_dial import (
    GRPC,
    ContextNames,
    is_empty_context,
    with_timeout_edit,
)
from unstall.config import CheckTimeouts

# Libraries whose "...Client" values take a context first but are not gRPC stubs.
_NOT_GRPC_PREFIXES = ("github.com/redis/go-redis/", "github.com/go-redis/redis")
_SUFFIX = "Client"
_Scope = tuple[int, int] | None


class _Clients:
    """Where this file keeps generated clients: variables (per function scope) and
    struct fields (by name, file-wide: a field is reached through any receiver)."""

    def __init__(self, file: GoFile) -> None:
        self.file = file
        self.variables: dict[str, set[_Scope]] = {}
        self.fields: set[str] = set()
        self._collect()

    def _package_ok(self, package: str) -> bool:
        path = self.file.imports().get(package)
        return path is not None and path != GRPC and not path.startswith(_NOT_GRPC_PREFIXES)

    def is_client_type(self, node: Node | None) -> bool:
        """``pkg.XxxClient`` (not a pointer, not plain ``Client``) from a non-excluded package."""
        if node is None or node.type != "qualified_type":
            return False
        package = self.file.text(node.child_by_field_name("package"))
        name = self.file.text(node.child_by_field_name("name"))
        return name.endswith(_SUFFIX) and len(name) > len(_SUFFIX) and self._package_ok(package)

    def is_constructor(self, node: Node | None) -> bool:
        """``pkg.NewXxxClient(conn)``: one argument that is neither an options literal
        nor a context (cloud SDK constructors take a context, go-redis takes options)."""
        if node is None or node.type != "call_expression":
            return False
        found = self.file.selector_call(node)
        if found is None:
            return False
        package, function = found
        if not (function.startswith("New") and function.endswith(_SUFFIX)):
            return False
        if len(function) <= len("New" + _SUFFIX) or not self._package_ok(package):
            return False
        arguments = self.file.arguments(node)
        if len(arguments) != 1:
            return False
        argument = arguments[0]
        if argument.type in ("unary_expression", "composite_literal", "variadic_argument"):
            return False
        return not is_empty_context(self.file, argument) and self.file.text(argument) != "ctx"

    def _scope(self, node: Node) -> _Scope:
        function = self.file.enclosing_function(node)
        return None if function is None else (function.start_byte, function.end_byte)

    def _add_variable(self, name: Node, scope: _Scope) -> None:
        self.variables.setdefault(self.file.text(name), set()).add(scope)

    def _collect(self) -> None:
        file = self.file
        kinds = (
            "parameter_declaration",
            "var_spec",
            "field_declaration",
            "short_var_declaration",
            "assignment_statement",
            "keyed_element",
        )
        for node in file.nodes_of(*kinds):
            if node.type in ("parameter_declaration", "var_spec", "field_declaration"):
                names = node.children_by_field_name("name")
                typed = self.is_client_type(node.child_by_field_name("type"))
                values = node.child_by_field_name("value")
                built = [] if values is None else values.named_children
                for index, name in enumerate(names):
                    if not (typed or (index < len(built) and self.is_constructor(built[index]))):
                        continue
                    if node.type == "field_declaration":
                        self.fields.add(file.text(name))
                    else:
                        self._add_variable(name, self._scope(node))
            elif node.type == "keyed_element":
                children = node.named_children
                if len(children) == 2 and self.is_constructor(_unwrap(children[1])):
                    self.fields.add(file.text(children[0]).strip())
            else:
                left = node.child_by_field_name("left")
                right = node.child_by_field_name("right")
                if left is None or right is None:
                    continue
                targets, built = left.named_children, right.named_children
                for target, value in zip(targets, built, strict=False):
                    if len(targets) != len(built) or not self.is_constructor(value):
                        continue
                    if target.type == "identifier":
                        self._add_variable(target, self._scope(node))
                    elif target.type == "selector_expression":
                        self.fields.add(file.text(target.child_by_field_name("field")))

    def is_client(self, operand: Node) -> bool:
        """Whether the receiver of a method call is a generated client."""
        if operand.type == "call_expression":
            return self.is_constructor(operand)
        if operand.type == "selector_expression":
            return self.file.text(operand.child_by_field_name("field")) in self.fields
        if operand.type != "identifier":
            return False
        scopes = self.variables.get(self.file.text(operand))
        if not scopes:
            return False
        if None in scopes:
            return True
        # Visible if declared in the function using it or in one enclosing it (closures).
        function = self.file.enclosing_function(operand)
        while function is not None:
            if (function.start_byte, function.end_byte) in scopes:
                return True
            function = self.file.enclosing_function(function)
        return False


def _unwrap(node: Node) -> Node:
    # Composite literal values come wrapped in a literal_element node.
    if node.type == "literal_element" and len(node.named_children) == 1:
        return node.named_children[0]
    return node


class GrpcCallDeadlineRule:
    """Flags generated gRPC client calls made with ``context.Background()``/``TODO()``."""

    id = "UT009"
    name = "grpc-call-no-deadline"
    summary = "gRPC call with context.Background() and no deadline"
    description = (
        "gRPC calls have no default deadline. A call made with context.Background() or "
        "context.TODO() waits for as long as the server takes, and a server that hangs, "
        "or a connection whose packets are silently dropped, keeps the calling goroutine "
        "waiting forever. gRPC's own guidance is to always set a deadline: derive the "
        "call's context with context.WithTimeout and defer its cancel."
    )

    def check(self, file: GoFile, timeouts: CheckTimeouts) -> Iterator[Finding]:
        """Yield a finding, with a suggested fix, per client call with an empty context."""
        if not file.names_for("context"):
            return
        clients: _Clients | None = None
        names = ContextNames(file)
        for call in file.calls():
            function = call.child_by_field_name("function")
            if function is None or function.type != "selector_expression":
                continue
            arguments = file.arguments(call)
            if len(arguments) < 2 or not is_empty_context(file, arguments[0]):
                continue
            method = file.text(function.child_by_field_name("field"))
            if not method[:1].isupper() or self._is_call_option(file, arguments[1]):
                continue
            operand = function.child_by_field_name("operand")
            clients = clients or _Clients(file)
            if operand is None or not clients.is_client(operand):
                continue
            message = (
                f"{file.text(function)} is called with {file.text(arguments[0])}: a gRPC call "
                "has no deadline by default and waits forever on a stalled server; "
                "pass a context.WithTimeout"
            )
            yield file.finding(
                self.id, call, message, self._fix(file, call, arguments[0], timeouts, names)
            )

    def _is_call_option(self, file: GoFile, node: Node) -> bool:
        # (ctx, grpc.X(...)) is a streaming call (ctx, opts...), not a unary request.
        if node.type == "variadic_argument":
            return True
        return (
            node.type == "call_expression"
            and (found := file.selector_call(node)) is not None
            and (found[0] in file.names_for(GRPC))
        )

    def _fix(
        self, file: GoFile, call: Node, context: Node, timeouts: CheckTimeouts, names: ContextNames
    ) -> Fix | None:
        statement = file.enclosing_statement(call)
        if statement is None:
            return None
        ctx, cancel = names.pick(statement, "ctx")
        insert, imports = with_timeout_edit(
            file, statement, file.text(context), timeouts.grpc_call, (ctx, cancel)
        )
        return Fix(
            safe=False,
            edits=(insert, file.replace(context, ctx)),
            imports=imports,
            description=f"call under context.WithTimeout({timeouts.grpc_call})",
        )


RULE = GrpcCallDeadlineRule()

__all__ = ["RULE", "GrpcCallDeadlineRule"]
