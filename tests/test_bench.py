"""Benchmarks at toy sizes, the index-type switch (exact -> IVF), the fast BM25 build and the fast re-ingest."""

import json
import os
import re
import time

import numpy as np
import pytest
from rag_testdata import ARTICLES, write_article

import rag.ingest.loaders
import rag.ingest.scan
from rag.answer.parts import MAX_PARTS
from rag.generate.base import ScriptedGenerator
from rag.index.bm25 import BM25Index
from rag.index.embed import HashEmbedder
from rag.index.faiss_index import build_faiss, describe_faiss, ivf_params
from rag.index.retrieve import Retriever
from rag.index.store import IndexData, IndexStore
from rag.ingest.incremental import ingest
from rag.settings import Settings
from rag.text import tokenize


def run(data, store, embedder, **kw):
    return ingest([data], store, embedder, chunk_words=30, overlap=1, base=data, **kw)


@pytest.fixture
def trusted_stats(monkeypatch):
    """Files written a moment ago count as settled (the racy-stat window is 2 s by default)."""
    monkeypatch.setattr(rag.ingest.scan, "RACY_NS", 0)


@pytest.fixture
def reads(monkeypatch):
    """Counts the files ingest actually opens."""
    opened = []
    real = rag.ingest.loaders.load_file

    def counting(path, *a, **k):
        opened.append(os.path.basename(str(path)))
        return real(path, *a, **k)

    monkeypatch.setattr(rag.ingest.loaders, "load_file", counting)
    return opened


# ---------------------------------------------------------------- BM25


def _old_tokenize(text, keep_stopwords=False):
    from rag.text import STOPWORDS, TOKEN, stem

    toks = [t.lower().replace("’", "'") for t in TOKEN.findall(text)]
    return [stem(t) for t in toks if keep_stopwords or t not in STOPWORDS]


def test_cached_tokenizer_matches_the_plain_one():
    texts = ["Russia’s strikes in Syria's north", "The SANCTIONS bombing İstanbul don't", "", "a the of",
             "Putin's Putin’s putins 2015 U.S. e-mail", "naïve café déjà vu – Zürich"]
    for t in texts * 2:  # twice: the second pass comes from the cache
        assert tokenize(t) == _old_tokenize(t)
        assert tokenize(t, keep_stopwords=True) == _old_tokenize(t, keep_stopwords=True)


def test_fast_bm25_build_scores_exactly_like_bm25s():
    import bm25s

    rng = np.random.default_rng(3)
    words = ["putin", "syria's", "strikes", "the", "Oil", "bombing", "sanctions", "don't", "of"] + \
        [f"w{i}" for i in range(200)]
    texts = [" ".join(rng.choice(words, size=int(rng.integers(0, 30)))) for _ in range(600)]
    texts += ["", "the of and", "!!!"]  # no content words: the empty token, as before
    fast = BM25Index(texts)
    ref = bm25s.BM25()
    ref.index([tokenize(t) or ["\x00"] for t in texts], show_progress=False)
    for q in ["putin strikes", "w1 w2 w3 syria", "oil bombing sanctions", "w199", "nothing-here"]:
        toks = tokenize(q)
        hits = fast.search(q, 25)
        known = [t for t in toks if t in ref.vocab_dict]
        if known:
            np.testing.assert_array_equal(fast._bm25.get_scores(toks), ref.get_scores(toks))
            scores = ref.get_scores(toks)
            order = np.lexsort((np.arange(len(scores)), -scores))[:25]  # best first, ties to the earlier row
            expected = [(int(i), float(scores[i])) for i in order if scores[i] > 0]
        else:
            expected = []
        assert [i for i, _ in hits] == [i for i, _ in expected]
        np.testing.assert_allclose([s for _, s in hits], [s for _, s in expected], rtol=1e-6)
    assert fast.nbytes > 0


# ---------------------------------------------------------------- index type by size


