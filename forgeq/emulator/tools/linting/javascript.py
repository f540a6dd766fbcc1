"""JavaScript and TypeScript handler code, read with tree-sitter (parsed, never run).

What lint needs of a module: its imports (`import ... from`, `require(...)`), what it exports
(`export ...`, `exports.x =`, `module.exports = {...}`), the keys its resolver defines
(`resolver.define('key', ...)`, `makeResolver({...})`), the queues it makes (`new Queue({key})`),
the `throw new InvocationError(...)` it contains, where it uses the legacy `storage` API of
`@forge/api`, and the custom entities and transaction checks its storage calls name. tree-sitter's grammars (tree-sitter-javascript, tree-sitter-typescript) read JSX and
TypeScript as well, and keep going past a syntax error, so one bad line hides nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

# Where Forge's bundler looks for `./util` (forgeq's worker resolves the same: worker/hooks.mjs).
RESOLVE_SUFFIXES = ("", ".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", "/index.ts", "/index.tsx", "/index.js", "/index.jsx")
LEGACY_STORAGE_NAMES = ("storage", "startsWith")
# Where an `entityName` may be written: a transaction operation's argument (by position), a batch's items.
TRANSACTION_ENTITY_ARGUMENT = {"set": 2, "delete": 1, "check": 1}
BATCHES = ("batchSet", "batchGet", "batchDelete")


@dataclass(frozen=True)
class At:
    line: int  # 1-based
    column: int  # 1-based

    @classmethod
    def of(cls, node: Any) -> At:
        row, column = node.start_point
        return cls(row + 1, column + 1)


@dataclass
class JsImport:
    module: str  # "@forge/api", "./util"
    names: dict[str, str]  # local name -> what it is of the module: an export's name, "default" or "*"
    at: At


@dataclass
class JsSource:
    path: Path
    name: str  # as lint shows it
    text: str
    imports: list[JsImport] = field(default_factory=list)
    exports: set[str] = field(default_factory=set)
    exports_unknown: bool = False  # `export * from`, `module.exports = something`: lint cannot list them
    defines: dict[str, At] = field(default_factory=dict)  # resolver definition keys
    defines_unknown: bool = False  # a key lint cannot read (`resolver.define(name, ...)`)
    queues: list[tuple[str, At]] = field(default_factory=list)  # new Queue({key: '...'})
    thrown_invocation_errors: list[At] = field(default_factory=list)
    legacy_storage: list[tuple[str, At]] = field(default_factory=list)  # (what is used, where)
    # (the receiver's first name, the entity named, how, where): `kvs.entity('x')`, `storage.entity('x')`,
    # `{entityName: 'x'}` of a transaction's operation (`kvs` of kvs.transact()) or of a batch's items
    entities: list[tuple[str, str, str, At]] = field(default_factory=list)  # ... and how it is written
    # `.check(key, {...})` in a chain that starts at `x.transact()` and names no entityName: (x, where)
    unnamed_checks: list[tuple[str, At]] = field(default_factory=list)
    syntax_error: At | None = None

    def imported(self, module: str) -> dict[str, str]:
        """Every local name bound to `module` (local -> export name, "default" or "*")."""
        names: dict[str, str] = {}
        for found in self.imports:
            if found.module == module:
                names.update(found.names)
        return names


@cache
def _parser(suffix: str) -> Any:
    import tree_sitter

    if suffix in (".ts", ".mts", ".cts"):
        import tree_sitter_typescript as grammar

        language = grammar.language_typescript()
    elif suffix == ".tsx":
        import tree_sitter_typescript as grammar

        language = grammar.language_tsx()
    else:
        import tree_sitter_javascript as grammar_js  # reads JSX too

        language = grammar_js.language()
    return tree_sitter.Parser(tree_sitter.Language(language))


def read(path: Path, name: str, text: str) -> JsSource:
    source = JsSource(path, name, text)
    tree = _parser(path.suffix).parse(text.encode("utf-8"))
    root = tree.root_node
    if root.has_error:
        source.syntax_error = At.of(_first_error(root))
    _Walker(source).walk(root)
    return source


def _first_error(node: Any) -> Any:
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type == "ERROR" or current.is_missing:
            return current
        stack.extend(reversed(current.children))
    return node


def string_value(node: Any) -> str | None:
    """The text of a string literal (or a template literal without substitutions)."""
    if node is None:
        return None
    if node.type == "string":
        return "".join(_text(child) for child in node.named_children if child.type in ("string_fragment", "escape_sequence"))
    if node.type == "template_string" and not any(child.type == "template_substitution" for child in node.named_children):
        return "".join(_text(child) for child in node.named_children if child.type == "string_fragment")
    return None


def _text(node: Any) -> str:
    return bytes(node.text).decode("utf-8", "replace")


def resolve_relative(importer: Path, specifier: str) -> Path | None:
    """The file `./util` from `importer` names, as the bundler finds it."""
    base = importer.parent / specifier
    for suffix in RESOLVE_SUFFIXES:
        candidate = Path(f"{base}{suffix}")
        if candidate.is_file():
            return candidate
    return None


class _Walker:
    def __init__(self, source: JsSource) -> None:
        self.source = source

    def walk(self, root: Any) -> None:
        stack = [root]
        while stack:
            node = stack.pop()
            handler = getattr(self, "_" + node.type, None)
            if handler is not None:
                handler(node)
            stack.extend(reversed(node.children))

    # -- imports --------------------------------------------------------------------------------------

    def _import_statement(self, node: Any) -> None:
        module = string_value(node.child_by_field_name("source"))
        if module is None:
            return
        names: dict[str, str] = {}
        for clause in node.named_children:
            if clause.type != "import_clause":
                continue
            for part in clause.named_children:
                if part.type == "identifier":
                    names[_text(part)] = "default"
                elif part.type == "namespace_import":
                    names.update({_text(child): "*" for child in part.named_children if child.type == "identifier"})
                elif part.type == "named_imports":
                    for specifier in part.named_children:
                        if specifier.type != "import_specifier":
                            continue
                        imported = specifier.child_by_field_name("name")
                        alias = specifier.child_by_field_name("alias")
                        if imported is not None:
                            names[_text(alias or imported)] = _text(imported)
        self.source.imports.append(JsImport(module, names, At.of(node)))

    def _call_expression(self, node: Any) -> None:
        function = node.child_by_field_name("function")
        arguments = node.child_by_field_name("arguments")
        if function is None or arguments is None:
            return
        first = arguments.named_children[0] if arguments.named_children else None
        if function.type == "identifier" and _text(function) == "require":
            module = string_value(first)
            if module is not None:
                self.source.imports.append(JsImport(module, _required_names(node), At.of(node)))
        elif function.type == "member_expression" and _text(function.child_by_field_name("property")) == "define":
            key = string_value(first)
            if key is not None:
                self.source.defines.setdefault(key, At.of(first))
            elif first is not None:
                self.source.defines_unknown = True
        elif function.type == "member_expression":
            self._storage_call(node, function, arguments, first)
        if function.type == "identifier" and _text(function) == "makeResolver":
            if first is not None and first.type == "object":
                self._object_keys(first)
            else:
                self.source.defines_unknown = True

    def _storage_call(self, node: Any, function: Any, arguments: Any, first: Any) -> None:
        method = _text(function.child_by_field_name("property"))
        receiver = function.child_by_field_name("object")
        if method == "entity" and receiver is not None:
            name = string_value(first)
            if name is not None:
                root = _root_name(receiver)
                self.source.entities.append((root, name, f"{_text(receiver)}.entity('{name}')", At.of(first)))
        started = _transaction_root(receiver)
        given = arguments.named_children
        if method in TRANSACTION_ENTITY_ARGUMENT and started is not None:
            items = given[TRANSACTION_ENTITY_ARGUMENT[method] :][:1]
            root = started
        elif method in BATCHES and receiver is not None and receiver.type == "identifier" and first is not None and first.type == "array":
            items, root = first.named_children, _text(receiver)
        else:
            items, root = [], ""
        for item in items:
            named = _entity_name(item)
            if named is not None:
                self.source.entities.append((root, named[0], f"entityName '{named[0]}'", named[1]))
        if method == "check":
            second = given[1] if len(given) > 1 else None
            if started is not None and (second is None or (second.type == "object" and _entity_name(second, any_value=True) is None)):
                self.source.unnamed_checks.append((started, At.of(node)))

    def _object_keys(self, node: Any) -> None:
        for member in node.named_children:
            key = member.child_by_field_name("key" if member.type == "pair" else "name") if member.type in ("pair", "method_definition") else member
            if member.type == "shorthand_property_identifier" or (key is not None and key.type in ("property_identifier", "string")):
                text = string_value(key) if key.type == "string" else _text(key)
                self.source.defines.setdefault(text or "", At.of(member))
            elif member.type != "comment":
                self.source.defines_unknown = True

    # -- exports --------------------------------------------------------------------------------------

    def _export_statement(self, node: Any) -> None:
        source = self.source
        module = string_value(node.child_by_field_name("source"))
        if module is not None:  # export { worker } from './worker': the module is read as an import is
            source.imports.append(JsImport(module, {}, At.of(node)))
        if node.child_by_field_name("source") is not None and not any(c.type == "export_clause" for c in node.named_children):
            source.exports_unknown = True  # export * from '...'
            return
        if any(_text(child) == "default" for child in node.children):
            source.exports.add("default")
        declaration = node.child_by_field_name("declaration")
        if declaration is not None:
            source.exports.update(_declared_names(declaration))
        for clause in node.named_children:
            if clause.type == "export_clause":
                for specifier in clause.named_children:
                    if specifier.type == "export_specifier":
                        alias = specifier.child_by_field_name("alias") or specifier.child_by_field_name("name")
                        if alias is not None:
                            source.exports.add(string_value(alias) or _text(alias))

    def _assignment_expression(self, node: Any) -> None:
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        if left is None or left.type != "member_expression":
            return
        target = _text(left)
        if target == "module.exports":
            if right is not None and right.type == "object":
                for member in right.named_children:
                    key = member.child_by_field_name("key" if member.type == "pair" else "name") if member.type in ("pair", "method_definition") else member
                    if key is not None and key.type in ("property_identifier", "shorthand_property_identifier", "identifier"):
                        self.source.exports.add(_text(key))
                    elif member.type != "comment":
                        self.source.exports_unknown = True
            else:
                self.source.exports_unknown = True
        elif target.startswith(("exports.", "module.exports.")) and target.count(".") == (1 if target.startswith("exports.") else 2):
            self.source.exports.add(target.rsplit(".", 1)[1])

    # -- what handler code does -------------------------------------------------------------------------

    def _new_expression(self, node: Any) -> None:
        constructor = node.child_by_field_name("constructor")
        if constructor is None or _text(constructor) != "Queue":
            return
        arguments = node.child_by_field_name("arguments")
        first = arguments.named_children[0] if arguments is not None and arguments.named_children else None
        if first is None or first.type != "object":
            return
        for member in first.named_children:
            if member.type == "pair" and _key_text(member.child_by_field_name("key")) == "key":
                value = string_value(member.child_by_field_name("value"))
                if value is not None:
                    self.source.queues.append((value, At.of(member.child_by_field_name("value"))))

    def _throw_statement(self, node: Any) -> None:
        for child in node.named_children:
            target = child.child_by_field_name("constructor") if child.type == "new_expression" else child
            if target is not None and _text(target) == "InvocationError":
                self.source.thrown_invocation_errors.append(At.of(node))

    def _member_expression(self, node: Any) -> None:
        # `api.storage` where `api` is @forge/api's default or namespace import (checked in check_legacy_storage)
        obj, prop = node.child_by_field_name("object"), node.child_by_field_name("property")
        if obj is not None and prop is not None and obj.type == "identifier" and _text(prop) in LEGACY_STORAGE_NAMES:
            self.source.legacy_storage.append((f"{_text(obj)}.{_text(prop)}", At.of(node)))


def _root_name(node: Any) -> str:
    """The first name of a receiver: `kvs` of `kvs`, `api` of `api.storage`."""
    while node.type == "member_expression":
        node = node.child_by_field_name("object")
    return _text(node) if node.type == "identifier" else ""


def _entity_name(node: Any, any_value: bool = False) -> tuple[str, At] | None:
    """The entity an object literal's `entityName` names (with `any_value`, ("", at) when its value is not a
    literal); None when it has none. An object with a spread (`{...options}`) counts as naming one."""
    if node is None or node.type != "object":
        return None
    for member in node.named_children:
        if member.type == "spread_element":
            if any_value:
                return "", At.of(member)
            continue
        if member.type == "shorthand_property_identifier" and _text(member) == "entityName":
            return ("", At.of(member)) if any_value else None
        if member.type == "pair" and _key_text(member.child_by_field_name("key")) == "entityName":
            value = member.child_by_field_name("value")
            name = string_value(value)
            if name is not None:
                return name, At.of(value)
            return ("", At.of(member)) if any_value else None
    return None


def _transaction_root(node: Any) -> str | None:
    """`x` when `node` is a chain of calls starting at `x.transact()`, else None."""
    while node is not None and node.type == "call_expression":
        function = node.child_by_field_name("function")
        if function is None or function.type != "member_expression":
            return None
        if _text(function.child_by_field_name("property")) == "transact":
            return _root_name(function.child_by_field_name("object"))
        node = function.child_by_field_name("object")
    return None


def _key_text(node: Any) -> str | None:
    if node is None:
        return None
    return string_value(node) if node.type == "string" else _text(node)


def _required_names(call: Any) -> dict[str, str]:
    """What `const x = require(m)` or `const {a, b: c} = require(m)` binds (`require(m).x` too)."""
    parent = call.parent
    if parent is not None and parent.type == "member_expression":
        prop = parent.child_by_field_name("property")
        holder = parent.parent
        name = holder.child_by_field_name("name") if holder is not None and holder.type == "variable_declarator" else None
        if prop is not None and name is not None and name.type == "identifier":
            return {_text(name): _text(prop)}
        return {}
    if parent is None or parent.type != "variable_declarator":
        return {}
    name = parent.child_by_field_name("name")
    if name is None:
        return {}
    if name.type == "identifier":
        return {_text(name): "*"}
    names: dict[str, str] = {}
    if name.type == "object_pattern":
        for member in name.named_children:
            if member.type == "shorthand_property_identifier_pattern":
                names[_text(member)] = _text(member)
            elif member.type == "pair_pattern":
                key, value = member.child_by_field_name("key"), member.child_by_field_name("value")
                if key is not None and value is not None and value.type == "identifier":
                    names[_text(value)] = _key_text(key) or ""
    return names


def _declared_names(declaration: Any) -> set[str]:
    if declaration.type in ("function_declaration", "generator_function_declaration", "class_declaration", "function_signature"):
        name = declaration.child_by_field_name("name")
        return {_text(name)} if name is not None else set()
    if declaration.type in ("lexical_declaration", "variable_declaration"):
        names = set()
        for declarator in declaration.named_children:
            if declarator.type == "variable_declarator":
                name = declarator.child_by_field_name("name")
                if name is not None and name.type == "identifier":
                    names.add(_text(name))
        return names
    return set()
