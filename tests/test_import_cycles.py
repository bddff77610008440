"""No import loops in minidl and hpa: the graph of module-level imports has no cycle.

A loop between two modules works only as long as nobody changes which one is
imported first; it also says that two ideas were cut in the wrong place. This
reads every module's top-level imports with ``ast`` (imports inside functions
are deliberate late imports and are not edges) and looks for a cycle.

An edge ``a -> b`` is drawn for every module ``b`` that executing ``a``'s top
level imports: the target itself and the packages above it (their
``__init__`` runs first), except the packages ``a`` itself lives in, which are
already being imported when ``a`` runs.
"""
import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("minidl", "hpa")


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules():
    """Dotted name -> path of every module of minidl and hpa."""
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _top_level_imports(tree):
    """Import statements run when the module runs: not those inside functions or classes' methods."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        else:
            pending.extend(ast.iter_child_nodes(node))


def _resolve(node, name, is_package):
    """The absolute module a ``from`` import names (relative imports resolved against ``name``)."""
    if not node.level:
        return node.module
    base = name.split(".")
    base = base if is_package else base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(modules):
    """Module -> set of project modules its top level makes Python import."""
    graph = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets = set()
        for node in _top_level_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            else:
                module = _resolve(node, name, is_package)
                targets.add(module)
                targets.update(f"{module}.{alias.name}" for alias in node.names)
        edges = set()
        own_packages = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        if is_package:
            own_packages.add(name)
        for target in targets:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix in modules and prefix not in own_packages and prefix != name:
                    edges.add(prefix)
        graph[name] = edges
    return graph


def find_cycle(graph):
    """One cycle as a list of modules (first == last), or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    for start in sorted(graph):
        if colour[start] != WHITE:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        colour[start] = GREY
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = BLACK
                stack.pop()
                path.pop()
            elif colour[child] == GREY:
                return path[path.index(child):] + [child]
            elif colour[child] == WHITE:
                colour[child] = GREY
                stack.append((child, iter(sorted(graph[child]))))
                path.append(child)
    return None


def test_the_graph_sees_the_project():
    graph = import_graph(project_modules())
    assert len(graph) > 150
    assert "minidl.ops" in graph["minidl.layers.conv"] or any(
        t.startswith("minidl.ops") for t in graph["minidl.layers.conv"])


def test_the_checker_finds_a_planted_loop():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_loops(package):
    modules = project_modules()
    graph = import_graph(modules)
    cycle = find_cycle({name: {t for t in edges if t.split(".")[0] == package}
                        for name, edges in graph.items() if name.split(".")[0] == package})
    assert cycle is None, "import loop: " + " -> ".join(cycle)
