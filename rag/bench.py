"""Benchmarks behind `rag bench answer|ingest|search`.

Shared machines are noisy, so every figure that is compared with a target is a ratio against a baseline
measured in the same run (the generator called directly on the same prompts; raw `SentenceTransformer.encode`
on the same chunk texts; exact search over the same vectors). Absolute times are context.

Nothing here prints: each benchmark returns an object with `.table()` (markdown) and `.to_dict()`. Progress
goes to logging, and tqdm bars to stderr when asked for.

What is synthetic is said in each result's `notes`:
- ingest: documents assembled from the sentences of the bundled articles (deterministic; document i is the
  same whatever N is), real loading, chunking, embedding and saving;
- search: no 2-core machine can embed a million chunks, so chunk vectors are perturbations of real embeddings:
  the normalised mean of the real embeddings of 3-5 bundled sentences plus Gaussian noise, and the chunk text
  is those same sentences plus a dateline of pseudo-words (so BM25 sees a growing vocabulary). Queries are the
  dev questions and fragments of bundled sentences, embedded by the real model at query time.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_QUESTIONS = Path("tests/fixtures/dev.jsonl")


# ============================================================================ helpers


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def _p(values: Sequence[float]) -> dict[str, float]:
    return {"p50": percentile(values, 50), "p95": percentile(values, 95), "n": len(values)}


def _fmt(x: float, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:,.{digits}f}"


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
                     + [line(r) for r in cells[1:]])


def rss_bytes() -> int:
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far (VmHWM)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _release_memory() -> None:
    gc.collect()
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


def machine() -> str:
    import platform

    return f"{os.cpu_count()} CPU cores, {platform.machine()}, Python {platform.python_version()}"


def _bar(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, disable=not enabled, leave=False)


def sentence_pool(source: Path) -> list[list[str]]:
    """The sentences of the articles under `source`, one list per article, whitespace normalised."""
    from rag.errors import RagError
    from rag.loaders import load_paths
    from rag.segment import split_sentences

    docs, _ = load_paths([Path(source)])
    articles = []
    for d in docs:
        sents = [" ".join(d.text[s.start : s.end].split()) for s in split_sentences(d.text)]
        sents = [s for s in sents if len(s.split()) >= 4]
        if sents:
            articles.append(sents)
    if not articles:
        raise RagError(f"No articles to take sentences from in {source}: the benchmarks need a few articles.")
    return articles


_CONSONANTS = "bcdfghjklmnprstvz"
_VOWELS = "aeiou"


def pseudo_word(n: int) -> str:
    """A pronounceable made-up word, one per integer (distinct integers give distinct words)."""
    syll = []
    n += 1
    while n:
        n, r = divmod(n, len(_CONSONANTS) * len(_VOWELS))
        syll.append(_CONSONANTS[r // len(_VOWELS)] + _VOWELS[r % len(_VOWELS)])
    return ("".join(syll) + "n").capitalize()


# ============================================================================ rag bench answer


class _TimedGenerator:
    """Wraps a generator and records each model call the pipeline makes: the refusal probe and the stream of
    the same messages right after it form one call. A call records its messages, the probe's words and
    answer, how many pieces the pipeline read (and whether it read to the end), and the time spent inside the
    generator (the probe, the stream call, every `next`, and closing it).

    `first_token_probs` exists on the wrapper only when the wrapped generator has it, so the pipeline's
    `getattr(gen, "first_token_probs", None)` finds what it would find without the wrapper."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "generator")
        self.calls: list[dict] = []
        if callable(getattr(inner, "first_token_probs", None)):
            self.first_token_probs = self._first_token_probs

    def warm_up(self) -> None:
        self.inner.warm_up()

    def _record(self, messages) -> dict:
        rec = {"messages": [dict(m) for m in messages], "probe": None, "probs": None, "probe_s": 0.0,
               "max_new_tokens": None, "pieces": 0, "exhausted": False, "text": "", "gen_s": 0.0}
        self.calls.append(rec)
        return rec

    def _first_token_probs(self, messages, words):
        rec = self._record(messages)
        rec["probe"] = list(words)
        t = time.perf_counter()
        try:
            rec["probs"] = self.inner.first_token_probs(messages, words)
        finally:
            rec["probe_s"] = time.perf_counter() - t
            rec["gen_s"] += rec["probe_s"]
        return rec["probs"]

    def stream(self, messages, max_new_tokens: int = 64):
        last = self.calls[-1] if self.calls else None
        if (last is not None and last["probe"] is not None and last["max_new_tokens"] is None
                and last["messages"] == [dict(m) for m in messages]):
            rec = last  # the stream that follows the probe of the same messages
        else:
            rec = self._record(messages)
        rec["max_new_tokens"] = max_new_tokens
        t = time.perf_counter()
        inner = self.inner.stream(messages, max_new_tokens)
        rec["gen_s"] += time.perf_counter() - t
        return self._iterate(inner, rec)

    @staticmethod
    def _iterate(inner, rec) -> Iterator[str]:
        it = iter(inner)
        try:
            while True:
                t = time.perf_counter()
                try:
                    piece = next(it)
                except StopIteration:
                    rec["gen_s"] += time.perf_counter() - t
                    rec["exhausted"] = True
                    return
                rec["gen_s"] += time.perf_counter() - t
                rec["pieces"] += 1
                rec["text"] += piece
                yield piece
        finally:
            close = getattr(it, "close", None)
            if close:
                t = time.perf_counter()
                close()
                rec["gen_s"] += time.perf_counter() - t


def _settle(gen, messages) -> None:
    """Run the generator on `messages` for one token, untimed. A generator that keeps the KV cache of its last
    prompt (llama.cpp) then shares with the next prompt only the prefix the two have in common."""
    stream = gen.stream(messages, 1)
    try:
        for _ in stream:
            pass
    finally:
        close = getattr(stream, "close", None)
        if close:
            close()


