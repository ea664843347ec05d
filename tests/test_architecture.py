"""The package's shape: no import circles, no import from a layer above, no module over 400 lines.

The imports are read from the source with ``ast`` (every ``import`` statement, inside functions too),
so a circle or an upward import fails here before anyone has to notice it in a picture.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "digitnet"

LAYERS = {
    # the foundations: no digitnet imports but each other
    "errors": 0,
    "checks": 0,
    "version": 0,
    "jsonable": 0,
    "atomic": 0,
    "files": 0,
    "rescue": 0,
    "extras": 0,
    "kernels": 0,
    # the engine
    "nn": 1,
    # the library: data, pixels, model files, configurations, the one training path, plots
    "data": 2,
    "imaging": 2,
    "modelfile": 2,
    "training": 2,
    "plots": 2,
    "metrics": 2,
    "calibration": 2,
    "models": 2,
    "interop": 3,
    "sklearn": 3,
    "confidence": 3,
    # what is built on the library
    "report": 3,
    "experiments": 3,
    "sweeps": 3,
    "serve": 4,
    "cli": 5,
    # the package's face and ``python -m digitnet``
    "__init__": 6,
    "__main__": 6,
}
"""Each top-level module or subpackage of digitnet and its layer: a module imports only from its own
layer or those below."""

MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> set[str]:
    """The digitnet modules ``path`` imports: ``from digitnet.a import b`` names ``digitnet.a.b`` when
    that is a module, else ``digitnet.a``."""
    name = module_name(path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # a relative import, from the package that holds this module
                package = name if path.name == "__init__.py" else name.rpartition(".")[0]
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], node.module or ""]
                )
            else:
                base = node.module or ""
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m.strip(".") for m in found if m.split(".")[0] == "digitnet"} - {name}


GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def layer_of(module: str) -> int:
    parts = module.split(".")
    return LAYERS["__init__" if len(parts) == 1 else parts[1]]


def test_every_part_of_the_package_has_a_layer():
    unplaced = sorted({m.split(".")[1] for m in MODULES if "." in m} - set(LAYERS))
    assert not unplaced, f"give these a layer in LAYERS: {unplaced}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_from_a_layer_above_it(module):
    upward = sorted(m for m in GRAPH[module] if layer_of(m) > layer_of(module))
    assert not upward, f"{module} (layer {layer_of(module)}) imports from above: {upward}"


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """A circle of imports in ``graph`` (module -> the modules it imports), as a path, or None."""
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> list[str] | None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return trail[trail.index(target) :] + [target]
            if target not in state and (circle := visit(target, [*trail, target])):
                return circle
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state and (circle := visit(module, [module])):
            return circle
    return None


def test_the_package_has_no_import_circles():
    circle = find_circle(GRAPH)
    assert circle is None, "import circle: " + " -> ".join(circle)


def test_the_circle_search_finds_circles():
    """The control: the search finds a circle where there is one, however long, and none in a chain."""
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    circled = {**GRAPH, "digitnet.nn.training": GRAPH["digitnet.nn.training"] | {"digitnet.nn.model"}}
    assert find_circle(circled) is not None  # the circle this package had: model -> training -> model


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_400_lines(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines: split it by idea"


def test_the_server_draws_with_the_engine_not_the_report():
    """What a page draws is the engine's (digitnet.nn.inspect): the server never loads the report, whose
    figures need matplotlib."""
    served = [m for m in GRAPH if m.startswith("digitnet.serve")]
    assert served
    reached, todo = set(), list(served)
    while todo:  # everything the server imports, directly or through others
        for target in GRAPH.get(todo.pop(), ()):
            if target not in reached:
                reached.add(target)
                todo.append(target)
    assert not sorted(m for m in reached if m.startswith("digitnet.report"))
