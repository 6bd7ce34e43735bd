"""Question sets: a .jsonl file about the configured corpus, or a folder with `questions.jsonl` and its own `corpus/`;
their items, and the fixed "fit"/"report" split by a hash of each id (tune on one half, report on the other)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import RagError

TYPES = ("factoid", "why", "who-said", "multi-hop", "comparison", "latest", "asof", "timeline", "disagreement",
         "unanswerable")  # latest..disagreement: questions about a time (tests/fixtures/dated)
UNANSWERABLE = "unanswerable"
SPLITS = ("fit", "report", "all")
SPLIT_RULE = "sha1(id): even last byte -> fit, odd -> report"
# A set with its own corpus is split by its passages: a question goes with its passage's half, and each half is
# indexed on its own, so what is fitted on one half (a threshold, a prompt) never saw the other half's passages.
CORPUS_SPLIT_RULE = "corpus halves by sha1(passage file name), each indexed alone; a question goes with its " \
                    "passage's half, one without a passage in the corpus by sha1(id)"
QUESTIONS_FILE = "questions.jsonl"
CORPUS_DIR = "corpus"


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    type: str
    answer: str = ""
    must_mention: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    doc: tuple[str, ...] = ()  # gold source files ("x.txt" is indexed as "x.md"); kept for reports

    @property
    def answerable(self) -> bool:
        return self.type != UNANSWERABLE


def load_eval(path: str | Path) -> list[EvalItem]:
    """Read a JSONL eval file; any bad line is an error naming the line, so no item is silently dropped."""
    p = Path(path)
    if not p.is_file():
        raise RagError(f"Eval file not found: {p}. Pass a .jsonl file with one question per line.")
    items: list[EvalItem] = []
    seen: set[str] = set()
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{p}:{lineno}"
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise RagError(f"{where}: not valid JSON ({e.msg} at column {e.colno}).") from None
            item = _item_from_dict(d, where)
            if item.id in seen:
                raise RagError(f"{where}: duplicate id {item.id!r}.")
            seen.add(item.id)
            items.append(item)
    if not items:
        raise RagError(f"Eval file {p} has no questions.")
    return items


def _item_from_dict(d: Any, where: str) -> EvalItem:
    if not isinstance(d, dict):
        raise RagError(f"{where}: expected a JSON object, got {type(d).__name__}.")
    for key in ("id", "question", "type"):
        if not isinstance(d.get(key), str) or not d[key].strip():
            raise RagError(f"{where}: missing or empty string field {key!r}.")
    if d["type"] not in TYPES:
        raise RagError(f"{where}: unknown type {d['type']!r}; expected one of {', '.join(TYPES)}.")
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("must_mention", "evidence", "doc"):
        v = d.get(key, [])
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise RagError(f"{where}: field {key!r} must be a list of strings.")
        lists[key] = tuple(x for x in v if x.strip())
    if d["type"] != UNANSWERABLE and not lists["evidence"]:
        raise RagError(f"{where}: answerable question {d['id']!r} has no evidence.")
    return EvalItem(
        id=d["id"],
        question=d["question"],
        type=d["type"],
        answer=str(d.get("answer", "")),
        must_mention=lists["must_mention"],
        evidence=lists["evidence"],
        doc=lists["doc"],
    )


@dataclass(frozen=True)
class EvalSet:
    """Where the questions are, and the corpus they are about when the set brings its own
    (None: the questions are about the configured index)."""

    path: Path  # what the user named: the .jsonl file or the set folder
    questions: Path
    corpus: Path | None = None


def open_eval_set(path: str | Path) -> EvalSet:
    """A .jsonl file, or a folder holding `questions.jsonl` and `corpus/`; anything else says what is missing."""
    p = Path(path)
    if p.is_file():
        return EvalSet(path=p, questions=p)
    if not p.is_dir():
        raise RagError(f"Eval set not found: {p}. Pass a .jsonl file or a folder with {QUESTIONS_FILE} and {CORPUS_DIR}/.")
    questions, corpus = p / QUESTIONS_FILE, p / CORPUS_DIR
    missing = ([] if questions.is_file() else [QUESTIONS_FILE]) + ([] if corpus.is_dir() else [CORPUS_DIR + "/"])
    if missing:
        raise RagError(f"{p} is not an eval set folder: it has no {' and no '.join(missing)}.")
    return EvalSet(path=p, questions=questions, corpus=corpus)


def item_split(item_id: str) -> str:
    """"fit" or "report" from a hash of the id: stable across runs, machines and Python versions
    (unlike `hash()`), and independent of line order, so adding questions never moves old ones."""
    return "fit" if hashlib.sha1(item_id.encode("utf-8")).digest()[-1] % 2 == 0 else "report"


def corpus_half(files: Sequence[Path], items: Sequence[EvalItem], split: str
                ) -> tuple[list[Path], list[EvalItem]]:
    """The passages of one half of a set's corpus and the questions that go with them (see CORPUS_SPLIT_RULE):
    an answerable question whose passage is in the other half is left out; an unanswerable one stays
    unanswerable in both halves (its passage is in neither) and goes by its id."""
    if split == "all":
        return list(files), list(items)
    half = {f.name: item_split(f.name) for f in files}
    stems = {Path(name).stem: h for name, h in half.items()}
    kept = []
    for it in items:
        homes = [stems.get(Path(d).stem) for d in it.doc]
        home = next((h for h in homes if h is not None), None)
        if home is None and it.answerable and it.doc:
            continue  # its passage is not in the corpus: it cannot be asked of either half
        if (home or item_split(it.id)) == split:
            kept.append(it)
    return [f for f in files if half[f.name] == split], kept


def select_items(items: Sequence[EvalItem], split: str = "all", types: Sequence[str] = (),
                 limit: int | None = None) -> list[EvalItem]:
    """The split first, then the types, then the first `limit` in file order: so `--limit` takes
    a prefix of exactly the items a full run of that split would score."""
    if split not in SPLITS:
        raise RagError(f"Unknown split {split!r}; expected one of {', '.join(SPLITS)}.")
    out = [it for it in items if split == "all" or item_split(it.id) == split]
    if types:
        out = [it for it in out if it.type in types]
    return out if limit is None else out[:limit]