def _settle_prompt(calls: Sequence[dict]) -> list[dict] | None:
    """A prompt that shares only the fixed prefix with every question's: the one the pipeline warmed the
    generator with (it holds no evidence), else a recorded prompt with its last message emptied."""
    if not calls:
        return None
    messages = [dict(m) for m in calls[0]["messages"]]
    if calls[0]["max_new_tokens"] is not None and calls[0]["probe"] is None:
        return messages
    messages[-1]["content"] = ""
    return messages


def _direct_generation(gen, recs: Sequence[dict]) -> dict:
    """The pipeline's model calls for one question, replayed on the bare generator: the refusal probe where the
    pipeline made one, then the stream of the same messages with the same max_new_tokens, read for as many
    pieces as the pipeline read (to the end where it did). `_settle` it first, so that it starts from the
    cache state the pipeline's calls started from. first_s is None when no piece was read."""
    probe = getattr(gen, "first_token_probs", None)
    t0 = time.perf_counter()
    first = None
    pieces = 0
    text = ""
    probs = []
    for rec in recs:
        if rec["probe"] is not None and probe is not None:
            probs.append(probe(rec["messages"], rec["probe"]))
        if rec["max_new_tokens"] is None:
            continue
        stream = gen.stream(rec["messages"], rec["max_new_tokens"])
        it = iter(stream)
        n = 0
        try:
            while rec["exhausted"] or n < rec["pieces"]:
                try:
                    piece = next(it)
                except StopIteration:
                    break
                n += 1
                text += piece
                if first is None:
                    first = time.perf_counter() - t0
        finally:
            close = getattr(it, "close", None)
            if close:
                close()
        pieces += n
    return {"first_s": first, "total_s": time.perf_counter() - t0, "pieces": pieces, "text": text,
            "probs": probs}


def _same_work(recs: Sequence[dict], direct: dict) -> bool:
    """Whether the direct replay wrote what the pipeline's calls wrote, and its probe gave the same answer."""
    piped = [r["probs"] for r in recs if r["probe"] is not None]
    if direct["text"] != "".join(r["text"] for r in recs) or len(piped) != len(direct["probs"]):
        return False
    for a, b in zip(piped, direct["probs"]):
        if (a is None) != (b is None) or (a and (a.keys() != b.keys()
                                                 or any(abs(a[k] - b[k]) > 1e-3 for k in a))):
            return False
    return True


def _count_tokens(gen, text: str, pieces: int) -> int:
    tok = getattr(gen, "_tok", None)
    if tok is not None and text:
        with contextlib.suppress(Exception):
            return len(tok.encode(text, add_special_tokens=False))
    return pieces


class _Result:
    """What every benchmark result shares: targets (what, measured, met), their table, and JSON."""

    def targets(self) -> list[tuple[str, str, bool]]:
        return []

    def targets_table(self) -> str:
        return md_table(["target", "measured", "met"], [[t, m, "yes" if ok else "NO"] for t, m, ok in self.targets()])

    def to_dict(self) -> dict:
        d = asdict(self)
        d["targets"] = [{"target": t, "measured": m, "met": ok} for t, m, ok in self.targets()]
        return d


@dataclass
class AnswerBench(_Result):
    questions: int
    answered: int
    refused: int
    repeat: int
    warm_up_s: float
    first_sentence_ms: dict  # all questions: the first text the user sees (a verified sentence, or the refusal)
    total_ms: dict
    answered_first_sentence_ms: dict
    answered_total_ms: dict
    model_first_token_ms: dict  # answered questions: the model's first piece inside the pipeline (context)
    direct_first_token_ms: dict  # the generator alone doing the pipeline's model work, from the same cache state
    direct_total_ms: dict
    retrieve_ms: dict
    generated_tokens: int
    tokens_per_s: float  # generated tokens / direct generation time
    decode_tokens_per_s: float  # after the first token
    overhead: float  # (pipeline time - direct generator time) / direct generator time, questions the model read
    generator: str
    machine: str
    model_calls: int = 0  # questions (all rounds) for which the model was called
    probed: bool = False  # whether the generator answered the refusal probe (first_token_probs)
    # the pipeline's time outside the generator / its time inside it, within the same calls (no baseline run)
    outside_generator: float = float("nan")
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # the names these figures had when the first streamed text was the model's first token (same values)
    first_token_ms: dict = field(default_factory=dict)
    answered_first_token_ms: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.first_token_ms = self.first_token_ms or self.first_sentence_ms
        self.answered_first_token_ms = self.answered_first_token_ms or self.answered_first_sentence_ms

    def targets(self) -> list[tuple[str, str, bool]]:
        return [
            ("first verified sentence p50 <= 1.5 s", f"{self.first_sentence_ms['p50'] / 1000:.2f} s",
             self.first_sentence_ms["p50"] <= 1500),
            ("full answer p50 <= 3 s", f"{self.total_ms['p50'] / 1000:.2f} s", self.total_ms["p50"] <= 3000),
            ("pipeline overhead <= 10% of the generator's time", f"{self.overhead:.1%}", self.overhead <= 0.10),
        ]

    def table(self) -> str:
        pair = lambda d: [_fmt(d["p50"]), _fmt(d["p95"])]  # noqa: E731
        rows = [
            ["first verified sentence, all questions", *pair(self.first_sentence_ms)],
            ["full answer, all questions", *pair(self.total_ms)],
            ["first verified sentence, answered", *pair(self.answered_first_sentence_ms)],
            ["full answer, answered", *pair(self.answered_total_ms)],
            ["model's first token in the pipeline, answered", *pair(self.model_first_token_ms)],
            ["generator alone: first token", *pair(self.direct_first_token_ms)],
            ["generator alone: full answer", *pair(self.direct_total_ms)],
            ["retrieval", *pair(self.retrieve_ms)],
        ]
        out = [f"rag bench answer: {self.questions} questions x {self.repeat} "
               f"({self.answered} answered, {self.refused} refused; the model read {self.model_calls} of "
               f"{self.questions * self.repeat}); {self.machine}",
               f"generator: {self.generator}; refusal probe: {'yes' if self.probed else 'no'}; "
               f"warm-up {self.warm_up_s:.1f} s (not counted)", "",
               md_table(["ms", "p50", "p95"], rows), "",
               f"generator: {self.tokens_per_s:.1f} tokens/s overall, {self.decode_tokens_per_s:.1f} tokens/s "
               f"after the first ({self.generated_tokens} tokens)",
               f"pipeline overhead vs the generator alone doing the same model calls: {self.overhead:+.1%}",
               f"pipeline time outside the generator, within the same calls: {self.outside_generator:.1%} of the "
               "generator's time", ""]
        out.append(self.targets_table())
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)


