"""The shape of the package, measured with ``ast`` so it stays true:

* no import cycle inside ``natsync/``, counting the imports under
  ``TYPE_CHECKING`` (an import inside a function body is a deliberate lazy load,
  e.g. of a CLI subcommand, and is not counted);
* no module over 800 lines;
* few places where a core module touches another object's private attribute
  (``obj._name`` where ``obj`` is not ``self``/``cls`` and no class of that
  module defines ``_name``): each one is listed in ``ALLOWED_REACH_INS`` with
  the reason it is there, so a new one is a conscious decision.

The layered packages (``natsync.js``, ``natsync.jetstream``, ``natsync.micro``) are
built on the client's public API; the private-attribute rule covers the core
only. They type the client with the ``natsync._client_api.ClientAPI`` Protocol and a
child object types its parent with a Protocol too, so they are in no cycle either.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

PKG = Path(__file__).resolve().parents[2] / "natsync"
MAX_LINES = 800

#: (module, attribute) -> why a module may touch another object's private attribute
ALLOWED_REACH_INS: Dict[Tuple[str, str], str] = {
    # the client (client.py and its _shutdown mixin) runs its subscriptions' life cycle
    ("natsync.client", "_start"): "subscribe() starts the new subscription's callback thread",
    ("natsync.client", "_close"): "unsubscribe/drain end a subscription; the reconnector's "
                                  "give_up closes the client (ClientShutdown._close)",
    ("natsync.client", "_max"): "unsubscribe(limit) sets the subscription's new limit",
    ("natsync.client", "_drain_sub"): "sub.drain() reaches ClientShutdown._drain_sub (a mixin "
                                      "of the client, in its own module)",
    ("natsync.client", "_hdr"): "request(): a 503 status is read from the raw header block",
    ("natsync._shutdown", "_thread"): "drain() from a callback finishes in the background",
    ("natsync._shutdown", "_in_own_callback"): "sub.drain() from its own callback (its thread "
                                               "or a pool worker) finishes in the background",
    ("natsync._shutdown", "_wait_drained"): "drain() and sub.drain() wait for the queues",
    # the test harness
    ("natsync.testing.cluster", "_spawn"): "the cluster starts its servers in parallel",
    ("natsync.testing.cluster", "_wait_ready"): "... and waits for all of them",
}

LAYERS = ("js", "jetstream", "micro")  # packages built on the client's public API


def in_layer(mod: str) -> bool:
    parts = mod.split(".")
    return len(parts) > 1 and parts[1] in LAYERS


#: Namedtuple and stdlib API that merely starts with an underscore.
_NOT_PRIVATE = {"_replace", "_asdict", "_fields", "_make", "_exit", "_getframe"}


def _modules() -> Dict[str, Path]:
    mods = {}
    for path in PKG.rglob("*.py"):
        parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _module_level_imports(tree: ast.Module) -> Iterator[ast.AST]:
    """Imports at module level, inside ``if``/``try`` blocks too (TYPE_CHECKING), but
    not inside functions or classes."""
    stack: List[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                stack.extend(getattr(node, field, []))
        elif isinstance(node, ast.ExceptHandler):
            stack.extend(node.body)


def _targets(mod: str, is_pkg: bool, node: ast.AST, mods: Dict[str, Path]) -> Set[str]:
    out: Set[str] = set()
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in mods}
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = mod.split(".") if is_pkg else mod.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        out.add(sub if sub in mods else target)
    return {t for t in out if t in mods}


def import_graph() -> Dict[str, Set[str]]:
    mods = _modules()
    graph: Dict[str, Set[str]] = defaultdict(set)
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in _module_level_imports(tree):
            graph[mod] |= _targets(mod, path.name == "__init__.py", node, mods) - {mod}
    return graph


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on: Set[str] = set()
    found: List[List[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def reach_ins() -> Dict[Tuple[str, str], int]:
    """Private reach-ins of the core modules (the layered packages, built on the
    client's public API, keep their own conventions between their own modules)."""
    counts: Dict[Tuple[str, str], int] = defaultdict(int)
    for mod, path in _modules().items():
        if in_layer(mod):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        own: Set[str] = set()  # private names some class of this module defines
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                own.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and (
                    isinstance(node.value, ast.Name) and node.value.id == "self"):
                own.add(node.attr)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                own.add(node.target.id)
            elif isinstance(node, ast.Assign):
                own.update(t.id for t in node.targets if isinstance(t, ast.Name))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            name = node.attr
            if not name.startswith("_") or name.startswith("__") or name in _NOT_PRIVATE:
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            if name in own:
                continue
            counts[(mod, name)] += 1
    return dict(counts)


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert found == [], f"import cycles inside natsync/ (TYPE_CHECKING imports count): {found}"


def test_no_module_over_800_lines() -> None:
    big = {mod: n for mod, path in _modules().items()
           if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert big == {}, f"split these modules (one job per module): {big}"


def test_private_reach_ins_are_few_and_listed() -> None:
    found = reach_ins()
    unlisted = sorted(k for k in found if k not in ALLOWED_REACH_INS)
    assert unlisted == [], (
        "a module touches another object's private attribute; give the owner a method "
        f"(or list it in ALLOWED_REACH_INS with the reason): {unlisted}")
    assert sum(found.values()) <= 12, found


def test_the_checks_see_what_they_should() -> None:
    graph = import_graph()
    assert "natsync.connection" in graph["natsync.client"]
    assert "natsync.client" not in graph["natsync.connection"]  # reports upward only
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]
    assert "natsync.client" not in graph["natsync._client_api"]
    layered = {m for m in graph if in_layer(m) or m == "natsync._request_many"}
    assert layered and not any("natsync.client" in graph[m] for m in layered)
