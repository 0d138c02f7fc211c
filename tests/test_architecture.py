"""The layout rules, read from the sources with `ast` (nothing is imported): no import cycle among the project's
modules, no private (underscore) name imported from another module, the dependency direction written in
synthembed_common/__init__.py, and `make quality` covering every folder that holds Python.

Every import counts, also those inside functions (a deferred import still ties the two modules together); only
`if TYPE_CHECKING:` blocks, which never run, are left out.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from helpers.paths import REPO_ROOT

PACKAGES = ("data_generation", "synthembed", "synthembed_common", "model_cards")


def _modules(root: Path) -> dict[str, Path]:
    """{dotted name: file} of every module of PACKAGES under `root` (a package is its __init__.py)."""
    out = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST):
    """Every Import / ImportFrom node in `node`, outside `if TYPE_CHECKING:` blocks."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    elif isinstance(node, ast.If) and _is_type_checking(node):
        for child in node.orelse:
            yield from _imports(child)
    else:
        for child in ast.iter_child_nodes(node):
            yield from _imports(child)


def import_graph(root: Path) -> tuple[dict[str, set[str]], list[str]]:
    """({module: project modules it imports}, ["module imports name from other" for each private name imported)."""
    modules = _modules(root)

    def owner(name: str) -> str | None:  # the project module a dotted name lives in
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {m: set() for m in modules}
    private = []
    for module, path in modules.items():
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [(alias.name, None) for alias in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative: from the module's package, `level - 1` packages up
                    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                    package = package[: len(package) - node.level + 1]
                    base = ".".join([*package, base] if base else package)
                targets = [
                    (f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base, alias.name)
                    for alias in node.names
                ]
            for target, name in targets:
                found = owner(target)
                if found is None or found == module:
                    continue
                edges[module].add(found)
                if name and name.startswith("_") and not name.startswith("__"):
                    private.append(f"{module} imports {name} from {found}")
    return edges, private


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path) per strongly connected group of modules (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(_path_within(edges, group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _path_within(edges: dict[str, set[str]], group: set[str]) -> list[str]:
    """A cycle through the group's first module, by breadth-first search back to it."""
    start = min(group)
    parents, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(edges[v] & group):
                if w == start:
                    path = [v]
                    while parents[path[-1]] is not None:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if w not in parents:
                    parents[w] = v
                    nxt.append(w)
        frontier = nxt
    return sorted(group)


def declared_layers(root: Path) -> list[str]:
    """The dependency rule of synthembed_common/__init__.py: "a -> b -> c" (each may import only those after it)."""
    doc = ast.get_docstring(ast.parse((root / "synthembed_common" / "__init__.py").read_text(encoding="utf-8")))
    rule = re.search(r"^\s*(\w+(?:\s*->\s*\w+)+)\s*$", doc or "", re.M)
    assert rule, "synthembed_common/__init__.py no longer states the dependency rule as `a -> b -> ...`"
    layers = [p.strip() for p in rule.group(1).split("->")]
    assert sorted(layers) == sorted(PACKAGES), f"the rule names {layers}, the project's packages are {PACKAGES}"
    return layers


def reverse_imports(edges: dict[str, set[str]], layers: list[str]) -> list[str]:
    rank = {package: i for i, package in enumerate(layers)}
    return sorted(
        f"{module} imports {target}"
        for module, targets in edges.items()
        for target in targets
        if rank[target.split(".")[0]] < rank[module.split(".")[0]]
    )


def test_no_import_cycle():
    edges, _ = import_graph(REPO_ROOT)
    found = cycles(edges)
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_no_private_name_is_imported_from_another_module():
    _, private = import_graph(REPO_ROOT)
    assert not private, "private names imported across modules (make them public or move them):\n" + "\n".join(private)


def test_imports_follow_the_declared_direction():
    edges, _ = import_graph(REPO_ROOT)
    wrong = reverse_imports(edges, declared_layers(REPO_ROOT))
    assert not wrong, "imports against synthembed_common/__init__.py's dependency rule:\n" + "\n".join(wrong)


def module_getattrs(root: Path) -> list[str]:
    """Modules that define a module-level `__getattr__` (lazy re-exports: names no reader or linter can follow)."""
    return [
        module
        for module, path in _modules(root).items()
        if any(
            isinstance(node, ast.FunctionDef) and node.name == "__getattr__"
            for node in ast.parse(path.read_text()).body
        )
    ]


def test_no_module_getattr():
    found = module_getattrs(REPO_ROOT)
    assert not found, f"module-level __getattr__ in {found}: import the names explicitly where they are used"


def test_make_quality_covers_every_python_folder():
    makefile = (REPO_ROOT / "Makefile").read_text()
    listed = set(re.search(r"^PY_DIRS\s*:?=\s*(.*)$", makefile, re.M).group(1).split())
    assert "$(PY_DIRS)" in makefile.split("quality:")[1].split("\n\n")[0], "`make quality` no longer lints PY_DIRS"
    folders = {
        p.name
        for p in REPO_ROOT.iterdir()
        if p.is_dir() and not p.name.startswith(".") and next(p.rglob("*.py"), None) is not None
    }
    assert folders <= listed, f"folders with Python that `make quality` skips: {sorted(folders - listed)}"


def test_the_checks_catch_what_they_are_for(tmp_path):
    """A reverse import, a private cross-module import, a cycle and a module __getattr__ planted in a copy of the
    packages are found."""
    for package, files in {
        "synthembed_common": {
            "__init__.py": '"""Rule:\n\n    data_generation -> synthembed -> synthembed_common -> model_cards\n"""\n',
            "a.py": "def f():\n    from data_generation.b import _helper\n",
        },
        "data_generation": {
            "__init__.py": "def __getattr__(name):\n    raise AttributeError(name)\n",
            "b.py": "from synthembed_common.a import f\n_helper = f\n",
        },
        "synthembed": {"__init__.py": ""},
        "model_cards": {"__init__.py": ""},
    }.items():
        (tmp_path / package).mkdir()
        for name, text in files.items():
            (tmp_path / package / name).write_text(text)
    edges, private = import_graph(tmp_path)
    assert cycles(edges) == [["data_generation.b", "synthembed_common.a", "data_generation.b"]]
    assert private == ["synthembed_common.a imports _helper from data_generation.b"]
    assert module_getattrs(tmp_path) == ["data_generation"]
    assert reverse_imports(edges, declared_layers(tmp_path)) == ["synthembed_common.a imports data_generation.b"]