def bench_answer(settings=None, questions: Sequence[str] | None = None, *, file: Path | None = None,
                 repeat: int = 1, embedder=None, generator=None, progress: bool = False) -> AnswerBench:
    """Answer each question through the pipeline, then make the same model calls on the generator directly
    (probe, then the stream read as far as the pipeline read it), interleaved so that load changes on a shared
    machine hit both alike. Both start from the same cache state (see `_settle`)."""
    from rag.evaluate import load_eval
    from rag.generate import make_generator
    from rag.pipeline import Pipeline
    from rag.settings import Settings

    settings = settings or Settings.from_env()
    if questions is None:
        questions = [it.question for it in load_eval(file or DEFAULT_QUESTIONS)]
    inner = generator if generator is not None else make_generator(settings)
    timed = _TimedGenerator(inner)
    pipeline = Pipeline(settings, embedder=embedder, generator=timed)
    t = time.perf_counter()
    pipeline.warm_up()
    warm_up_s = time.perf_counter() - t
    # one untimed question so that lazily built per-index state (IDF, caches) is not charged to the first
    pipeline.answer(questions[0])
    settle = _settle_prompt(timed.calls)
    timed.calls.clear()

    rows = []
    with _bar(len(questions) * repeat, "bench answer", progress) as bar:
        for r in range(repeat):
            for q in questions:
                if settle:  # else the first timed question would find its prompt cached by the untimed one
                    _settle(inner, settle)
                n_calls = len(timed.calls)
                t0 = time.perf_counter()
                first = None
                answer = None
                for ev in pipeline.answer_stream(q):
                    if ev.kind == "token" and first is None:
                        first = time.perf_counter() - t0
                    elif ev.kind == "answer":
                        answer = ev.data
                total = time.perf_counter() - t0
                first_ms = 1000 * (total if first is None else first)
                row = {"question": q, "round": r, "refused": bool(answer.refused), "first_sentence_ms": first_ms,
                       "first_token_ms": first_ms, "total_ms": 1000 * total,
                       "model_first_ms": answer.timings.get("generate_first_ms", float("nan")),
                       "retrieve_ms": answer.timings.get("retrieve_ms", float("nan")), "generated": False}
                recs = timed.calls[n_calls:]
                if recs:
                    if settle:  # else the pipeline's call just left this very prompt in the cache
                        _settle(inner, settle)
                    direct = _direct_generation(inner, recs)
                    row.update(generated=True, probed=any(c["probe"] is not None for c in recs),
                               streamed=any(c["max_new_tokens"] is not None for c in recs),
                               pipeline_gen_ms=1000 * sum(c["gen_s"] for c in recs),
                               probe_ms=1000 * sum(c["probe_s"] for c in recs),
                               pieces=sum(c["pieces"] for c in recs),
                               direct_first_ms=float("nan") if direct["first_s"] is None else 1000 * direct["first_s"],
                               direct_total_ms=1000 * direct["total_s"],
                               tokens=_count_tokens(inner, direct["text"], direct["pieces"]),
                               same_text=_same_work(recs, direct))
                rows.append(row)
                bar.update(1)

    model_rows = [r for r in rows if r["generated"]]
    answered = [r for r in rows if not r["refused"]]
    first_rows = [r for r in model_rows if not math.isnan(r["direct_first_ms"])]
    direct_total = sum(r["direct_total_ms"] for r in model_rows)
    pipe_total = sum(r["total_ms"] for r in model_rows)
    tokens = sum(r["tokens"] for r in model_rows)
    decode_s = sum(r["direct_total_ms"] - r["direct_first_ms"] for r in first_rows) / 1000
    decode_tokens = sum(max(r["tokens"] - 1, 0) for r in first_rows)
    probed = any(r["probed"] for r in model_rows)
    inside = sum(r["pipeline_gen_ms"] for r in model_rows)
    notes = [
        "first verified sentence: the first text the user sees, a sentence the code verified against the evidence "
        "(for a refused question, the refusal)",
        "generator alone: the pipeline's model calls for each question made again directly: "
        + ("the refusal probe (first_token_probs), then " if probed else "")
        + "the stream of the same messages, read for as many pieces as the pipeline read",
    ]
    if settle:
        notes.append("before each timed question and each direct call the generator ran untimed on a prompt without "
                     "evidence, so both start from a KV cache sharing only the fixed prompt prefix")
    if not probed and model_rows:
        notes.append("the generator has no refusal probe (first_token_probs): the pipeline and the baseline skip it")
    if any(not r.get("same_text", True) for r in model_rows):
        notes.append("the direct calls wrote (or probed) differently from the pipeline's for some prompts")
    return AnswerBench(
        questions=len(questions), answered=sum(not r["refused"] for r in rows) // max(repeat, 1),
        refused=sum(r["refused"] for r in rows) // max(repeat, 1), repeat=repeat, warm_up_s=warm_up_s,
        first_sentence_ms=_p([r["first_sentence_ms"] for r in rows]), total_ms=_p([r["total_ms"] for r in rows]),
        answered_first_sentence_ms=_p([r["first_sentence_ms"] for r in answered]),
        answered_total_ms=_p([r["total_ms"] for r in answered]),
        model_first_token_ms=_p([r["model_first_ms"] for r in answered if not math.isnan(r["model_first_ms"])]),
        direct_first_token_ms=_p([r["direct_first_ms"] for r in first_rows]),
        direct_total_ms=_p([r["direct_total_ms"] for r in model_rows]),
        retrieve_ms=_p([r["retrieve_ms"] for r in rows]),
        generated_tokens=tokens, tokens_per_s=tokens / (direct_total / 1000) if direct_total else float("nan"),
        decode_tokens_per_s=decode_tokens / decode_s if decode_s > 0 else float("nan"),
        overhead=(pipe_total - direct_total) / direct_total if direct_total else float("nan"),
        generator=timed.name, machine=machine(), model_calls=len(model_rows), probed=probed,
        outside_generator=(pipe_total - inside) / inside if inside else float("nan"), rows=rows, notes=notes,
    )