def _clustered(n, dim=32, centers=40, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centers, dim)).astype(np.float32)
    v = c[rng.integers(0, centers, n)] + 0.35 * rng.standard_normal((n, dim)).astype(np.float32)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def test_small_corpora_get_exact_search_large_ones_ivf():
    v = _clustered(3000)
    assert describe_faiss(build_faiss(v))["type"] == "flat"  # far below FLAT_LIMIT
    index = build_faiss(v, flat_limit=1000)
    info = describe_faiss(index)
    assert info["type"] == "ivf_flat" and (info["nlist"], info["nprobe"]) == ivf_params(3000)
    q = v[:50] + 0.05 * np.random.default_rng(1).standard_normal(v[:50].shape).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    exact = build_faiss(v).search(q, 10)[1]
    approx = index.search(q, 10)[1]
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)])
    assert recall >= 0.9
    assert (approx[:, 0] == exact[:, 0]).mean() >= 0.95  # the nearest neighbour is almost always found


def test_ivf_parameters_by_size():
    assert ivf_params(1_000_000) == (1000, 62)
    nlist, nprobe = ivf_params(200_000)
    assert 64 <= nlist <= 4096 and 8 <= nprobe <= nlist
    assert ivf_params(10) == (1, 1)  # a tiny corpus with a lowered threshold: one cell, still exact


def test_ivf_index_survives_save_and_load_with_its_search_parameters(tmp_path):
    v = _clustered(2500, seed=2)
    index = build_faiss(v, flat_limit=1000)
    index.nprobe = 7  # not the default: must come back as saved
    store = IndexStore(tmp_path / "index")
    from rag.schema import Chunk

    chunks = [Chunk(str(i), f"d{i // 10}", f"text {i}", 0, 6) for i in range(len(v))]
    data = IndexData({"format": 1, "embed_model": "x", "dim": 32, "chunker": {}, "documents": {}}, {}, chunks, v,
                     index)
    before = index.search(v[:20], 10)
    store.save(data)
    m = store.read_manifest()
    assert m["faiss"] == {"type": "ivf_flat", "nlist": index.nlist, "nprobe": 7} and m["index_type"] == "ivf_flat"
    loaded = store.load()
    assert describe_faiss(loaded.faiss_index) == m["faiss"]
    after = loaded.faiss_index.search(v[:20], 10)
    np.testing.assert_array_equal(before[1], after[1])
    assert isinstance(loaded.vectors, np.memmap)  # vectors are mapped, not read into memory
    # the manifest's nprobe wins over whatever the file holds
    m["faiss"]["nprobe"] = 3
    (store.current_dir() / "manifest.json").write_text(json.dumps(m))
    assert store.load().faiss_index.nprobe == 3


def test_ingest_and_search_with_the_approximate_index(corpus, tmp_path, hash_embedder, monkeypatch):
    import rag.index.faiss_index

    monkeypatch.setattr(rag.index.faiss_index, "FLAT_LIMIT", 2)
    for i in range(40):  # enough chunks for a few IVF cells
        write_article(corpus, f"filler{i}.md", f"Filler story {i} about harvest number {i} in province {i}. " * 3)
    store = IndexStore(tmp_path / "index")
    run(corpus, store, hash_embedder)
    data = store.load()
    assert data.manifest["index_type"] == "ivf_flat"
    r = Retriever(data, hash_embedder, candidates=10)
    hits = r.search("Ash Carter briefing technical talks", k=3)
    assert hits[0].chunk.doc == "syria.md" and "Carter" in hits[0].chunk.text
    assert "frozen" in r.search("investments frozen", k=2)[0].chunk.text


# ---------------------------------------------------------------- fast no-change re-ingest


def test_unchanged_files_are_not_read_again(corpus, tmp_path, hash_embedder, trusted_stats, reads):
    store = IndexStore(tmp_path / "index")
    first = run(corpus, store, hash_embedder)
    assert sorted(reads) == sorted(ARTICLES)
    reads.clear()
    hash_embedder.texts_embedded = 0
    again = run(corpus, store, hash_embedder)
    assert reads == [] and hash_embedder.texts_embedded == 0
    assert sorted(again.unchanged) == sorted(ARTICLES) and not (again.added or again.updated or again.removed)
    assert (again.documents, again.chunks) == (first.documents, first.chunks)


