"""Lazy public surfaces for the stage packages (PEP 562): `from rag.index import Retriever` works, yet importing
`rag.index.bm25` alone does not load the embedder, FAISS or numpy-heavy siblings, `python -m rag.ingest.clean`
runs without a double import, and no package import can start a cycle."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, table: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, whose public `name`s live in the submodules `table[name]`."""

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(table)

    return __getattr__, __dir__