# ============================================================================ rag bench ingest

_CITIES = ["MOSCOW", "DAMASCUS", "WASHINGTON", "TEHRAN", "BEIRUT", "BAGHDAD", "ANKARA", "PARIS", "BERLIN",
           "LONDON", "GENEVA", "ALEPPO", "LATAKIA", "BRUSSELS", "VIENNA", "CAIRO"]
_OUTLETS = ["Wire Service", "Daily Ledger", "Evening Post", "World Desk", "Morning Herald", "News Agency"]


def synthetic_document(articles: list[list[str]], i: int, seed: int = 0) -> tuple[str, str]:
    """(file name, markdown with front matter) of synthetic news document i: 4-7 paragraphs of 1-3
    consecutive sentences from the bundled articles, a unique dateline, a title and a date."""
    import datetime as dt

    rng = np.random.default_rng([seed, i])
    weights = np.array([len(a) for a in articles], dtype=float)
    weights /= weights.sum()
    paragraphs = []
    for _ in range(int(rng.integers(4, 8))):
        art = articles[int(rng.choice(len(articles), p=weights))]
        n = int(rng.integers(1, 4))
        start = int(rng.integers(0, max(1, len(art) - n + 1)))
        paragraphs.append(" ".join(art[start : start + n]))
    date = dt.date(2015, 1, 1) + dt.timedelta(days=int(rng.integers(0, 2000)))
    outlet = _OUTLETS[int(rng.integers(len(_OUTLETS)))]
    city = _CITIES[int(rng.integers(len(_CITIES)))]
    paragraphs[0] = f"{city}, {date:%b} {date.day} (report {i}) — {paragraphs[0]}"
    title_words = paragraphs[1].split()[:9]
    title = " ".join(title_words).rstrip(",.;:").replace('"', "'")
    front = f'---\ntitle: "{title}"\noutlet: {outlet}\npublished: "{date.isoformat()}"\n---\n'
    return f"doc-{i:06d}.md", front + "\n\n".join(paragraphs) + "\n"


def write_synthetic_corpus(folder: Path, n_docs: int, source: Path, seed: int = 0) -> int:
    """Write n_docs synthetic documents into folder (in subfolders of 1000); returns the bytes written."""
    articles = sentence_pool(source)
    total = 0
    for i in range(n_docs):
        name, body = synthetic_document(articles, i, seed)
        sub = folder / f"part-{i // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        data = body.encode("utf-8")
        (sub / name).write_bytes(data)
        total += len(data)
    return total


@dataclass
class IngestBench(_Result):
    docs: int
    chunks: int
    workers: int
    embedder: str
    ingest_s: float
    chunks_per_s: float
    baseline_chunks: int  # chunk texts the raw-encode baseline ran on (a random sample of the ingested ones)
    baseline_s: float
    baseline_chunks_per_s: float
    ratio: float  # ingest chunks/s / raw encode chunks/s
    reingest_s: list[float]  # no-change re-ingests
    reingest_one_changed_s: float  # one document edited
    corpus_mb: float
    machine: str
    notes: list[str] = field(default_factory=list)

    def targets(self) -> list[tuple[str, str, bool]]:
        out = [("ingest >= 0.9 x raw encode throughput", f"{self.ratio:.2f}", self.ratio >= 0.9)]
        worst = max(self.reingest_s) if self.reingest_s else float("nan")
        if self.docs >= 10_000:
            out.append(("no-change re-ingest of 10k documents <= 1 s", f"{worst:.2f} s", worst <= 1.0))
        else:
            limit = self.docs / 10_000
            out.append((f"no-change re-ingest <= 1 s per 10k documents ({limit:.2f} s here)", f"{worst:.2f} s",
                        worst <= max(limit, 0.1)))
        return out

    def table(self) -> str:
        rows = [
            ["ingest (load, clean, chunk, embed, save)", _fmt(self.ingest_s, 1), _fmt(self.chunks_per_s, 1)],
            [f"raw encode, same texts ({self.baseline_chunks} chunks)", _fmt(self.baseline_s, 1),
             _fmt(self.baseline_chunks_per_s, 1)],
        ]
        re = self.reingest_s
        out = [f"rag bench ingest: {self.docs} synthetic documents ({self.corpus_mb:.1f} MB), {self.chunks} chunks; "
               f"embedder {self.embedder}, {self.workers} worker(s); {self.machine}", "",
               md_table(["step", "seconds", "chunks/s"], rows), "",
               f"ingest / raw encode throughput: {self.ratio:.2f}",
               f"no-change re-ingest: {', '.join(f'{x:.3f}' for x in re)} s (median {percentile(re, 50):.3f} s)",
               f"re-ingest with one document edited: {self.reingest_one_changed_s:.2f} s", "",
               self.targets_table()]
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)


def _raw_encode(embedder, texts: list[str], batch_size: int) -> float:
    """Seconds for the embedding model itself on texts: `SentenceTransformer.encode` in one call."""
    t = time.perf_counter()
    model = getattr(embedder, "model", None)
    if model is not None and hasattr(model, "encode"):
        model.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                     show_progress_bar=False)
    else:  # a fake embedder: its own embed is the baseline
        embedder.embed(texts)
    return time.perf_counter() - t


