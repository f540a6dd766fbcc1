"""Load YAML safely, keeping the line of every value and refusing what PyYAML lets through.

PyYAML keeps the last of two equal keys without a word (pyyaml #165) and expands aliases without
bound; forgeq reports both. Only `SafeLoader` is used, so `!!python/...` tags are rejected.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any

from forgeq.emulator.errors import Problem

if TYPE_CHECKING:
    import yaml

MAX_MANIFEST_BYTES = 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64
_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap"}


# PyYAML's Reader compiles this class at import, spanning all of Unicode: about 57M instructions, a
# tenth of `forgeq run`'s start-up (bench/README.md, Round 4). The same characters as a short list
# of what it refuses compile in a hundredth of that; tests/test_startup.py checks every code point.
_NON_PRINTABLE = "[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010ffff]"  # yaml/reader.py
REFUSED = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]"


def import_pyyaml() -> None:
    """Import PyYAML with its Reader's pattern compiled from REFUSED: re.compile looks in its cache
    first, so the pattern put there under the Reader's text is the one the Reader gets. Taken out of
    the cache again once yaml is imported, so nobody else compiling that text sees it."""
    if "yaml" in sys.modules:
        return
    cache = getattr(re, "_cache", None)  # CPython's compile cache, keyed (type, pattern, flags)
    key = (str, _NON_PRINTABLE, 0)
    if not isinstance(cache, dict) or key in cache:
        return
    cache[key] = re.compile(REFUSED)
    try:
        import yaml  # noqa: F401
    finally:
        cache.pop(key, None)


class YamlProblem(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def load_with_lines(text: str, file: str) -> tuple[Any, dict[str, int], list[Problem]]:
    """Parse `text`; return (data, {path: line}, duplicate-key problems). Raise YamlProblem."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_MANIFEST_BYTES:
        raise YamlProblem(Problem(file, None, "", f"the file is over {MAX_MANIFEST_BYTES // 1024} KiB; a Forge manifest is a few KiB"))
    if "\x00" in text:
        raise YamlProblem(Problem(file, None, "", "the file holds a NUL byte: it is not a YAML manifest"))
    import_pyyaml()
    import yaml

    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # its reader refuses control characters already
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        reason = error.problem or error.context or "invalid YAML"
        raise YamlProblem(Problem(file, line, "", reason, column)) from None
    except yaml.YAMLError as error:
        raise YamlProblem(Problem(file, None, "", f"invalid YAML: {error}")) from None
    except RecursionError:  # PyYAML composes recursively: thousands of nested [ or { exhaust the stack
        raise YamlProblem(Problem(file, None, "", f"nested deeper than {MAX_DEPTH} levels")) from None
    except (ValueError, OverflowError) as error:  # PyYAML's scanner on an escape like "\UFFFFFFFF"
        mark = loader.get_mark() if loader is not None else None
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        raise YamlProblem(Problem(file, line, "", f"invalid YAML: {error}", column)) from None
    finally:
        if loader is not None:
            loader.dispose()
    builder = _Builder(file)
    data = builder.build(node, "", 0) if node is not None else None
    return data, builder.lines, builder.problems


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[str, int] = {}
        self.problems: list[Problem] = []
        self.nodes = 0

    def build(self, node: yaml.Node, path: str, depth: int) -> Any:
        import yaml

        self.nodes += 1
        line = node.start_mark.line + 1
        if self.nodes > MAX_NODES:
            raise YamlProblem(Problem(self.file, line, path, f"more than {MAX_NODES} values (an alias bomb?)"))
        if depth > MAX_DEPTH:
            raise YamlProblem(Problem(self.file, line, path, f"nested deeper than {MAX_DEPTH} levels"))
        self.lines.setdefault(path, line)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN_TAGS:
            raise YamlProblem(Problem(self.file, line, path, f"unknown YAML tag '{node.tag}'; a manifest holds plain values only"))
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise YamlProblem(Problem(self.file, key_node.start_mark.line + 1, path, "YAML merge keys (<<) are not supported in a manifest"))
                key = self.build(key_node, path, depth + 1)
                if not isinstance(key, str | int | float | bool) and key is not None:
                    raise YamlProblem(Problem(self.file, key_node.start_mark.line + 1, path, "a mapping key must be a plain value"))
                key_line = key_node.start_mark.line + 1
                child = f"{path}.{key}" if path else str(key)
                if key in seen:
                    self.problems.append(
                        Problem(self.file, key_line, child, f"duplicate key '{key}' (first at line {seen[key]}); YAML would silently keep the last")
                    )
                seen[key] = key_line
                self.lines[child] = key_line
                result[key] = self.build(value_node, child, depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(node.value)]
        try:
            # A throwaway loader resolves one scalar the safe way (ints, bools, dates, unknown tags refused).
            return yaml.SafeLoader("").construct_object(node, deep=True)
        except yaml.YAMLError as error:
            raise YamlProblem(Problem(self.file, line, path, str(error).splitlines()[0])) from None
        except (ValueError, TypeError, AttributeError, OverflowError, IndexError):  # `2001-13-45`, `!!int abc`, `!!int` alone: PyYAML's own bugs
            raise YamlProblem(Problem(self.file, line, path, f"cannot read {node.value!r} as {node.tag.rsplit(':', 1)[-1]}")) from None
