"""Go source through tree-sitter-go: the one module of unstall that parses Go.

A :class:`GoFile` is a parsed file plus the questions every rule asks of it: what a
node's text is, which import path a package name stands for, which function encloses a
node, and what a composite literal sets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import tree_sitter_go
from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree

from unstall.check.model import Edit, Finding, Fix

_TIME_SELECTOR = re.compile(r"\btime\.")


@cache
def _language() -> Language:
    return Language(tree_sitter_go.language())


@cache
def _parser() -> Parser:
    return Parser(_language())


@cache
def _query(types: tuple[str, ...]) -> Query:
    return Query(_language(), "[" + " ".join(f"({t})" for t in types) + "] @node")


@dataclass
class GoFile:
    """One Go file: its path, bytes and syntax tree."""

    path: Path
    source: bytes
    tree: Tree
    _imports: dict[str, str] | None = field(default=None, repr=False)
    _found: dict[tuple[str, ...], list[Node]] = field(default_factory=dict, repr=False)

    @property
    def root(self) -> Node:
        return self.tree.root_node

    def text(self, node: Node | None) -> str:
        if node is None:
            return ""
        return self.source[node.start_byte : node.end_byte].decode("utf-8", "replace")

    # -- imports --------------------------------------------------------------------

    def imports(self) -> dict[str, str]:
        """Package name as used in this file -> import path ("http" -> "net/http").

        Without an alias the name is go's convention for the path (see
        :func:`default_package_name`); rules ask by import PATH via :meth:`names_for`.
        """
        if self._imports is None:
            found: dict[str, str] = {}
            for spec in self.nodes_of("import_spec"):
                path_node = spec.child_by_field_name("path")
                path = self.text(path_node).strip('"`')
                alias = spec.child_by_field_name("name")
                name = self.text(alias) if alias is not None else default_package_name(path)
                if name not in ("_", "."):
                    found[name] = path
            self._imports = found
        return self._imports

    def names_for(self, import_path: str) -> set[str]:
        """Every name this file uses for ``import_path`` (usually one, empty if not imported)."""
        return {name for name, path in self.imports().items() if path == import_path}

    def package_name(self, import_path: str) -> tuple[str, tuple[str, ...]]:
        """The name this file uses for ``import_path`` (its conventional name when it is not
        imported) and the imports a fix using it must add."""
        names = sorted(self.names_for(import_path))
        if names:
            return names[0], ()
        return default_package_name(import_path), (import_path,)

    def duration(self, expression: str) -> tuple[str, tuple[str, ...]]:
        """A configured Go duration (``10 * time.Second``) written with this file's name
        for package time, and the imports it needs."""
        if not _TIME_SELECTOR.search(expression):
            return expression, ()
        name, imports = self.package_name("time")
        return _TIME_SELECTOR.sub(f"{name}.", expression), imports

    def nodes_of(self, *types: str, within: Node | None = None) -> list[Node]:
        """Every node of the given types below ``within`` (default: the file), in source
        order. Matched by a tree-sitter query, in C: walking every node in Python would
        be the checker's main cost."""
        if within is None and types in self._found:
            return self._found[types]
        captures = QueryCursor(_query(types)).captures(within or self.root)
        found = sorted(captures.get("node", []), key=lambda n: (n.start_byte, -n.end_byte))
        if within is None:
            self._found[types] = found  # every rule asks for the calls: search once
        return found

    def calls(self, within: Node | None = None) -> list[Node]:
        """Every call expression."""
        return self.nodes_of("call_expression", within=within)

    def selector_call(self, call: Node) -> tuple[str, str] | None:
        """``pkg.Func(...)`` -> ("pkg", "Func") when the callee is a plain selector on an
        identifier (a package name or a variable), else None."""
        function = call.child_by_field_name("function")
        if function is None or function.type != "selector_expression":
            return None
        operand = function.child_by_field_name("operand")
        field_node = function.child_by_field_name("field")
        if operand is None or field_node is None or operand.type != "identifier":
            return None
        return self.text(operand), self.text(field_node)

    def package_call(self, call: Node, import_path: str, *names: str) -> str | None:
        """The function name when ``call`` is ``<pkg>.<name>(...)`` with ``<pkg>`` bound to
        ``import_path`` in this file and ``<name>`` among ``names``."""
        found = self.selector_call(call)
        if found is None:
            return None
        package, function = found
        if package in self.names_for(import_path) and function in names:
            return function
        return None

    def arguments(self, call: Node) -> list[Node]:
        """The argument expressions of a call (named children of its argument list)."""
        arguments = call.child_by_field_name("arguments")
        return [] if arguments is None else list(arguments.named_children)

    def enclosing_function(self, node: Node) -> Node | None:
        """The function declaration, method or function literal containing ``node``."""
        current = node.parent
        while current is not None:
            if current.type in ("function_declaration", "method_declaration", "func_literal"):
                return current
            current = current.parent
        return None

    def literal_fields(self, literal: Node) -> dict[str, Node]:
        """Keyed fields of a composite literal: {"Timeout": <value node>, ...}."""
        body = literal.child_by_field_name("body")
        found: dict[str, Node] = {}
        if body is None:
            return found
        for element in body.named_children:
            if element.type != "keyed_element":
                continue
            key, value = element.named_children[0], element.named_children[-1]
            found[self.text(key).strip()] = value
        return found

    def composite_type(self, literal: Node) -> tuple[str, str] | None:
        """``pkg.Type{...}`` -> ("pkg", "Type") for a composite literal of a qualified type."""
        type_node = literal.child_by_field_name("type")
        if type_node is None or type_node.type != "qualified_type":
            return None
        package = type_node.child_by_field_name("package")
        name = type_node.child_by_field_name("name")
        if package is None or name is None:
            return None
        return self.text(package), self.text(name)

    def finding(self, rule: str, node: Node, message: str, fix: Fix | None = None) -> Finding:
        """A finding at ``node`` (1-based lines; columns in characters, 1-based)."""
        start_line, start_col = node.start_point
        end_line, end_col = node.end_point
        return Finding(
            rule=rule,
            path=self.path,
            line=start_line + 1,
            column=self._column(start_line, start_col) + 1,
            end_line=end_line + 1,
            end_column=self._column(end_line, end_col) + 1,
            message=message,
            fix=fix,
        )

    def _column(self, row: int, byte_column: int) -> int:
        line_start = _line_starts(self.source)[row]
        return len(self.source[line_start : line_start + byte_column].decode("utf-8", "replace"))

    def indentation(self, node: Node) -> str:
        """The leading whitespace of the line ``node`` starts on."""
        line_start = _line_starts(self.source)[node.start_point[0]]
        line = self.source[line_start : node.start_byte].decode("utf-8", "replace")
        return line[: len(line) - len(line.lstrip())]

    def replace(self, node: Node, text: str) -> Edit:
        return Edit(node.start_byte, node.end_byte, text)

    # -- helpers for fixes that insert statements -----------------------------------

    def enclosing_statement(self, node: Node) -> Node | None:
        """The statement of a function body's statement list that contains ``node``
        (where a fix can insert statements before it); None outside function bodies."""
        current: Node | None = node
        while current is not None and current.parent is not None:
            if current.parent.type == "statement_list":
                return current
            if current.type in ("function_declaration", "method_declaration", "func_literal"):
                return None
            current = current.parent
        return None

    def identifier_names(self, within: Node) -> set[str]:
        """Every identifier spelled below ``within`` (to pick names a fix can declare
        without shadowing or redeclaring anything the code uses)."""
        return {self.text(n) for n in self.nodes_of("identifier", within=within)}