def bench_ingest(settings=None, docs: int = 1000, *, workers: int = 1, embedder=None, source: Path | None = None,
                 baseline_chunks: int = 2000, workdir: Path | None = None, keep: bool = False, seed: int = 0,
                 reingests: int = 3, progress: bool = False) -> IngestBench:
    """Ingest a synthetic corpus of `docs` documents and compare its throughput with raw encoding of the
    same chunk texts (half of the baseline before the ingest, half after, to even out load changes)."""
    from rag.embed import make_embedder
    from rag.ingest import RACY_NS, ingest
    from rag.loaders import load_paths
    from rag.segment import chunk_document
    from rag.settings import Settings
    from rag.store import IndexStore

    settings = settings or Settings.from_env()
    source = Path(source or settings.data_dir)
    own_embedder = embedder is None
    embedder = embedder if embedder is not None else make_embedder(settings, workers=workers)
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="rag-bench-ingest-"))
    data, index = root / "data", root / "index"
    notes = [f"synthetic corpus: document i is 4-7 paragraphs of consecutive sentences from the articles in "
             f"{source}, with a unique dateline (deterministic, seed {seed})"]
    try:
        if index.exists():
            shutil.rmtree(index)
        if data.exists():
            shutil.rmtree(data)
        size = write_synthetic_corpus(data, docs, source, seed)
        # the chunk texts, for the baseline (the ingest below does this work again, timed)
        loaded, _ = load_paths([data])
        texts = [c.text for d in loaded for c in chunk_document(d.doc, d.text, settings.chunk_words,
                                                                settings.chunk_overlap)]
        rng = np.random.default_rng(seed)
        sample = texts if not baseline_chunks or baseline_chunks >= len(texts) else \
            [texts[i] for i in rng.choice(len(texts), size=baseline_chunks, replace=False)]
        if sample is not texts:
            notes.append(f"raw-encode baseline on a random sample of {len(sample)} of the {len(texts)} chunk texts")
        embedder.embed(texts[:8])  # load the model outside the timings
        time.sleep(RACY_NS / 1e9)  # files written this recently are re-read by design; let them age

        half = len(sample) // 2
        base_s = _raw_encode(embedder, sample[:half], settings.embed_batch_size) if half else 0.0
        store = IndexStore(index)
        bar = None

        def tick(done: int, total: int, label: str) -> None:
            nonlocal bar
            if bar is None:
                bar = _bar(total, label, progress)
            bar.n = done
            bar.refresh()

        t = time.perf_counter()
        report = ingest([data], store, embedder, chunk_words=settings.chunk_words, overlap=settings.chunk_overlap,
                        base=data, progress=tick)
        ingest_s = time.perf_counter() - t
        if bar is not None:
            bar.close()
        base_s += _raw_encode(embedder, sample[half:], settings.embed_batch_size)
        if report.chunks != len(texts):
            notes.append(f"the ingest made {report.chunks} chunks, the baseline's chunking {len(texts)}")

        reingest = []
        for _ in range(reingests):
            t = time.perf_counter()
            again = ingest([data], store, embedder, chunk_words=settings.chunk_words,
                           overlap=settings.chunk_overlap, base=data)
            reingest.append(time.perf_counter() - t)
            if again.added or again.updated or again.removed or again.embedded:
                notes.append(f"a no-change re-ingest changed something: {again.summary()}")
        victim = next(iter(sorted((data / "part-000").glob("*.md"))))
        victim.write_text(victim.read_text(encoding="utf-8") + "\nA late paragraph added to one document.\n",
                          encoding="utf-8")
        t = time.perf_counter()
        ingest([data], store, embedder, chunk_words=settings.chunk_words, overlap=settings.chunk_overlap, base=data)
        one_s = time.perf_counter() - t
    finally:
        if own_embedder:
            close = getattr(embedder, "close", None)
            if close:
                close()
        if not keep and not workdir:
            shutil.rmtree(root, ignore_errors=True)
    cps = report.chunks / ingest_s if ingest_s else float("nan")
    bcps = len(sample) / base_s if base_s else float("nan")
    return IngestBench(
        docs=docs, chunks=report.chunks, workers=workers, embedder=embedder.name, ingest_s=ingest_s,
        chunks_per_s=cps, baseline_chunks=len(sample), baseline_s=base_s, baseline_chunks_per_s=bcps,
        ratio=cps / bcps if bcps else float("nan"), reingest_s=reingest, reingest_one_changed_s=one_s,
        corpus_mb=size / 1e6, machine=machine(), notes=notes,
    )


# ============================================================================ rag bench search