def test_changed_deleted_and_new_files_are_still_noticed(corpus, tmp_path, hash_embedder, trusted_stats, reads):
    store = IndexStore(tmp_path / "index")
    run(corpus, store, hash_embedder)
    syria = corpus / "syria.md"
    st = syria.stat()
    # same size, mtime put back: only the ctime shows the change
    text = syria.read_text(encoding="utf-8")
    syria.write_text(text.replace("Sept. 30", "Sept. 29"), encoding="utf-8")
    os.utime(syria, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert syria.stat().st_size == st.st_size
    (corpus / "iran.md").unlink()
    write_article(corpus, "new.md", "Ceasefire talks opened in Geneva on Monday.")
    reads.clear()
    report = run(corpus, store, hash_embedder)
    assert report.updated == ["syria.md"] and report.removed == ["iran.md"] and report.added == ["new.md"]
    assert sorted(reads) == ["new.md", "syria.md"]  # oil.md was not opened
    idx = store.load()
    assert "Sept. 29" in idx.documents["syria.md"].text and "iran.md" not in idx.documents


def test_touched_file_is_read_once_then_trusted(corpus, tmp_path, hash_embedder, trusted_stats, reads):
    store = IndexStore(tmp_path / "index")
    run(corpus, store, hash_embedder)
    version = store.current_dir()
    os.utime(corpus / "oil.md", ns=(time.time_ns(), time.time_ns() - 5_000_000_000))  # touched: new mtime
    reads.clear()
    hash_embedder.texts_embedded = 0
    report = run(corpus, store, hash_embedder)
    assert reads == ["oil.md"] and hash_embedder.texts_embedded == 0 and "oil.md" in report.unchanged
    assert store.current_dir() != version  # the new stat was recorded (a manifest-only version)
    assert store.load().vectors.shape[0] == report.chunks
    reads.clear()
    run(corpus, store, hash_embedder)
    assert reads == []


def test_recently_written_files_are_read_every_time(corpus, tmp_path, hash_embedder, reads):
    store = IndexStore(tmp_path / "index")
    run(corpus, store, hash_embedder)  # files a few ms old: their stat may still change within one tick
    reads.clear()
    hash_embedder.texts_embedded = 0
    report = run(corpus, store, hash_embedder)
    assert sorted(reads) == sorted(ARTICLES) and hash_embedder.texts_embedded == 0
    assert sorted(report.unchanged) == sorted(ARTICLES)


def test_changed_loader_code_means_files_are_read(corpus, tmp_path, hash_embedder, trusted_stats, reads,
                                                   monkeypatch):
    store = IndexStore(tmp_path / "index")
    run(corpus, store, hash_embedder)
    monkeypatch.setattr(rag.ingest.scan, "_LOADER_SIGNATURE", "another-version-of-the-loaders")
    reads.clear()
    report = run(corpus, store, hash_embedder)
    assert sorted(reads) == sorted(ARTICLES) and not (report.added or report.updated)


def test_fast_path_reports_skips_and_duplicates_like_a_full_scan(corpus, tmp_path, hash_embedder, trusted_stats,
                                                                 monkeypatch):
    (corpus / "binary.txt").write_bytes(bytes(range(256)) * 20)
    (corpus / "copy.md").write_text((corpus / "oil.md").read_text())
    (corpus / "table.xlsx").write_bytes(b"PK\x03\x04")
    store = IndexStore(tmp_path / "index")
    run(corpus, store, hash_embedder)
    fast = run(corpus, store, hash_embedder)
    monkeypatch.setattr(rag.ingest.scan, "_LOADER_SIGNATURE", "force-a-full-scan")
    full = run(corpus, store, hash_embedder)
    strip = lambda r: (sorted(r.unchanged), sorted(r.skipped), sorted(r.duplicates), r.documents, r.chunks)  # noqa
    assert strip(fast) == strip(full)
    skipped = {os.path.basename(p) for p, _ in fast.skipped}
    assert {"binary.txt", "table.xlsx"} < skipped and len(skipped & {"copy.md", "oil.md"}) == 1


def test_truncated_index_file_is_noticed_without_a_change(corpus, tmp_path, hash_embedder, trusted_stats):
    store = IndexStore(tmp_path / "index")
    run(corpus, store, hash_embedder)
    path = store.current_dir() / "faiss.index"
    path.write_bytes(path.read_bytes()[:100])
    report = run(corpus, store, hash_embedder)
    assert any("faiss.index" in n and "Rebuilt" in n for n in report.notes)
    assert sorted(report.added) == sorted(ARTICLES)
    store.load()


# ---------------------------------------------------------------- the benchmarks at toy sizes


def test_bench_search_small(tmp_path):
    from rag.bench import bench_search

    data = tmp_path / "data"
    for name, body in ARTICLES.items():
        write_article(data, name, body)
    result = bench_search([300, 1500], settings=Settings(data_dir=data), embedder=HashEmbedder(dim=32),
                          queries=12, flat_limit=1000, question_file=None)
    small, big = result.rows
    assert small.index["type"] == "flat" and small.recall_at_10 == 1.0
    assert big.index["type"] == "ivf_flat" and 0.0 < big.recall_at_10 <= 1.0 and big.sweep
    for r in result.rows:
        assert r.hybrid_ms["p50"] > 0 and r.keyword_ms["p50"] > 0 and r.dense_ms["p50"] > 0
        assert r.index_bytes_per_chunk >= 32 * 4 and r.bm25_bytes_per_chunk > 0
    table = result.table()
    assert "recall@10" in table and "1,500" in table and "synthetic" in table
    json.dumps(result.to_dict())


def test_bench_library_small(tmp_path):
    """`rag bench library` at a toy size: every action of the Library tab's list timed, printed and under target."""
    from click.testing import CliRunner

    from rag.bench.library import bench_library, generated_library
    from rag.cli import cli

    result = bench_library(300, repeat=2, tmp=tmp_path)
    assert set(result.timings_ms) >= {"list (the whole tab, page 1)", "next page", "sort by title",
                                      "remove a row (and list again)"}
    assert all(0 < ms < 1000 for ms in result.worst_ms.values()) and all(ok for _, _, ok in result.targets())
    assert "300 generated articles" in result.table() and "median ms" in result.table()
    json.dumps(result.to_dict())
    assert generated_library(5)[3] == generated_library(300)[3]  # article i is the same whatever N is
    r = CliRunner().invoke(cli, ["bench", "library", "--articles", "200", "--repeat", "1"], obj={})
    assert r.exit_code == 0, r.output
    assert re.search(r"\| search “\w+” +\| [\d.]+ +\|", r.output) and "< 1,000 ms at 200 articles" in r.output


def test_bench_ingest_small(corpus, tmp_path, monkeypatch):
    from rag.bench.ingest import bench_ingest
    from rag.bench.synthetic import sentence_pool, synthetic_document

    monkeypatch.setattr(rag.ingest.scan, "RACY_NS", 0)
    embedder = HashEmbedder(dim=32)
    result = bench_ingest(Settings(data_dir=corpus, chunk_words=30), docs=25, embedder=embedder,
                          workdir=tmp_path / "work", reingests=2)
    assert result.docs == 25 and result.chunks >= 25 and len(result.reingest_s) == 2
    assert result.ratio > 0 and result.baseline_chunks == result.chunks
    assert not any("changed something" in n for n in result.notes)
    assert "re-ingest" in result.table()
    json.dumps(result.to_dict())
    # the synthetic corpus is deterministic, and document i does not depend on the corpus size
    articles = sentence_pool(corpus)
    assert synthetic_document(articles, 7) == synthetic_document(articles, 7)
    assert synthetic_document(articles, 7) != synthetic_document(articles, 8)


def test_bench_answer_small(corpus, tmp_path):
    from rag.bench import bench_answer

    settings = Settings(data_dir=corpus, index_dir=tmp_path / "index", chunk_words=30)
    gen = ScriptedGenerator(default="Russia began air strikes in Syria on Sept. 30 [1].")
    result = bench_answer(settings, ["When did Russia begin air strikes in Syria?",
                                     "How many fish were caught in the North Sea?"],
                          embedder=HashEmbedder(dim=64), generator=gen, repeat=2)
    assert result.questions == 2 and result.answered + result.refused == 2
    assert result.answered >= 1
    gen_rows = [r for r in result.rows if r["generated"]]
    assert gen_rows and all(r["same_text"] and r["direct_total_ms"] >= 0 for r in gen_rows)
    assert result.first_sentence_ms["n"] == 4 and result.first_sentence_ms["p50"] > 0
    assert result.first_token_ms == result.first_sentence_ms  # the old JSON name, kept
    assert result.generated_tokens > 0
    table = result.table()
    assert re.search(r"overhead", table) and "first verified sentence, all questions" in table
    assert "generator alone: first token" in table and "outside the generator" in table
    assert 0 <= result.outside_generator < 1000
    assert [t for t, _, _ in result.targets()] == ["first verified sentence p50 <= 2.5 s", "full answer p50 <= 4 s",
                                                   "pipeline overhead <= 10% of the generator's time"]
    d = result.to_dict()
    assert d["first_sentence_ms"] == d["first_token_ms"] and "first token p50 <= 1 s" not in json.dumps(d)
    json.dumps(d, default=str)


class _CachingGenerator(ScriptedGenerator):
    """A scripted generator that keeps, like llama.cpp, the last prompt it read, and logs each call with the
    prompt the cache held when the call began. Its probe takes `probe_s`; it honours max_new_tokens."""

    def __init__(self, reply: str, p_none: float, probe_s: float = 0.0) -> None:
        super().__init__(default=reply, probs={"NONE": p_none})
        self.probe_s = probe_s
        self.cache = None
        self.log: list[dict] = []

    @staticmethod
    def key(messages):
        return json.dumps([dict(m) for m in messages])

    def first_token_probs(self, messages, words):
        self.log.append({"kind": "probe", "prompt": self.key(messages), "cache": self.cache})
        self.cache = self.key(messages)
        time.sleep(self.probe_s)
        return super().first_token_probs(messages, words)

    def stream(self, messages, max_new_tokens=64):
        call = {"kind": "stream", "prompt": self.key(messages), "cache": self.cache, "max_new_tokens": max_new_tokens,
                "read": 0}
        self.log.append(call)
        self.cache = self.key(messages)
        for i, piece in enumerate(super().stream(messages, max_new_tokens)):
            if i >= max_new_tokens:
                return
            call["read"] += 1
            yield piece


def test_timed_generator_forwards_the_probe_only_when_the_generator_has_one():
    from rag.bench.answer import _TimedGenerator

    class NoProbe:
        name = "server"

        def warm_up(self):
            pass

        def stream(self, messages, max_new_tokens=64):
            yield "Hello."

    assert getattr(_TimedGenerator(NoProbe()), "first_token_probs", None) is None

    inner = _CachingGenerator("Russia began air strikes.", p_none=0.01, probe_s=0.03)
    timed = _TimedGenerator(inner)
    messages = [{"role": "user", "content": "When did the strikes begin?"}]
    assert timed.first_token_probs(messages, ["NONE"]) == {"NONE": 0.01}
    assert "".join(timed.stream(messages, 16)) == "Russia began air strikes."
    (call,) = timed.calls  # the probe and the stream of the same messages are one model call
    assert call["probe"] == ["NONE"] and call["probs"] == {"NONE": 0.01}
    assert call["probe_s"] >= 0.03 and call["gen_s"] >= call["probe_s"]  # timed, and counted as generator time
    assert (call["pieces"], call["exhausted"], call["max_new_tokens"]) == (4, True, 16)
    list(timed.stream([{"role": "user", "content": "Another prompt"}], 8))  # no probe before it: a call of its own
    assert len(timed.calls) == 2 and timed.calls[1]["probe"] is None


@pytest.mark.parametrize("p_none", [0.0, 0.9], ids=["answers", "probe-refuses"])
def test_bench_answer_baseline_repeats_the_pipelines_model_calls_from_the_same_cache_state(corpus, tmp_path, p_none):
    from rag.bench import bench_answer

    settings = Settings(data_dir=corpus, index_dir=tmp_path / "index", chunk_words=30)
    # more sentences than the pipeline shows: it stops the model early
    reply = " ".join(f"Russia began air strikes in Syria on day {i} of the month [1]." for i in range(1, 10))
    gen = _CachingGenerator(reply, p_none=p_none, probe_s=0.02)
    questions = ["When did Russia begin air strikes in Syria?", "Why did Putin enter Syria?"]
    result = bench_answer(settings, questions, embedder=HashEmbedder(dim=64), generator=gen)
    rows = [r for r in result.rows if r["generated"]]
    assert rows and result.probed and result.model_calls == len(rows)
    assert all(r["probed"] and r["probe_ms"] >= 20 and r["pipeline_gen_ms"] >= r["probe_ms"] for r in rows)
    assert all(r["same_text"] for r in rows)

    # per question: settle, the pipeline's calls (choose probe, read stream, judge probes), settle, the same calls
    # replayed directly: each replayed call reads the same prompt from the same cache state, and a stream is read
    # as far as the pipeline read it
    settles = [i for i, c in enumerate(gen.log) if c["kind"] == "stream" and c["max_new_tokens"] == 1]
    segments = [gen.log[a + 1:b] for a, b in zip(settles, settles[1:] + [len(gen.log)])][-2 * len(rows):]
    assert len(segments) == 2 * len(rows)
    for row, pipe, direct in zip(rows, segments[::2], segments[1::2]):
        assert [(c["kind"], c["prompt"], c["cache"]) for c in direct] == \
            [(c["kind"], c["prompt"], c["cache"]) for c in pipe]
        assert pipe[0]["cache"] != pipe[0]["prompt"]  # not the prompt just read
        for a, b in zip(pipe, direct):
            if a["kind"] == "stream":
                assert 0 < b["read"] == a["read"] < len(reply.split())  # stopped where the pipeline stopped
        streams = [c for c in pipe if c["kind"] == "stream"]
        if row["question"].startswith("Why"):  # an answer with parts: each part read alone, no choice probe first
            assert pipe[0]["kind"] == "stream" and 1 <= len(streams) <= MAX_PARTS
        elif p_none:  # the probe says NONE: the best units are read one at a time before refusing
            assert pipe[0]["kind"] == "probe" and 1 <= len(streams) <= settings.none_reads
        else:  # the first choice read, and the next one when nothing written from it held up
            assert pipe[0]["kind"] == "probe" and 1 <= len(streams) <= settings.read_tries
    if p_none:  # what the reader wrote after its NONE names a day the passages do not: refused
        assert all(r["refused"] for r in rows if not r["question"].startswith("Why"))
    assert "first verified sentence" in result.table()


def test_reader_bench_table_shows_a_crashed_configuration_with_its_cause():
    from rag.bench.reader import ReaderBench
    from rag.generate.llama_check import CheckResult

    base = CheckResult(repack=False, ok=True, returncode=0, buffers=["CPU_Mapped"], load_s=0.5, prompt_tokens=512,
                       prompt_tokens_per_s=100.0, decode_tokens_per_s=10.0, peak_rss_mb=1200)
    faster = CheckResult(repack=True, ok=True, returncode=0, buffers=["CPU_Mapped", "CPU_REPACK"], load_s=1.0,
                         prompt_tokens=512, prompt_tokens_per_s=50.0, decode_tokens_per_s=12.5, peak_rss_mb=1800)
    crashed = CheckResult(repack=None, ok=False, returncode=-11, buffers=["CPU_Mapped", "AMX"], prompt_tokens=512)
    bench = ReaderBench(model="m.gguf", threads=2, prompt_tokens=512, decode_tokens=32, reps=3,
                        runs=[base, faster, crashed], machine="2 CPU cores", cpu="CPU (AVX2)", load_before=0.1)
    table = bench.table()
    assert "0.50x" in table and "1.25x" in table  # prompt and decode against RAG_LLM_REPACK=0, same run
    assert "failed" in table and "SIGSEGV" in table and "AMX kernels" in table
    assert bench.targets() == [("every configuration reads a prompt and writes",
                                "llama.cpp's default parameters failed", False)]
    assert bench.to_dict()["targets"][0]["met"] is False


def test_bench_answer_busy_compares_idle_and_loaded_phases_in_one_run(corpus, tmp_path):
    from rag.bench.busy import bench_busy

    settings = Settings(data_dir=corpus, index_dir=tmp_path / "index", chunk_words=30, answer_cache=64)
    gen = ScriptedGenerator(default="Russia began air strikes in Syria on Sept. 30 [1].")
    questions = ["When did Russia begin air strikes in Syria?", "Why did Putin enter Syria?"]
    result = bench_busy(settings, questions, busy=1, embedder=HashEmbedder(dim=64), generator=gen)
    idle, busy = result.phases
    assert (idle.busy, busy.busy) == (0, 1) and len(idle.rows) == len(busy.rows) == 2
    # the answer cache is off: the loaded phase answered again instead of replaying
    n_prompts = len(gen.history)
    assert all(r["total_ms"] > 0 for r in busy.rows) and n_prompts >= 2 * len(questions) + 2
    assert result.ratio("first_sentence_ms", "p50") == pytest.approx(
        busy.first_sentence_ms["p50"] / idle.first_sentence_ms["p50"])
    table = result.table()
    assert "1 busy" in table and "first checked sentence p50" in table and "busy / idle <= 2.2x" in table
    json.dumps(result.to_dict(), default=str)


def test_busy_cores_start_and_stop_their_processes():
    from rag.bench.busy import busy_cores

    with busy_cores(2, settle_s=0.1) as procs:
        assert len(procs) == 2 and all(p.poll() is None for p in procs)
    assert all(p.poll() is not None for p in procs)


def test_bench_answer_names_each_model_call_by_its_stage_and_reads_times_against_the_reference_job(
        corpus, tmp_path, monkeypatch):
    from rag.bench import bench_answer
    from rag.bench import stages

    monkeypatch.setattr("rag.bench.answer.reference_job", lambda settings: stages.Reference(100.0, 10.0, 0.1))
    settings = Settings(data_dir=corpus, index_dir=tmp_path / "index", chunk_words=30)
    gen = ScriptedGenerator(default="Russia began air strikes in Syria on Sept. 30 [1].", probs={"NONE": 0.0})
    questions = ["When did Russia begin air strikes in Syria?", "Why did Putin enter Syria?"]
    result = bench_answer(settings, questions, embedder=HashEmbedder(dim=64), generator=gen, replay=False,
                          reference=True)
    assert result.reference["seconds"] == pytest.approx(512 / 100 + 32 / 10)
    assert not result.replayed and all("direct_total_ms" not in r for r in result.rows)
    # the factoid chose (probe), read and judged; the why-question read parts and judged them
    assert {"choose", "read", "part", "judge"} <= set(result.stages)
    assert result.stages["choose"]["calls"] == 1 and result.stages["part"]["calls"] >= 1
    assert sum(r["calls"] for r in result.stages.values()) == sum(len(r["calls"]) for r in result.rows)
    kinds = result.by_kind
    assert kinds["explanations (why / compare / about)"]["n"] == 1 and kinds["one-answer questions"]["n"] == 1
    ref_ms = result.reference["seconds"] * 1000
    assert kinds["all questions"]["first_p50"] == pytest.approx(result.first_sentence_ms["p50"] / ref_ms)
    assert [t for t, _, _ in result.targets()] == ["first checked sentence p50 <= 0.6x the reference job",
                                                   "full answer p50 <= 1.2x", "full answer p95 <= 2.4x"]
    table = result.table()
    assert "Where the time goes" in table and "judging written sentences" in table and "x ref" in table
    json.dumps(result.to_dict(), default=str)


def test_a_call_is_named_by_its_prompt():
    from rag import prompts
    from rag.bench.stages import stage_of

    for name in ("choose", "read", "part", "judge"):
        assert stage_of([{"role": "system", "content": prompts.load(name)["system"]}, {"role": "user", "content": "x"}]) == name
    assert stage_of([{"role": "user", "content": "Say OK."}]) == "other"