@cache
def _line_starts_cached(source: bytes) -> tuple[int, ...]:
    starts = [0]
    starts += [i + 1 for i, byte in enumerate(source) if byte == 0x0A]
    return tuple(starts)


def _line_starts(source: bytes) -> tuple[int, ...]:
    return _line_starts_cached(source)


def default_package_name(import_path: str) -> str:
    """The package name an import without an alias conventionally has: the last path
    element, the one before a major-version suffix ("/v9"), without a "go-" prefix or
    dashes ("github.com/redis/go-redis/v9" -> "redis"). go itself uses the package
    clause; unusual names need an alias in the importing file, which is read exactly."""
    parts = import_path.split("/")
    last = parts[-1]
    if len(parts) > 1 and last.startswith("v") and last[1:].isdigit():
        last = parts[-2]
    return last.removeprefix("go-").replace("-", "")


def syntax_error(tree: Tree) -> tuple[int, int] | None:
    """(line, column), 1-based, of the first syntax error in ``tree``; None if it parsed."""
    if not tree.root_node.has_error:
        return None
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            row, column = node.start_point
            return row + 1, column + 1
        stack.extend(reversed([c for c in node.children if c.has_error or c.is_missing]))
    return 1, 1


def parse_go(path: Path, source: bytes) -> GoFile:
    """Parse ``source``; a file with syntax errors still parses (check :func:`syntax_error`)."""
    return GoFile(path, source, _parser().parse(source))


__all__ = ["GoFile", "default_package_name", "parse_go", "syntax_error"]
