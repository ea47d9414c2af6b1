"""Imports of ``harness`` and ``clp_node`` run only downward, and never in a loop.

Each package declares its layers, low to high. A module belongs to the unit with the longest
matching dotted name (``chain.keys`` before ``chain``). A module may import its own unit and
any unit of a LOWER layer; units that share a layer are independent of each other. Every
import counts for the layers, also one inside a function or under ``TYPE_CHECKING``. Loops
are looked for between modules, among the imports that run (``TYPE_CHECKING`` excluded):
an import inside a function hides a dependency or a loop, it does not remove it.

harness, low to high:

0. ``contract`` (the node contract), ``toxiproxy`` (the compatible server),
   ``official_toxiproxy`` (where the official one is), ``node_kinds`` (the node
   implementations), ``cache``, ``signals``: foundations that know nothing of a testnet
1. ``images``: the Docker images of the nodes and the proxy; ``node_mix``: the node kind of
   each validator of a mixed testnet
2. ``cluster``: testnets, their backends, the Toxiproxy API client
3. ``faults`` (the fault model over a cluster), ``monitor`` (Prometheus over a cluster)
4. ``checks``: histories and the §15 checkers
5. ``report``: report.html and timeline.svg from a run's folder, status tables
6. ``scenario``: scenario files and the runner, which monitors a run and writes its report
7. ``explore``, ``conform``, ``demo``, ``pytest_plugin``: tools built on runs
8. ``commands`` (one module per ``clp-testnet`` command), ``testcontainers`` (the library
   API for other projects' suites)
9. ``cli``: the ``clp-testnet`` entry point

clp_node, low to high:

0. ``logs``, ``store``, ``gossip``, ``chain.keys``: no node module below them
1. ``clp``: the pure CLP core (it names validators by ``chain.keys`` addresses)
2. ``chain``: genesis, blocks, ledger, ChainState (which drive the CLP core)
3. ``consensus``, ``net``
4. ``config``, ``wire``, ``vote_history``
5. ``preflight``, ``api``, ``votelog``
6. ``sync`` (block sync), ``consensus_driver`` (the consensus core's shell, commits): both
   counted by ``api`` metrics
7. ``relay``: frames to peers (it reads the heights ``sync`` keeps)
8. ``responses``: CLP responses in and out (counted by ``api`` metrics, sent by ``relay``)
9. ``node``: the process that wires everything
10. ``cli``: the ``clp-node`` entry point
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE_INIT = "__init__"  # the unit of a package's own __init__.py

LAYERS: dict[str, Sequence[frozenset[str]]] = {
    "harness": [
        frozenset(
            {
                PACKAGE_INIT,
                "contract",
                "toxiproxy",
                "official_toxiproxy",
                "node_kinds",
                "cache",
                "signals",
            }
        ),
        frozenset({"images", "node_mix"}),
        frozenset({"cluster"}),
        frozenset({"faults", "monitor"}),
        frozenset({"checks"}),
        frozenset({"report"}),
        frozenset({"scenario"}),
        frozenset({"explore", "conform", "demo", "pytest_plugin"}),
        frozenset({"commands", "testcontainers"}),
        frozenset({"cli"}),
    ],
    "clp_node": [
        frozenset({PACKAGE_INIT, "logs", "store", "gossip", "chain.keys"}),
        frozenset({"clp"}),
        frozenset({"chain"}),
        frozenset({"consensus", "net"}),
        frozenset({"config", "wire", "vote_history"}),
        frozenset({"preflight", "api", "votelog"}),
        frozenset({"sync", "consensus_driver"}),
        frozenset({"relay"}),
        frozenset({"responses"}),
        frozenset({"node"}),
        frozenset({"cli"}),
    ],
}


@dataclass(frozen=True)
class Import:
    source: str  # importing module, dotted
    target: str  # imported module of the same package, dotted
    where: str  # path:line
    typing_only: bool  # under ``if TYPE_CHECKING:``: never runs


def modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> source file, for every module of ``package`` under ``root``."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported(
    node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]
) -> Iterator[str]:
    """The modules an import statement names: ``from a import b`` names ``a.b`` when that
    is a module, else ``a``."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        origin = ".".join(base + ([node.module] if node.module else []))
    else:
        origin = node.module or ""
    for alias in node.names:
        sub = f"{origin}.{alias.name}"
        yield sub if sub in known else origin


def _is_type_checking(test: ast.expr) -> bool:
    return "TYPE_CHECKING" in ast.unparse(test)


