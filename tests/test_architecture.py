"""The shape of closeloop/, read from the source with `ast` (docs/architecture.md).

Dependencies run one way: no import circle between modules, apps import only the layers below
them, no production module imports a test module, no import hidden inside a function (except in
AppConfig.ready, where Django's app loading needs it), no `_private` name of another module, and
no module over 800 lines. The rules hold for every integration that lands under
closeloop/integrations/<name>/.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "closeloop"
MAX_MODULE_LINES = 800

# An app may import itself and the apps of the layers before its own, never one after it;
# apps that share a layer do not import each other (integrations never import one another).
LAYERS: list[set[str]] = [
    {"ids", "config", "piping"},
    {"jobs"},
    {"accounts"},
    {"api.plumbing"},
    {"outbox"},
    {"directory"},
    {"surveys"},
    {"workflows"},
    {"distributions"},
    {"integrations", "integrations.*"},
    {"demo"},
    {"web"},
    {"api.assembly"},
    {"urls"},
    {"cli", "settings", "wsgi", "asgi"},
    {"__main__"},
]
# The API package holds both the plumbing every app's API module uses and the two APIs that
# assemble every app's routers.
API_ASSEMBLY_MODULES = {"closeloop.api.v1", "closeloop.api.v3"}


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    lines: int
    imports: dict[str, int] = field(default_factory=dict)  # module → first line
    function_imports: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"


def is_test_path(path: Path) -> bool:
    return "tests" in path.parts or path.name in {"conftest.py"} or path.name.startswith("test_")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def load_modules(include_tests: bool = False) -> dict[str, Module]:
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if "migrations" in path.parts or (is_test_path(path) and not include_tests):
            continue
        name = module_name(path)
        text = path.read_text()
        modules[name] = Module(name, path, ast.parse(text, str(path)), len(text.splitlines()))
    return modules


def imported_names(module: Module, node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
    """(module imported, name taken from it or "") for each name of an import statement."""
    if isinstance(node, ast.Import):
        return [(alias.name, "") for alias in node.names]
    if node.level:
        base = module.name.split(".")
        if not module.is_package:
            base.pop()
        base = base[: len(base) - (node.level - 1)]
        source = ".".join([*base, node.module] if node.module else base)
    else:
        source = node.module or ""
    return [(source, alias.name) for alias in node.names]


def known_module(name: str, modules: dict[str, Module]) -> str | None:
    """The longest prefix of a dotted name that is one of our modules."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def type_checking_nodes(tree: ast.Module) -> set[int]:
    """Imports under `if TYPE_CHECKING:` run for type checkers only: no runtime dependency."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for inner in ast.walk(node))
    return skipped


def resolve_imports(modules: dict[str, Module]) -> None:
    for module in modules.values():
        skipped = type_checking_nodes(module.tree)
        in_function = {
            id(inner): function.name
            for function in ast.walk(module.tree)
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
            for inner in ast.walk(function)
        }
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.Import | ast.ImportFrom) or id(node) in skipped:
                continue
            for source, name in imported_names(module, node):
                target = known_module(f"{source}.{name}" if name else source, modules)
                if target is None or target == module.name:
                    continue
                module.imports.setdefault(target, node.lineno)
                hidden = (target, in_function.get(id(node)), node.lineno)
                if hidden[1] and hidden not in module.function_imports:
                    module.function_imports.append(hidden)


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    loaded = load_modules()
    resolve_imports(loaded)
    return loaded


@pytest.fixture(scope="module")
def every_module() -> dict[str, Module]:
    """Production and test modules: to catch imports of test code, and oversized tests."""
    loaded = load_modules(include_tests=True)
    resolve_imports(loaded)
    return loaded


def import_circles(modules: dict[str, Module]) -> list[list[str]]:
    """Strongly connected components of two or more modules (Tarjan, iterative)."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    circles = []
    counter = 0
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(modules[root].imports))]
        index[root] = lowlink[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = lowlink[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(modules[child].imports)))
                elif child in on_stack:
                    lowlink[node] = min(lowlink[node], index[child])
                continue
            work.pop()
            if work:
                lowlink[work[-1][0]] = min(lowlink[work[-1][0]], lowlink[node])
            if lowlink[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))
    return circles


def describe_circle(component: list[str], modules: dict[str, Module]) -> str:
    """One concrete loop through the component, with the line of each import."""
    members = set(component)
    path = [component[0]]
    while True:
        current = modules[path[-1]]
        following = next(t for t in sorted(current.imports) if t in members)
        line = current.imports[following]
        path[-1] = f"{path[-1]} (line {line})"
        if following in [step.split(" ")[0] for step in path]:
            return " → ".join([*path, following])
        path.append(following)


