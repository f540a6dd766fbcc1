"""The layout's import rules (forgeq/emulator/__init__.py), checked by reading every module with ast.

A part may import only the parts beneath it; the CLI and rich stay out of the library, the store
knows nothing of the SDK, the SDK nothing of the loop. Imports under `if TYPE_CHECKING:` carry
types only and may name any part of the emulator, except from the SDK and its port, which stay
strict.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from conftest import REPO

SHARED_MODULES = {"errors", "limits", "ids", "settings", "timespec", "wording", "safetext", "jsoninput"}
EMULATOR_PARTS = ("app", "products", "platform", "loop", "store", "tools")
LIBRARY = {"shared", "store", "app", "products", "platform", "loop", "tools"}

ALLOWED: dict[str, set[str]] = {
    "port": set(),
    "shared": set(),
    "sdk": {"port", "shared"},
    "store": {"shared"},
    "app": {"shared", "port"},
    "products": {"shared", "store", "app"},
    "platform": {"shared", "store", "app", "products", "port", "sdk"},
    "loop": {"shared", "store", "app", "products", "platform", "port", "sdk"},
    "tools": LIBRARY | {"port", "sdk"},
    "render": LIBRARY | {"cli"},  # render.py shares the launcher's typer-free table
    "testing": LIBRARY | {"port", "sdk", "render"},
    "cli": LIBRARY | {"port", "sdk", "render", "testing"},
}
STRICT = {"port", "sdk"}  # no type-only exceptions
THIRD_PARTY = {"typer": {"cli"}, "click": {"cli"}, "rich": {"render"}}


def part_of(module: str) -> str | None:
    """The part a forgeq module belongs to (None: not forgeq's, or the `forgeq init` template)."""
    parts = module.split(".")
    if parts[0] != "forgeq" or module.startswith("forgeq.templates"):
        return None
    if len(parts) == 1 or module in ("forgeq.jsontext", "forgeq.jsvalues"):
        return "shared"
    if module == "forgeq.runtime":
        return "port"
    if parts[1] in {"events", "kvs", "resolver", "api"}:
        return "sdk"
    if module == "forgeq.cli.render":
        return "render"
    if parts[1] in {"cli", "launcher", "statefile", "__main__"}:
        return "cli"
    if parts[1] in {"testing", "pytest_plugin"}:
        return "testing"
    if parts[1] == "emulator":
        if len(parts) == 2 or parts[2] in SHARED_MODULES:
            return "shared"
        if parts[2] in EMULATOR_PARTS:
            return parts[2]
    raise AssertionError(f"{module} is in no part: add it to forgeq/emulator/__init__.py and this test")


def _type_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """(module imported, line, type-only) for every import, at any depth (also inside functions)."""
    found: list[tuple[str, int, bool]] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, type_only) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((child.module, child.lineno, type_only))
                found.extend((f"{child.module}.{alias.name}", child.lineno, type_only) for alias in child.names)
            visit(child, type_only or (isinstance(child, ast.If) and _type_only(child)))

    visit(tree, False)
    return found


def violations(root: Path) -> list[str]:
    """Every import in the package under `root` (the folder holding forgeq/) that breaks a rule."""
    problems = []
    for path in sorted((root / "forgeq").rglob("*.py")):
        relative = path.relative_to(root).with_suffix("")
        module = ".".join(relative.parts).removesuffix(".__init__")
        part = part_of(module)
        if part is None:
            continue
        for name, line, type_only in imports(ast.parse(path.read_text(), str(path))):
            top = name.split(".")[0]
            if top in THIRD_PARTY and part not in THIRD_PARTY[top]:
                problems.append(f"{path.relative_to(root)}:{line}: {part} imports {top}")
                continue
            if top != "forgeq":
                continue
            target = part_of(_module_of(root, name))
            if target is None or target == part or target in ALLOWED[part]:
                continue
            if type_only and part not in STRICT and target in LIBRARY:
                continue
            problems.append(f"{path.relative_to(root)}:{line}: {part} imports {name} ({target})")
    return problems


def _module_of(root: Path, name: str) -> str:
    """`from forgeq.jsontext import compact` yields forgeq.jsontext.compact: a name in a module, judged by it."""
    base = root.joinpath(*name.split("."))
    if base.with_suffix(".py").exists() or base.is_dir():
        return name
    return name.rsplit(".", 1)[0]


def test_every_import_follows_the_layout():
    assert violations(REPO) == []


def test_a_planted_wrong_import_is_found(tmp_path):
    shutil.copytree(REPO / "forgeq", tmp_path / "forgeq", ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
    assert violations(tmp_path) == []
    plants = {
        "forgeq/emulator/store/schema.py": "from forgeq.kvs import ForgeKvsAPIError\n",  # the store knows no SDK
        "forgeq/kvs/__init__.py": "from forgeq.emulator.loop import engine\n",  # the SDK knows no loop
        "forgeq/emulator/platform/quota.py": "def f():\n    from forgeq.emulator.loop.engine import Emulator\n",
        "forgeq/emulator/loop/retry.py": "import rich\n",  # rich only in cli/render.py
        "forgeq/emulator/tools/report.py": "import typer\n",  # typer only in the CLI
        "forgeq/emulator/app/manifest.py": "from forgeq.cli import common\n",  # the CLI stays out of the library
    }
    for file, source in plants.items():
        target = tmp_path / file
        target.write_text(target.read_text() + "\n" + source)
    found = violations(tmp_path)
    assert sorted({problem.split(":")[0] for problem in found}) == sorted(plants), found


def test_every_part_says_what_it_owns_and_may_import():
    for part in EMULATOR_PARTS:
        init = REPO / "forgeq" / "emulator" / part / "__init__.py"
        docstring = ast.get_docstring(ast.parse(init.read_text()))
        assert docstring and "Imports" in docstring, f"{init} needs a docstring naming what it may import"