def _imports_of(module: str, path: Path, root: Path, package: str, known: set[str]) -> list[Import]:
    """The imports of ``package`` modules in one module's source."""
    found: list[Import] = []
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST, typing_only: bool) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target in dict.fromkeys(_imported(node, module, is_package, known)):
                if target == package or target.startswith(package + "."):
                    where = f"{path.relative_to(root)}:{node.lineno}"
                    found.append(Import(module, target, where, typing_only))
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for stmt in node.body:
                visit(stmt, True)
            for stmt in node.orelse:
                visit(stmt, typing_only)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, typing_only)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return found


def imports(root: Path, package: str) -> list[Import]:
    """Every import of a module of ``package`` by a module of ``package``."""
    found = modules(root, package)
    known = set(found)
    return [i for m, path in found.items() for i in _imports_of(m, path, root, package, known)]


def unit_of(module: str, package: str, layers: Sequence[frozenset[str]]) -> str | None:
    """The declared unit ``module`` belongs to: the longest dotted prefix declared."""
    rel = module.removeprefix(package).removeprefix(".") or PACKAGE_INIT
    declared = [u for layer in layers for u in layer]
    matches = [u for u in declared if rel == u or rel.startswith(u + ".")]
    return max(matches, key=len) if matches else None


def layer_of(unit: str, layers: Sequence[frozenset[str]]) -> int:
    return next(i for i, layer in enumerate(layers) if unit in layer)


def upward(root: Path, package: str, layers: Sequence[frozenset[str]]) -> list[str]:
    """Each import that does not go down the layers, as ``path:line: a (L) imports b (L)``."""
    bad = []
    for imp in imports(root, package):
        src, dst = unit_of(imp.source, package, layers), unit_of(imp.target, package, layers)
        if src is None or dst is None or src == dst:
            continue
        ls, ld = layer_of(src, layers), layer_of(dst, layers)
        if ld >= ls:
            bad.append(f"{imp.where}: {src} (layer {ls}) imports {imp.target} ({dst}, layer {ld})")
    return bad


def loops(root: Path, package: str) -> list[list[str]]:
    """The strongly connected sets of modules (more than one) of the graph of imports that
    run, at import time or later."""
    graph: dict[str, set[str]] = {m: set() for m in modules(root, package)}
    for imp in imports(root, package):
        if not imp.typing_only and imp.target in graph and imp.target != imp.source:
            graph[imp.source].add(imp.target)
    # Tarjan's algorithm, iterative so a deep import chain cannot hit the recursion limit.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return sorted(found)


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_every_module_has_a_layer(package: str) -> None:
    layers = LAYERS[package]
    units = [u for layer in layers for u in layer]
    assert len(units) == len(set(units)), "a unit is declared in two layers"
    found = modules(ROOT, package)
    assert len(found) > 30, f"only {len(found)} modules of {package} found"
    unplaced = [m for m in found if unit_of(m, package, layers) is None]
    assert unplaced == [], f"give these modules a layer in LAYERS[{package!r}] (this file)"
    unused = [u for u in units if not any(unit_of(m, package, layers) == u for m in found)]
    assert unused == [], "a declared unit with no module: remove it or fix its name"


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_imports_go_down_the_layers(package: str) -> None:
    assert len(imports(ROOT, package)) > 100  # the reader sees the imports at all
    assert upward(ROOT, package, LAYERS[package]) == []


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_no_import_loops(package: str) -> None:
    assert loops(ROOT, package) == []


def test_the_rules_catch_an_upward_import_and_a_loop(tmp_path: Path) -> None:
    """A made-up package with one import of each kind the rules forbid, and allowed ones."""
    files = {
        "__init__.py": "",
        "low/__init__.py": "from pkg.low import a\n",
        "low/a.py": "from . import b\n",
        "low/b.py": "from .a import x\n",  # a loop: low.a <-> low.b
        "low/c.py": "def f():\n    from pkg.high import y\n",  # upward, even when lazy
        "low/d.py": "def f():\n    from pkg.low import e\n",  # a loop, even when lazy
        "low/e.py": "import pkg.low.d\n",
        "mid.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import side\n",
        "side.py": "from .low import c\n",
        "high.py": "import pkg.mid\nfrom pkg.low import a\n\ndef g():\n    import pkg.high\n",
    }
    for name, text in files.items():
        (tmp_path / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / name).write_text(text)
    layers = [frozenset({PACKAGE_INIT, "low"}), frozenset({"mid", "side"}), frozenset({"high"})]
    assert upward(tmp_path, "pkg", layers) == [
        "pkg/low/c.py:2: low (layer 0) imports pkg.high (high, layer 2)",
        "pkg/mid.py:3: mid (layer 1) imports pkg.side (side, layer 1)",
    ]
    # side -> low.c -> high -> mid closes a loop only through mid's TYPE_CHECKING import
    assert loops(tmp_path, "pkg") == [["pkg.low.a", "pkg.low.b"], ["pkg.low.d", "pkg.low.e"]]
