"""The layout is the architecture: no import cycles between modules, every package's public names resolve, and no
module grows past what one reader can hold (split it by what it does instead)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["rag.ingest", "rag.index", "rag.generate", "rag.answer", "rag.evaluate", "rag.bench"]
MAX_LINES = 420


def _modules() -> dict[str, Path]:
    out = {}
    for top in ("rag", "ui"):
        for path in (ROOT / top).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _import_time_edges(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules `name` imports when it is imported: top-level statements only (an import inside a function runs
    later, when the caller needs it), `if TYPE_CHECKING:` blocks skipped."""
    edges: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        edges.update(t for t in targets if t in known and t != name)
    return edges


def test_no_import_cycles():
    modules = _modules()
    graph = {n: _import_time_edges(n, p, set(modules)) for n, p in modules.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                cycle = stack[stack.index(m):] + [m]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)


@pytest.mark.parametrize("package", PACKAGES)
def test_public_names_resolve(package):
    mod = importlib.import_module(package)
    assert mod.__all__, f"{package} names no public surface"
    for name in mod.__all__:
        assert getattr(mod, name) is not None
    with pytest.raises(AttributeError):
        getattr(mod, "no_such_name")


def test_modules_stay_small():
    long = {n: len(p.read_text(encoding="utf-8").splitlines()) for n, p in _modules().items()}
    assert not {n: k for n, k in long.items() if k > MAX_LINES}, f"modules over {MAX_LINES} lines: split them"
