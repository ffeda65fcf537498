"""The map drawn from the imports: layers point down, the kernels below the capabilities, no
circle between capabilities. A new module that breaks a rule fails here, named."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("domain", "application", "adapters", "entrypoints")
#: What each layer may import of ours.
ALLOWED = {
    "domain": {"domain"},
    "application": {"domain", "application"},
    "adapters": {"domain", "application", "adapters"},
    "entrypoints": set(LAYERS),
}
#: The shared kernels of the inner layers (their top-level modules, and these packages) import
#: no capability of their own layer. `domain.registry`, which lists every capability's events
#: for the codec, is a room of its own above them.
KERNEL: dict[str, set[str]] = {"domain": set(), "application": {"log", "projections"}}
#: Libraries that mean I/O, a clock or randomness: never in the domain.
IMPURE = {"asyncio", "random", "time", "socket", "os", "nats", "sqlalchemy", "litestar"}


def _modules() -> dict[str, list[str]]:
    """Module name -> the modules of ours and the top-level libraries it imports."""
    found: dict[str, list[str]] = {}
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            tree = ast.parse(path.read_text(encoding="utf-8"))
            imported: list[str] = []
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    imported.append(node.module)
                elif isinstance(node, ast.Import):
                    imported.extend(alias.name for alias in node.names)
            found[name] = imported
    return found


def _room(module: str) -> str:
    """`application.pay.flow` -> `application.pay`; a top-level module is its layer's kernel."""
    if module == "domain.registry":
        return module
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else f"{parts[0]}.(kernel)"


def test_layers_import_only_downwards() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, imports in _modules().items()
        for target in imports
        if target.split(".")[0] in LAYERS
        and target.split(".")[0] not in ALLOWED[module.split(".")[0]]
    ]
    assert wrong == []


def test_the_domain_is_pure() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, imports in _modules().items()
        if module.startswith("domain.")
        for target in imports
        if target.split(".")[0] in IMPURE
    ]
    assert wrong == []


def test_kernels_know_no_capability() -> None:
    wrong = []
    for module, imports in _modules().items():
        layer, *rest = module.split(".")
        if layer not in KERNEL:
            continue
        kernel = KERNEL[layer]
        in_kernel = len(rest) == 1 or (len(rest) > 1 and rest[0] in kernel)
        if not in_kernel or module == "domain.registry":  # the registry lists every capability
            continue
        for target in imports:
            t_layer, *t_rest = target.split(".")
            if t_layer == layer and len(t_rest) > 1 and t_rest[0] not in kernel:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_no_circle_between_capabilities() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, imports in _modules().items():
        for target in imports:
            if target.split(".")[0] in LAYERS and _room(target) != _room(module):
                graph[_room(module)].add(_room(target))

    def circle_from(start: str) -> list[str] | None:
        path: list[str] = []

        def visit(node: str) -> list[str] | None:
            if node in path:
                return [*path[path.index(node) :], node]
            path.append(node)
            for nxt in sorted(graph[node]):
                found = visit(nxt)
                if found:
                    return found
            path.pop()
            return None

        return visit(start)

    circles = {" -> ".join(c) for room in sorted(graph) if (c := circle_from(room))}
    assert circles == set()


def _capability(module: str) -> str | None:
    """`application.pay.flow` -> `application.pay`; None for the kernels and other layers."""
    layer, *rest = module.split(".")
    if layer not in KERNEL or len(rest) < 2 or rest[0] in KERNEL[layer]:
        return None
    return f"{layer}.{rest[0]}"


def test_each_capability_names_the_others_it_uses() -> None:
    """A capability reaches another only through what its docstring's "Uses:" names, so a
    developer in one room knows from its `__init__` what they may touch elsewhere."""
    wrong = []
    for module, imports in _modules().items():
        own = _capability(module)
        if own is None:
            continue
        layer, name = own.split(".")
        doc = ast.get_docstring(ast.parse((ROOT / layer / name / "__init__.py").read_text())) or ""
        uses = doc[doc.find("Uses:") :] if "Uses:" in doc else ""
        for target in imports:
            other = _capability(target)
            own_domain = other == f"domain.{name}"
            if other is None or other == own or own_domain:
                continue
            if f"`{other}" not in uses:
                wrong.append(f"{module} imports {target}, not in {own}'s Uses:")
    assert sorted(set(wrong)) == []
