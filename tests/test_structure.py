"""The layout stays readable: no import circles, the layers import downwards, units stay small.

Read with ``ast`` only (nothing is imported): every ``import`` / ``from ... import`` of a
project module, at module level or inside a function, is an edge of the graph.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "explorer", "pages", "bench", "scripts", "devtools", "tests")
MAX_FILE_LINES = 450  # core/ and explorer/
MAX_FUNCTION_LINES = 80  # core/, explorer/, pages/
MAX_PAGE_LINES = 150


def python_files() -> list[Path]:
    files = [REPO / "streamlit_app.py"]
    for package in PACKAGES:
        files += sorted((REPO / package).rglob("*.py"))
    return [f for f in files if ".venv" not in f.parts]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(f): f for f in python_files()}


def resolve(name: str) -> str | None:
    """The project module ``name`` refers to (a name imported from a package may be its submodule)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(path: Path) -> set[str]:
    """The project modules that ``path`` imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        found |= {m for m in map(resolve, names) if m is not None}
    return found - {module_name(path)}


def import_graph() -> dict[str, set[str]]:
    graph = {name: imports_of(path) for name, path in MODULES.items()}
    # A package's __init__ runs when any submodule is imported; an edge to a submodule is not
    # an edge from the submodule to its package, so parents are left out of the cycle walk.
    return {name: {m for m in deps if not name.startswith(m + ".")} for name, deps in graph.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_there_are_no_import_circles():
    assert find_cycle(import_graph()) is None, "import circle: " + " -> ".join(find_cycle(import_graph()))


def test_the_cycle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


LAYERS = {  # who may import whom: pages -> explorer.ui -> explorer.logic -> core
    "core": ("core",),
    "explorer.logic": ("core", "explorer.logic"),
    "explorer.ui": ("core", "explorer.logic", "explorer.ui"),
    "pages": ("core", "explorer"),
    "streamlit_app": ("core", "explorer"),
    "devtools": ("core", "explorer", "devtools"),
    "bench": ("core", "explorer", "devtools", "bench"),
    "scripts": ("core", "explorer", "devtools", "scripts"),
}


@pytest.mark.parametrize("layer", list(LAYERS))
def test_imports_point_down_the_layers(layer):
    allowed = LAYERS[layer]
    wrong = {
        (name, dep)
        for name, deps in import_graph().items() if name == layer or name.startswith(layer + ".")
        for dep in deps if not any(dep == a or dep.startswith(a + ".") for a in allowed)
    }
    assert not wrong, f"{layer} may import only {allowed}: {sorted(wrong)}"


def test_core_and_the_logic_never_import_the_ui_libraries():
    for name, path in MODULES.items():
        if name.startswith(("core", "explorer.logic")):
            text = path.read_text()
            assert "import streamlit" not in text, name
            if name.startswith("core"):
                assert "import plotly" not in text, name


def test_files_in_core_and_explorer_stay_small():
    big = {str(p.relative_to(REPO)): n for p in python_files() if p.relative_to(REPO).parts[0] in ("core", "explorer")
           and (n := len(p.read_text().splitlines())) > MAX_FILE_LINES}
    assert not big, f"files over {MAX_FILE_LINES} lines (split them by concept): {big}"


def test_pages_stay_thin():
    long = {p.name: n for p in (REPO / "pages").glob("*.py") if (n := len(p.read_text().splitlines())) > MAX_PAGE_LINES}
    assert not long, f"pages over {MAX_PAGE_LINES} lines (move the logic to explorer/): {long}"


def test_functions_stay_short():
    long = {}
    for path in python_files():
        if path.relative_to(REPO).parts[0] not in ("core", "explorer", "pages"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(REPO)}:{node.name}"] = lines
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_pages_define_no_cached_loaders():
    for page in (REPO / "pages").glob("*.py"):
        assert "st.cache_" not in page.read_text(), f"{page.name}: cached loaders live in explorer/ui"


def read_the_architecture() -> tuple[set[str], set[str]]:
    """(named, gone): the files docs/architecture.md names, by their path from the repository's
    root anywhere or by their file name on the lines under a line that starts with their folder
    (``core/data/``; naming a folder names its ``__init__.py``); and the file names in the map
    under a folder of core/ or explorer/ that no such folder holds."""
    named, gone, folder = set(), set(), None
    for line in (REPO / "docs" / "architecture.md").read_text().splitlines():
        if line.startswith("```"):
            folder = None
        words = [w.rstrip(".,:;") for w in re.findall(r"[\w./-]+", line)]
        if words and line.lstrip().startswith(words[0]) and words[0].endswith("/") and (REPO / words[0]).is_dir():
            folder = words[0]
        for word in words:
            paths = [p for p in (word, f"{folder}{word}" if folder else None) if p]
            for path in paths:
                if (REPO / path).is_file():
                    named.add(path)
                elif path.endswith("/") and (REPO / path / "__init__.py").is_file():
                    named.add(f"{path}__init__.py")
            if (folder or "").startswith(("core/", "explorer/")) and re.search(r"\.(py|js|css|html)$", word) \
                    and not any((REPO / path).is_file() for path in paths):
                gone.add(f"{folder}{word}")
    return named, gone


def test_the_architecture_names_every_module_and_no_other():
    files = [*(REPO / "core").rglob("*.py"), *(REPO / "explorer").rglob("*.py"),
             *(p for p in (REPO / "explorer" / "components").rglob("*") if p.is_file())]
    files = {p.relative_to(REPO).as_posix() for p in files if "__pycache__" not in p.parts}
    named, gone = read_the_architecture()
    assert not sorted(files - named), f"docs/architecture.md does not name {sorted(files - named)}: one line each"
    assert not gone, f"docs/architecture.md names files that do not exist: {sorted(gone)}"
