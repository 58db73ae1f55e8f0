"""The shape of the code: imports run one way (no circle between the modules of the library,
the UI frame and the pages, counting imports inside functions), the library never imports the
UI or Streamlit, the UI never imports the command line, the analytics never touch the store,
and no class outgrows one sitting. Read from the source with ``ast``: nothing is imported."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_CLASS_LINES = 400


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path) -> dict[str, Path]:
    files = [p for d in ("kam_analytics", "ui", "app_pages") for p in (root / d).rglob("*.py")]
    files += [root / "app.py"] if (root / "app.py").exists() else []
    return {module_name(p, root): p for p in files}


def _type_checking_only(tree) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for n in ast.walk(node)}
    return skip


def imported_names(path: Path, name: str) -> set[str]:
    """Every module name ``path`` imports, anywhere in it (relative imports resolved; a name
    imported from a module counts as ``module.name``, which may be a submodule)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_only(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the project modules it imports (a package's imports of its own submodules
    left out: a package that gathers its parts is not in a circle with them)."""
    mods = modules(root)

    def resolve(target: str) -> str | None:
        while target:
            if target in mods:
                return target
            target = target.rpartition(".")[0]
        return None

    graph = {}
    for name, path in mods.items():
        edges = {resolve(t) for t in imported_names(path, name)} - {None, name}
        if path.name == "__init__.py":
            edges = {e for e in edges if not e.startswith(name + ".")}
        graph[name] = edges
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            child = next(edges, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


# -- the checker itself, on graphs worked by hand -----------------------------------------------
@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}, "e": {"a", "c"}}, [["a", "b"], ["c", "d"]]),
    ({"a": {"a"}}, []),  # a module importing itself is no circle of modules
])
def test_circles_are_found_in_graphs_worked_by_hand(graph, expected):
    assert sorted(circles(graph)) == expected


def test_a_deferred_import_counts_and_a_type_checking_one_does_not(tmp_path):
    package = tmp_path / "kam_analytics"
    package.mkdir()
    (package / "__init__.py").write_text("from kam_analytics.one import x\n")
    (package / "one.py").write_text("def f():\n    from kam_analytics import two\n")
    (package / "two.py").write_text("from . import one\n")
    (package / "three.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                      "    from kam_analytics import one\n")
    graph = import_graph(tmp_path)
    assert graph["kam_analytics"] == set()  # a package's own parts
    # ``from package import x`` runs the package first: it is a dependency too
    assert graph["kam_analytics.one"] == {"kam_analytics", "kam_analytics.two"}
    assert graph["kam_analytics.two"] == {"kam_analytics", "kam_analytics.one"}
    assert graph["kam_analytics.three"] == set()
    assert circles(graph) == [["kam_analytics.one", "kam_analytics.two"]]


# -- the project ---------------------------------------------------------------------------------
def test_no_import_circles():
    assert circles(import_graph(ROOT)) == []


def test_the_library_never_imports_the_ui_or_streamlit():
    upward = sorted(f"{name} -> {target}" for name, path in modules(ROOT).items() if name.startswith("kam_analytics")
                    for target in imported_names(path, name)
                    if target.split(".")[0] in ("streamlit", "ui", "app_pages"))
    assert upward == []


def test_the_ui_never_imports_the_command_line():
    wrong = sorted(f"{name} -> {target}" for name, path in modules(ROOT).items()
                   if name.split(".")[0] in ("ui", "app_pages", "app")
                   for target in imported_names(path, name) if target.startswith("kam_analytics.cli"))
    assert wrong == []


def test_the_analytics_never_touch_the_store():
    wrong = sorted(f"{name} -> {target}" for name, path in modules(ROOT).items()
                   if name.startswith(("kam_analytics.analytics", "kam_analytics.models"))
                   for target in imported_names(path, name)
                   if target.startswith(("kam_analytics.store", "kam_analytics.service", "kam_analytics.ingest")))
    assert wrong == []


def test_the_store_engines_know_nothing_of_loading():
    # reading an attached table's lines is shared with the attach command (``ingest.canonical``);
    # the loads themselves (``ingest.load``, ``ingest.attach`` …) write through the store, never back
    graph = import_graph(ROOT)
    store_parts = [m for m in graph if m == "kam_analytics.store" or m.startswith("kam_analytics.store.")]
    wrong = sorted(f"{m} -> {t}" for m in store_parts for t in graph[m]
                   if t.startswith("kam_analytics.ingest") and t != "kam_analytics.ingest.canonical"
                   and not t.startswith("kam_analytics.ingest.parse"))
    assert wrong == []


def test_no_class_over_one_sitting():
    sizes = []
    for name, path in modules(ROOT).items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                sizes.append((node.end_lineno - node.lineno + 1, f"{name}.{node.name}"))
    assert max(sizes)[0] <= MAX_CLASS_LINES, max(sizes)