def app_of(module_name: str) -> str:
    parts = module_name.split(".")[1:]
    if not parts:
        return "closeloop"
    if parts[0] == "integrations" and len(parts) > 1:
        return f"integrations.{parts[1]}"
    if parts[0] == "api":
        return "api.assembly" if module_name in API_ASSEMBLY_MODULES else "api.plumbing"
    return parts[0]


def layer_of(app: str) -> int | None:
    for number, layer in enumerate(LAYERS):
        if app in layer or (app.startswith("integrations.") and "integrations.*" in layer):
            return number
    return None


def test_the_scan_sees_the_code(modules):
    """Guard against a test that passes because it read nothing."""
    assert len(modules) > 100
    assert "closeloop.workflows.engine" in modules
    assert any(module.imports for module in modules.values())


def test_no_import_circles_between_modules(modules):
    circles = import_circles(modules)
    assert not circles, "import circles:\n" + "\n".join(
        describe_circle(component, modules) for component in circles
    )


def test_every_app_has_a_layer(modules):
    unplaced = sorted(
        {app_of(name) for name in modules if layer_of(app_of(name)) is None} - {"closeloop"}
    )
    assert not unplaced, f"apps missing from LAYERS (and docs/architecture.md): {unplaced}"


def test_apps_import_only_lower_layers(modules):
    violations = []
    for module in modules.values():
        source_app = app_of(module.name)
        for target, line in module.imports.items():
            target_app = app_of(target)
            if target_app in (source_app, "closeloop"):
                continue
            source_layer, target_layer = layer_of(source_app), layer_of(target_app)
            if source_layer is None or target_layer is None:
                continue
            if target_layer >= source_layer:
                violations.append(f"{module.name}:{line} imports {target} ({target_app})")
    assert not violations, "imports against the layers:\n" + "\n".join(violations)


def test_no_production_module_imports_a_test_module(every_module):
    test_modules = {name for name, module in every_module.items() if is_test_path(module.path)}
    offenders = [
        f"{name}:{line} imports {target}"
        for name, module in every_module.items()
        if name not in test_modules
        for target, line in module.imports.items()
        if target in test_modules
    ]
    assert not offenders, "\n".join(offenders)


def test_imports_inside_functions_only_where_app_loading_needs_them(modules):
    hidden = [
        f"{module.name}:{line} imports {target} inside {function}()"
        for module in modules.values()
        for target, function, line in module.function_imports
        if not (module.path.name == "apps.py" and function == "ready")
    ]
    assert not hidden, "imports placed inside functions:\n" + "\n".join(hidden)


def private_names_used(module: Module, modules: dict[str, Module]) -> list[str]:
    """`from x import _name` and `x._name` where x is another of our modules."""
    found = []
    aliases: dict[str, str] = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for (source, name), alias in zip(imported_names(module, node), node.names, strict=True):
                full = f"{source}.{name}" if name else source
                private = name.startswith("_") and not name.startswith("__")
                if private and known_module(source, modules) not in (None, module.name):
                    found.append(f"{module.name}:{node.lineno} imports {full}")
                if full in modules:
                    aliases[alias.asname or (name or source.split(".")[0])] = full
    for node in ast.walk(module.tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and aliases[node.value.id] != module.name
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.append(f"{module.name}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    return found


def test_no_private_name_of_another_module(modules):
    found = [line for module in modules.values() for line in private_names_used(module, modules)]
    assert not found, "private names used outside their module:\n" + "\n".join(found)


def test_no_module_over_the_size_limit(every_module):
    oversized = [
        f"{module.path.relative_to(PACKAGE_DIR.parent)}: {module.lines} lines"
        for module in every_module.values()
        if module.lines > MAX_MODULE_LINES
    ]
    assert not oversized, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(oversized)


def test_the_circle_finder_finds_a_planted_circle(tmp_path):
    """The rule itself: a two-module loop hidden in a function is reported."""
    first = Module("closeloop.a", tmp_path / "a.py", ast.parse("from closeloop import b\n"), 1)
    second = Module(
        "closeloop.b", tmp_path / "b.py", ast.parse("def f():\n    from closeloop.a import x\n"), 2
    )
    planted = {"closeloop.a": first, "closeloop.b": second}
    resolve_imports(planted)
    assert import_circles(planted) == [["closeloop.a", "closeloop.b"]]
    assert second.function_imports == [("closeloop.a", "f", 2)]
    loop = describe_circle(["closeloop.a", "closeloop.b"], planted)
    assert loop == "closeloop.a (line 1) → closeloop.b (line 2) → closeloop.a"