class _SyntheticCorpus:
    """Chunk vectors near real sentence embeddings, and texts made of the same sentences."""

    def __init__(self, sentences: list[str], vectors: np.ndarray, noise: float = 0.3, seed: int = 0) -> None:
        self.sentences = sentences
        self.E = np.ascontiguousarray(vectors, dtype=np.float32)
        self.noise = noise
        self.seed = seed

    def block(self, start: int, n: int) -> tuple[np.ndarray, list[str]]:
        """Chunks start..start+n (deterministic per block start)."""
        rng = np.random.default_rng([self.seed, start])
        P, d = self.E.shape
        k = rng.integers(3, 6, size=n)
        idx = rng.integers(0, P, size=(n, 5))
        W = np.zeros((n, P), dtype=np.float32)
        rows = np.arange(n)
        for j in range(5):
            m = j < k
            np.add.at(W, (rows[m], idx[m, j]), 1.0)
        W /= k[:, None].astype(np.float32)
        V = W @ self.E
        V += rng.standard_normal((n, d), dtype=np.float32) * np.float32(self.noise / math.sqrt(d))
        V /= np.linalg.norm(V, axis=1, keepdims=True)
        # datelines: a Zipf-distributed place name and a uniformly drawn reporter name from large pseudo-vocabularies
        places = np.minimum(rng.zipf(1.2, size=n), 200_000) - 1
        people = rng.integers(0, 50_000 + start // 4, size=n)
        texts = [f"{pseudo_word(int(places[i]))}. Reported by {pseudo_word(int(people[i]) + 300_000)}. "
                 + " ".join(self.sentences[j] for j in idx[i, : k[i]]) for i in range(n)]
        return V.astype(np.float32), texts


def _queries(articles: list[list[str]], n: int, question_file: Path | None, seed: int) -> list[str]:
    qs: list[str] = []
    if question_file is not None and Path(question_file).is_file():
        from rag.evaluate import load_eval

        qs = [it.question for it in load_eval(question_file)][:n]
    rng = np.random.default_rng(seed + 7)
    flat = [s for a in articles for s in a]
    while len(qs) < n:
        words = flat[int(rng.integers(len(flat)))].split()
        m = int(rng.integers(5, 11))
        a = int(rng.integers(0, max(1, len(words) - m + 1)))
        qs.append(" ".join(words[a : a + m]))
    return qs


def _exact_topk(vectors: np.ndarray, queries: np.ndarray, k: int, block: int = 100_000) -> np.ndarray:
    """Exact inner-product top-k ids by blocked matrix products (works on a memory-mapped array)."""
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    for a in range(0, len(vectors), block):
        s = queries @ np.asarray(vectors[a : a + block]).T
        kk = min(k, s.shape[1])
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, part, axis=1)], axis=1)
        cand_i = np.concatenate([best_i, part + a], axis=1)
        order = np.argsort(-cand_s, axis=1, kind="stable")[:, :k]
        best_s = np.take_along_axis(cand_s, order, axis=1)
        best_i = np.take_along_axis(cand_i, order, axis=1)
    return best_i


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(f[f >= 0].tolist()) & set(t.tolist())) / k for f, t in zip(found, truth)]))


def _timed(fn, items, warm: int = 3) -> list[float]:
    for x in items[:warm]:
        fn(x)
    out = []
    for x in items:
        t = time.perf_counter()
        fn(x)
        out.append(1000 * (time.perf_counter() - t))
    return out


@dataclass
class SearchRow:
    chunks: int
    index: dict
    build_s: float  # FAISS index
    bm25_build_s: float
    corpus_s: float  # generating the synthetic corpus (context)
    dense_ms: dict  # FAISS search alone, query vector given
    exact_ms: dict  # exact search over the same vectors (the baseline)
    keyword_ms: dict
    hybrid_ms: dict  # Retriever.search: embed the query, FAISS, BM25, fusion, de-duplication
    embed_query_ms: dict
    recall_at_10: float  # approximate index against exact search
    index_bytes_per_chunk: float
    bm25_bytes_per_chunk: float
    rss_bytes_per_chunk: float  # resident memory growth for the whole in-memory index, per chunk
    sweep: list[dict] = field(default_factory=list)  # IVF: recall and latency at other nprobe values


@dataclass
class SearchBench(_Result):
    rows: list[SearchRow]
    queries: int
    embedder: str
    machine: str
    notes: list[str] = field(default_factory=list)

    def targets(self) -> list[tuple[str, str, bool]]:
        out = []
        for r in self.rows:
            if r.chunks >= 1_000_000:
                out.append((f"hybrid p50 <= 50 ms at {r.chunks:,} chunks", f"{r.hybrid_ms['p50']:.1f} ms",
                            r.hybrid_ms["p50"] <= 50))
                out.append((f"recall@10 >= 0.95 at {r.chunks:,} chunks", f"{r.recall_at_10:.3f}",
                            r.recall_at_10 >= 0.95))
        return out

    def table(self) -> str:
        def idx(r: SearchRow) -> str:
            i = r.index
            return i["type"] + (f" {i['nlist']}/{i['nprobe']}" if i["type"] == "ivf_flat" else "")

        rows = [[f"{r.chunks:,}", idx(r), _fmt(r.build_s, 1), _fmt(r.bm25_build_s, 1),
                 f"{_fmt(r.dense_ms['p50'], 2)} / {_fmt(r.dense_ms['p95'], 2)}",
                 f"{_fmt(r.exact_ms['p50'], 1)}",
                 f"{_fmt(r.keyword_ms['p50'], 1)} / {_fmt(r.keyword_ms['p95'], 1)}",
                 f"{_fmt(r.hybrid_ms['p50'], 1)} / {_fmt(r.hybrid_ms['p95'], 1)}",
                 f"{r.recall_at_10:.3f}", _fmt(r.index_bytes_per_chunk), _fmt(r.bm25_bytes_per_chunk),
                 _fmt(r.rss_bytes_per_chunk)] for r in self.rows]
        out = [f"rag bench search: {self.queries} queries; embedder {self.embedder}; {self.machine}", "",
               md_table(["chunks", "index (cells/probed)", "index build s", "BM25 build s", "dense p50/p95 ms",
                         "exact p50 ms", "keyword p50/p95 ms", "hybrid p50/p95 ms", "recall@10",
                         "index B/chunk", "BM25 B/chunk", "RSS B/chunk"], rows)]
        for r in self.rows:
            if r.sweep:
                out += ["", f"nprobe sweep at {r.chunks:,} chunks ({r.index['nlist']} cells):",
                        md_table(["nprobe", "recall@10", "dense p50 ms"],
                                 [[s["nprobe"], f"{s['recall_at_10']:.3f}", _fmt(s["dense_ms_p50"], 2)]
                                  for s in r.sweep])]
        if self.targets():
            out += ["", self.targets_table()]
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)


