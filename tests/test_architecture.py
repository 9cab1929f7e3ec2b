"""The layout keeps its promises: no import cycles, data flowing one way through the stages, and
docs/architecture.md naming exactly the modules the tree holds."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = {"mengui_core": "audit_core", "mengui_datasette": "datasette_metadata", "mengui_cli": "cli",
            "mengui_plugins": "plugins"}
# The stages of the core, in the order data flows through them: a module may import its own stage and
# the ones before it. ``plugins`` (the manager) is the registry between the stages' types and their runners.
STAGES = ["foundation", "db", "ingest", "audit", "precheck", "review", "publish", "outputs", "monthly", "demo"]
FOUNDATION = {"errors", "months", "times", "money", "labels", "formulas", "hookspecs"}


def modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            name = ".".join([package] + (parts[:-1] if is_package else parts))
            found[name] = (path, is_package)
    return found


def imports(name: str, path: Path, is_package: bool, known: set[str]) -> set[str]:
    """The project modules ``name`` imports, at the top or inside functions. ``from pkg import sub``
    of a submodule depends on ``pkg.sub`` only (a package is always imported before its modules)."""
    package = name if is_package else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            subs = {f"{module}.{alias.name}" for alias in node.names} & known
            found |= subs
            if len(subs) < len(node.names):  # names that are not submodules come from the module itself
                found.add(module)
    return {m for m in found if m in known and m != name}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(name, path, is_package, set(found)) for name, (path, is_package) in found.items()}


def test_no_import_cycles(graph):
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


def stage(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "mengui_core" or len(parts) == 1:
        return None
    if parts[1] in FOUNDATION:
        return "foundation"
    return parts[1] if parts[1] in STAGES else None


def test_data_flows_one_way_through_the_stages(graph):
    wrong = []
    for module, targets in graph.items():
        here = stage(module)
        if here is None:
            continue
        for target in targets:
            there = stage(target)
            if there is not None and STAGES.index(there) > STAGES.index(here):
                wrong.append(f"{module} → {target}")
    assert wrong == []


def test_only_the_front_ends_know_the_front_ends(graph):
    core = [m for m in graph if m.startswith("mengui_core")]
    assert [f"{m} → {t}" for m in core for t in graph[m] if not t.startswith("mengui_core")] == []
    # the built-in plugins use the plugin author's namespace only (and each other's helpers)
    plugins = [m for m in graph if m.startswith("mengui_plugins.")]
    assert [f"{m} → {t}" for m in plugins for t in graph[m]
            if not (t == "mengui_core" or t.startswith("mengui_plugins"))] == []


def test_the_architecture_page_names_every_module_of_the_tree():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"\b((?:audit_core|datasette_metadata|cli|plugins)/[a-z_/]+\.py)\b", text))
    named |= {f"{folder}/{name}" for folder, names in re.findall(r"`((?:audit_core|datasette_metadata|cli|plugins)(?:/[a-z_]+)*)/`[^:]*: ((?:[^\n]+\n?)+)", text)
              for name in re.findall(r"`([a-z_]+\.py)`", names)}
    tree = {str(p.relative_to(ROOT)) for folder in PACKAGES.values() for p in (ROOT / folder).rglob("*.py")
            if p.name != "__init__.py"}
    assert sorted(tree - named) == [], "modules the page does not describe"
    assert sorted(named - tree) == [], "modules the page names that do not exist"
