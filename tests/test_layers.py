"""The package layers: every import points down, and no module imports itself in a circle.

The order is declared here once (docs/design.md explains it). Imports are read with `ast`, so
every import counts: module level, inside a function, under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Bottom to top. A module may import its own layer and the layers below; packages that share
# a rank (verify, doctor) may not import each other. The foundation modules are tiny and import
# nothing of llmgen's but the version; engines.registry is the list of engine names the spec's choice reads.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("llmgen.version",),
    ("llmgen.records",),
    ("llmgen.errors", "llmgen.links", "llmgen.engines.registry"),
    ("llmgen.spec",),
    ("llmgen.facts",),
    ("llmgen.engines",),
    ("llmgen.fit",),
    ("llmgen.rules",),
    ("llmgen.render",),
    ("llmgen.verify", "llmgen.doctor"),
    ("llmgen.cli",),
    ("llmgen.__main__",),  # `python -m llmgen`
    ("llmgen",),  # the public API (lazy), on top of everything
)


def modules(src: Path) -> dict[str, Path]:
    """Every module under `src` by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `name` imports anywhere in its text."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top = next(iter(sorted(known, key=len)))  # the root package
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            # `from pkg import mod` imports the submodule pkg.mod.
            subs = {f"{target}.{alias.name}" for alias in node.names} & known
            out.update(subs or {target})
    return {m for m in out if m == top or m.startswith(top + ".")} - {name}


def graph(src: Path) -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    found = modules(src)
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def rank(module: str, layers: tuple[tuple[str, ...], ...]) -> tuple[int, str]:
    """(layer index, the owning entry) of the most specific entry that covers `module`."""
    best: tuple[int, int, str] | None = None
    for index, layer in enumerate(layers):
        for entry in layer:
            covers = module == entry or module.startswith(entry + ".")
            if covers and (best is None or len(entry) > best[1]):
                best = (index, len(entry), entry)
    assert best is not None, f"{module} belongs to no layer: add it to LAYERS"
    return best[0], best[2]


def upward(edges: dict[str, set[str]], layers: tuple[tuple[str, ...], ...]) -> list[str]:
    """Each import that points up a layer or sideways into a sibling package."""
    found = []
    for source, targets in sorted(edges.items()):
        here, owner = rank(source, layers)
        for target in sorted(targets):
            there, other = rank(target, layers)
            if there > here or (there == here and other != owner):
                found.append(f"{source} imports {target}")
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def test_every_import_points_down() -> None:
    assert upward(graph(SRC), LAYERS) == []


def test_no_module_imports_itself_in_a_circle() -> None:
    assert cycles(graph(SRC)) == []


def test_the_checker_finds_an_upward_import_and_a_circle(tmp_path: Path) -> None:
    """The checks above could fail: a made-up tree with one of each is caught."""
    pkg = tmp_path / "app"
    for folder in ("low", "high"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "low" / "a.py").write_text("def f():\n    from app.high import b\n")
    (pkg / "high" / "b.py").write_text("from app.low import a\nfrom . import c\n")
    (pkg / "high" / "c.py").write_text("import app.high.b\n")
    layers = (("app.low",), ("app.high",), ("app",))
    edges = graph(tmp_path)
    assert upward(edges, layers) == ["app.low.a imports app.high.b"]
    assert cycles(edges) == [["app.high.b", "app.high.c", "app.low.a"]]