def bench_search(sizes: Sequence[int] = (10_000, 100_000, 1_000_000), *, settings=None, embedder=None,
                 source: Path | None = None, queries: int = 100, question_file: Path | None = None,
                 flat_limit: int | None = None, noise: float = 0.3, seed: int = 0, sweep: bool = True,
                 workdir: Path | None = None, progress: bool = False) -> SearchBench:
    """Build the production index (type chosen by size) and BM25 over synthetic corpora of each size, and
    measure build times, latencies, recall against exact search and memory per chunk."""
    import faiss

    from rag.embed import make_embedder
    from rag.keyword import BM25Index
    from rag.retrieve import Retriever, single_threaded_faiss
    from rag.schema import Chunk
    from rag.settings import Settings
    from rag.store import IndexData, build_faiss, describe_faiss, faiss_nbytes

    settings = settings or Settings.from_env()
    source = Path(source or settings.data_dir)
    embedder = embedder if embedder is not None else make_embedder(settings)
    articles = sentence_pool(source)
    sentences = [s for a in articles for s in a]
    corpus = _SyntheticCorpus(sentences, embedder.embed(sentences), noise=noise, seed=seed)
    qfile = question_file if question_file is not None else (DEFAULT_QUESTIONS if DEFAULT_QUESTIONS.is_file()
                                                             else None)
    q_texts = _queries(articles, queries, qfile, seed)
    q_vecs = np.ascontiguousarray(embedder.embed(q_texts), dtype=np.float32)
    k, candidates = 10, settings.candidates
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="rag-bench-search-"))
    rows: list[SearchRow] = []
    notes = [
        f"synthetic corpus: each chunk vector is the normalised mean of the real embeddings of 3-5 of the "
        f"{len(sentences)} sentences in {source}, plus Gaussian noise (norm {noise}); its text is the same "
        "sentences after a dateline of pseudo-words (Zipf-distributed places, a growing set of names)",
        f"queries: {min(queries, len(q_texts))} = dev questions and 5-10 word fragments of those sentences, "
        "embedded by the real model (hybrid latency includes embedding the query)",
        "exact = brute-force inner product over the same vectors (faiss.knn, one thread like every search here); recall@10 = share of the exact "
        "top 10 that the index returns",
        "RSS B/chunk: resident memory growth while the FAISS index, BM25 and chunk objects are built (vectors "
        "memory-mapped, as `IndexStore.load` does)",
    ]
    try:
        for n in sizes:
            _release_memory()
            rss0 = rss_bytes()
            log.info("bench search: %d chunks", n)
            t = time.perf_counter()
            vec_path = root / f"vectors-{n}.npy"
            vectors = np.lib.format.open_memmap(vec_path, mode="w+", dtype=np.float32,
                                                shape=(n, corpus.E.shape[1]))
            texts: list[str] = []
            step = 50_000
            with _bar(n, f"corpus {n:,}", progress) as bar:
                for a in range(0, n, step):
                    v, tx = corpus.block(a, min(step, n - a))
                    vectors[a : a + len(v)] = v
                    texts.extend(tx)
                    bar.update(len(v))
            vectors.flush()
            corpus_s = time.perf_counter() - t

            t = time.perf_counter()
            index = build_faiss(vectors, flat_limit=flat_limit)
            build_s = time.perf_counter() - t
            truth = _exact_topk(vectors, q_vecs, k)
            single_threaded_faiss()  # searches run on one thread in the app (see rag.retrieve)
            exact_ms = _timed(lambda i: faiss.knn(q_vecs[i : i + 1], vectors, k, metric=faiss.METRIC_INNER_PRODUCT),
                              list(range(min(10, len(q_vecs)))), warm=1)
            del vectors
            _release_memory()
            vectors = np.load(vec_path, mmap_mode="r", allow_pickle=False)

            chunks = [Chunk(str(i), f"synthetic-{i // 4}", tx, 0, len(tx)) for i, tx in enumerate(texts)]
            del texts
            data = IndexData({"synthetic": True}, {}, chunks, vectors, index)
            t = time.perf_counter()
            retriever = Retriever(data, embedder, candidates=candidates, rrf_k=settings.rrf_k)
            bm25_s = time.perf_counter() - t
            _release_memory()
            rss1 = rss_bytes()

            qi = list(range(len(q_texts)))
            found = index.search(q_vecs, k)[1]
            recall = _recall(found, truth)
            dense = _timed(lambda i: index.search(q_vecs[i : i + 1], candidates), qi)
            keyword = _timed(lambda i: retriever.bm25.search(q_texts[i], candidates), qi)
            hybrid = _timed(lambda i: retriever.search(q_texts[i], settings.top_k), qi)
            embed_q = _timed(lambda i: embedder.embed([q_texts[i]]), qi[:30])
            sweeps = []
            if sweep and isinstance(index, faiss.IndexIVF):
                chosen = index.nprobe
                for npb in sorted({max(1, chosen // 4), max(1, chosen // 2), chosen, chosen * 2}):
                    index.nprobe = npb
                    sweeps.append({"nprobe": npb, "recall_at_10": _recall(index.search(q_vecs, k)[1], truth),
                                   "dense_ms_p50": percentile(_timed(lambda i: index.search(q_vecs[i: i + 1],
                                                                                            candidates), qi), 50)})
                index.nprobe = chosen
            rows.append(SearchRow(
                chunks=n, index=describe_faiss(index), build_s=build_s, bm25_build_s=bm25_s, corpus_s=corpus_s,
                dense_ms=_p(dense), exact_ms=_p(exact_ms), keyword_ms=_p(keyword), hybrid_ms=_p(hybrid),
                embed_query_ms=_p(embed_q), recall_at_10=recall,
                index_bytes_per_chunk=faiss_nbytes(index) / n,
                bm25_bytes_per_chunk=retriever.bm25.nbytes / n if hasattr(retriever.bm25, "nbytes") else float("nan"),
                rss_bytes_per_chunk=(rss1 - rss0) / n, sweep=sweeps,
            ))
            log.info("bench search %d: %s", n, rows[-1])
            del retriever, data, chunks, index, vectors
            _release_memory()
            with contextlib.suppress(OSError):
                vec_path.unlink()
    finally:
        if not workdir:
            shutil.rmtree(root, ignore_errors=True)
    return SearchBench(rows=rows, queries=len(q_texts), embedder=embedder.name, machine=machine(), notes=notes)


# ============================================================================ rag bench coldstart


# What `rag serve` did before the cold-start work, for the same-run baseline: sentence-transformers embeds the
# question, the reader's prompt prefix and the evidence-sentence vectors are computed at every start, and llama.cpp
# repacks the weights. (One difference stays: the models now start loading before Gradio is imported.)
BEFORE_ENV = {"RAG_EMBED_RUNTIME": "sentence-transformers", "RAG_WARM_CACHE": "0", "RAG_LLM_REPACK": "1"}


@dataclass
class ServeRun:
    """One start of `rag serve`, timed from the process start."""

    page_s: float  # the page answers HTTP
    first_answer_s: float  # the first answer (through the app's /ask endpoint) is back
    peak_rss_mb: float  # the server process's peak resident memory (VmHWM), children included
    rss_mb: float  # resident memory after the first answer
    refused: bool
    error: str = ""


@dataclass
class ColdStartBench(_Result):
    question: str
    before: ServeRun  # the same-run baseline (BEFORE_ENV)
    first: ServeRun  # now: a first start, which writes the saved state and vectors when they are missing
    warm: ServeRun  # now: a restart, with the saved state there
    index_existed: bool
    machine: str
    notes: list[str] = field(default_factory=list)

    def targets(self) -> list[tuple[str, str, bool]]:
        w = self.warm
        return [("warm restart to first answer <= 6 s", f"{w.first_answer_s:.1f} s", w.first_answer_s <= 6),
                ("peak RSS of rag serve <= 2.5 GB", f"{w.peak_rss_mb:,.0f} MB", w.peak_rss_mb <= 2560)]

    def table(self) -> str:
        runs = [self.before, self.first, self.warm]
        rows = [["page served", *[f"{r.page_s:.1f} s" for r in runs]],
                ["first answer", *[f"{r.first_answer_s:.1f} s" for r in runs]],
                ["peak RSS", *[f"{r.peak_rss_mb:,.0f} MB" for r in runs]],
                ["RSS after the first answer", *[f"{r.rss_mb:,.0f} MB" for r in runs]]]
        ratio = self.warm.first_answer_s / self.before.first_answer_s if self.before.first_answer_s else float("nan")
        out = [f"rag bench coldstart: `rag serve`, then {self.question!r} through /ask; {self.machine}"
               + ("" if self.index_existed else " (the index was built first)"), "",
               md_table(["from `rag serve` to", "before (baseline)", "now, 1st start", "now, 2nd start"], rows),
               "", f"restart to first answer: {ratio:.2f}x the baseline's", "", self.targets_table()]
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)


def _process_memory(pid: int) -> tuple[float, float]:
    """(peak, current) resident MB of a process and its children."""
    peak = cur = 0.0
    pids = [pid]
    with contextlib.suppress(Exception):
        import psutil

        pids += [c.pid for c in psutil.Process(pid).children(recursive=True)]
    for p in pids:
        with contextlib.suppress(OSError), open(f"/proc/{p}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    peak += int(line.split()[1]) / 1024
                elif line.startswith("VmRSS:"):
                    cur += int(line.split()[1]) / 1024
    return peak, cur


def bench_cold_start(settings=None, question: str = "Why did Putin enter Syria?", *, timeout_s: float = 300,
                     command: Sequence[str] | None = None) -> ColdStartBench:
    """Start `rag serve` three times in fresh processes (the baseline, then now twice), wait for the page, ask one
    question through the app's API and read the server's peak memory. The models are on disk already."""
    from rag.settings import Settings
    from rag.store import IndexStore

    settings = settings or Settings.from_env()
    existed = IndexStore(settings.index_path).exists()
    before = _serve_once(settings, question, BEFORE_ENV, timeout_s, command)
    first = _serve_once(settings, question, {}, timeout_s, command)
    warm = _serve_once(settings, question, {}, timeout_s, command)
    notes = ["file caches warm (models read from the page cache, as on any start after the first)",
             "the 1st start of now writes the saved prompt state and sentence vectors if they are missing; the 2nd "
             "is a restart that reads them",
             "baseline: " + " ".join(f"{k}={v}" for k, v in BEFORE_ENV.items())]
    notes += [f"the answer was an error: {r.error}" for r in (before, first, warm) if r.error]
    return ColdStartBench(question=question, before=before, first=first, warm=warm, index_existed=existed,
                          machine=machine(), notes=notes)


def _serve_once(settings, question: str, env_overrides: dict[str, str], timeout_s: float,
                command: Sequence[str] | None) -> ServeRun:
    import socket
    import subprocess
    import urllib.request

    from gradio_client import Client  # imported before the clock starts

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", RAG_DATA_DIR=str(settings.data_dir),
               RAG_INDEX_DIR=str(settings.index_path), RAG_CACHE_DIR=str(settings.cache_path),
               PYTHONPATH=os.pathsep.join(x for x in (root, os.environ.get("PYTHONPATH", "")) if x))
    env.pop("RAG_AUTH", None)
    env.update(env_overrides)
    cmd = list(command or [sys.executable, "-m", "rag.cli", "serve", "--port", str(port)])
    url = f"http://127.0.0.1:{port}/"
    log_file = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        page_s = None
        while page_s is None:
            if proc.poll() is not None:
                log_file.seek(0)
                tail = log_file.read().decode("utf-8", "replace")[-2000:]
                raise RuntimeError(f"`rag serve` exited with {proc.returncode}:\n{tail}")
            if time.perf_counter() - t0 > timeout_s:
                raise TimeoutError(f"`rag serve` did not serve {url} within {timeout_s:.0f} s")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        page_s = time.perf_counter() - t0
            if page_s is None:
                time.sleep(0.05)
        out = Client(url, verbose=False).predict(question, api_name="/ask")
        first_answer_s = time.perf_counter() - t0
        peak, cur = _process_memory(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_file.close()
    out = out if isinstance(out, dict) else {}
    return ServeRun(page_s=page_s, first_answer_s=first_answer_s, peak_rss_mb=peak, rss_mb=cur,
                    refused=bool(out.get("refused")), error=str(out.get("error") or ""))
