"""The llama.cpp backend, the choice of backend in `make_generator`, and `first_token_probs`.

Unit tests load no model; the integration tests run the SmolLM2 GGUF file (fetched by make test) through llama.cpp."""

from __future__ import annotations

import codecs
import importlib.util
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from rag_testdata import smollm2_gguf

from rag.errors import ConfigError, ModelLoadError
from rag.generate import ScriptedGenerator, TransformersGenerator, make_generator, word_probs
from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- make_generator (no model is loaded)
@pytest.fixture
def resolved(monkeypatch):
    """Make `Settings.resolved_llm` answer a given (model, gguf file) pair without looking anything up."""

    def set_to(model: str, gguf: str) -> None:
        monkeypatch.setattr(Settings, "resolved_llm", lambda self: (model, gguf))

    return set_to


@pytest.fixture
def llama_installed(monkeypatch):
    def set_to(value: bool) -> None:
        monkeypatch.setattr("rag.generate.base.llama_cpp_installed", lambda: value)

    return set_to


def test_auto_runs_a_gguf_file_on_llama_cpp(resolved, llama_installed):
    from rag.generate.llama_backend import LlamaCppGenerator

    resolved("/models", "small.gguf")
    llama_installed(True)
    gen = make_generator(Settings(llm_threads=3, llm_ctx=2048))
    assert isinstance(gen, LlamaCppGenerator)
    assert gen.path == str(Path("/models") / "small.gguf")
    assert (gen.n_threads, gen.n_ctx, gen.name) == (3, 2048, "small.gguf")
    assert gen._llm is None  # nothing loads before first use


def test_auto_falls_back_to_transformers_without_llama_cpp(resolved, llama_installed):
    resolved("/models", "small.gguf")
    llama_installed(False)
    gen = make_generator(Settings())
    assert isinstance(gen, TransformersGenerator)
    assert (gen.model_id, gen.gguf_file) == ("/models", "small.gguf")


def test_auto_runs_a_hub_model_on_transformers(resolved, llama_installed):
    resolved("HuggingFaceTB/SmolLM2-135M-Instruct", "")
    llama_installed(True)
    assert isinstance(make_generator(Settings()), TransformersGenerator)


def test_transformers_backend_takes_a_gguf_file_too(resolved, llama_installed):
    resolved("/models", "small.gguf")
    llama_installed(True)
    gen = make_generator(Settings(llm_backend="transformers"))
    assert isinstance(gen, TransformersGenerator)
    assert gen.gguf_file == "small.gguf"


def test_llama_cpp_backend_needs_a_gguf_file(resolved, llama_installed):
    resolved("HuggingFaceTB/SmolLM2-135M-Instruct", "")
    llama_installed(True)
    with pytest.raises(ConfigError, match=r"\.gguf file.*RAG_LLM_BACKEND=transformers"):
        make_generator(Settings(llm_backend="llama.cpp"))


def test_llama_cpp_backend_needs_llama_cpp_installed(resolved, llama_installed):
    resolved("/models", "small.gguf")
    llama_installed(False)
    with pytest.raises(ConfigError, match="pip install llama-cpp-python"):
        make_generator(Settings(llm_backend="llama.cpp"))


def test_backend_is_read_from_the_environment(resolved, llama_installed, monkeypatch):
    from rag.generate.llama_backend import LlamaCppGenerator

    resolved("/models", "small.gguf")
    llama_installed(True)
    monkeypatch.setenv("RAG_LLM_BACKEND", "llama.cpp")
    monkeypatch.setenv("RAG_LLM_THREADS", "1")
    gen = make_generator(Settings.from_env())
    assert isinstance(gen, LlamaCppGenerator) and gen.n_threads == 1


def test_an_unknown_backend_lists_the_choices(monkeypatch):
    def unreachable(self):
        raise AssertionError("the backend is checked before the model is resolved")

    monkeypatch.setattr(Settings, "resolved_llm", unreachable)
    with pytest.raises(ConfigError, match=r"RAG_LLM_BACKEND='vllm'.*auto, llama\.cpp, transformers"):
        make_generator(Settings(llm_backend="vllm"))


def test_a_server_url_wins_over_the_backend(monkeypatch):
    monkeypatch.setattr(Settings, "resolved_llm", lambda self: pytest.fail("no local model is needed"))
    gen = make_generator(Settings(llm_url="http://127.0.0.1:9/v1", llm_backend="llama.cpp"))
    try:
        assert gen.first_token_probs([{"role": "user", "content": "Hi"}], ["NONE"]) is None
    finally:
        gen.close()


def test_importing_the_generators_does_not_import_llama_cpp():
    code = ("import sys; from rag.generate.base import make_generator; from rag.generate.llama_backend import LlamaCppGenerator; "
            "LlamaCppGenerator('/nowhere.gguf'); assert 'llama_cpp' not in sys.modules, 'imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_a_missing_file_says_what_to_set(tmp_path):
    from rag.generate.llama_backend import LlamaCppGenerator

    gen = LlamaCppGenerator(str(tmp_path / "absent.gguf"))
    with pytest.raises(ModelLoadError, match=r"absent\.gguf.*RAG_LLM"):
        gen.warm_up()


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed")
def test_a_broken_file_says_what_to_set(tmp_path):
    from rag.generate.llama_backend import LlamaCppGenerator

    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelLoadError, match=r"broken\.gguf.*RAG_LLM"):
        list(LlamaCppGenerator(str(bad)).stream([{"role": "user", "content": "Hi"}]))


def test_thread_count_defaults_to_the_cores():
    from rag.generate.llama_backend import LlamaCppGenerator, _count_cpus, physical_cores

    assert _count_cpus("0-1,8") == 3 and _count_cpus("4") == 1
    assert 1 <= physical_cores() <= (len(_affinity()) or 1)
    assert LlamaCppGenerator("x.gguf").n_threads == physical_cores()


def _affinity() -> set[int]:
    try:
        import os

        return os.sched_getaffinity(0)
    except AttributeError:
        return set()


# ---------------------------------------------------------------- word_probs and the scripted fake
VOCAB = ["<eos>", "N", "ONE", " N", "The", " The", "NONE", " NONE"]


def _encode_with(vocab: list[str]):
    """A greedy longest-match tokenizer over `vocab`."""

    def encode(text: str) -> list[int]:
        out = []
        while text:
            best = max((t for t in vocab if text.startswith(t)), key=len)
            out.append(vocab.index(best))
            text = text[len(best):]
        return out

    return encode


def _logits(vocab: list[str], probs: dict[str, float]) -> np.ndarray:
    p = np.full(len(vocab), 1e-12)
    for tok, v in probs.items():
        p[vocab.index(tok)] = v
    return np.log(p)


def test_word_probs_of_single_tokens_add_both_forms():
    vocab = [t for t in VOCAB if t not in ("N", " N", "ONE")]
    first = _logits(vocab, {"<eos>": 0.1, "The": 0.5, " The": 0.1, "NONE": 0.2, " NONE": 0.1})
    probs = word_probs(["The", "NONE"], _encode_with(vocab), first, lambda form: pytest.fail("single tokens"))
    assert probs["The"] == pytest.approx(0.6)
    assert probs["NONE"] == pytest.approx(0.3)


def test_word_probs_follow_a_word_of_several_tokens():
    vocab = [t for t in VOCAB if "NONE" not in t]  # SmolLM2 writes NONE as N + ONE
    followed = []

    def follow(form):
        followed.append(tuple(form))
        return [_logits(vocab, {"ONE": 0.5, "The": 0.5})]

    first = _logits(vocab, {"N": 0.4, " N": 0.00001, "The": 0.59999})
    probs = word_probs(["NONE"], _encode_with(vocab), first, follow)
    assert probs["NONE"] == pytest.approx(0.4 * 0.5, rel=1e-3)
    assert followed == [(vocab.index("N"),)]  # " N" is below the floor: not followed


def test_scripted_generator_answers_its_configured_probabilities():
    messages = [{"role": "user", "content": "Q"}]
    assert ScriptedGenerator().first_token_probs(messages, ["NONE"]) is None
    gen = ScriptedGenerator(probs={"NONE": 0.9})
    assert gen.first_token_probs(messages, ["NONE", "The"]) == {"NONE": 0.9, "The": 0.0}


# ---------------------------------------------------------------- the real model (SmolLM2 GGUF on llama.cpp)
SYSTEM = (
    "You answer questions about news articles. You are given numbered sentences from the articles and a question. "
    "Answer only from those sentences, never from what you know otherwise. Write one to three short sentences in "
    "plain words. End every sentence with the number of the sentence it is based on, like [2]. Copy names, "
    "numbers, dates and quotations exactly as they are written. If the sentences do not answer the question, "
    "reply with the single word NONE. Keep the answer short, and do not add anything the sentences do not say."
)


def _ask(question: str, sentences: str = "[1] The council approved the harbour wall on Tuesday.") -> list[dict]:
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Sentences:\n{sentences}\n\nQuestion: {question}"}]


# one thread: on a shared machine a busy second core makes llama.cpp's OpenMP threads spin-wait (10x slower)
THREADS = 1
needs_llama = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None or smollm2_gguf() is None,
                                 reason="needs llama-cpp-python and the SmolLM2 GGUF file (rag models fetch smollm2-135m)")


@pytest.fixture(scope="module")
def smol():
    from rag.generate.llama_backend import LlamaCppGenerator

    gen = LlamaCppGenerator(str(smollm2_gguf()), n_ctx=2048, n_threads=THREADS)
    gen.warm_up()
    return gen


def _counting(gen):
    """Count the tokens llama.cpp decodes from now on."""
    counted = {"tokens": 0}
    real = gen._llm.eval

    def eval_(tokens):
        counted["tokens"] += len(tokens)
        return real(tokens)

    gen._llm.eval = eval_
    return counted


def _uncount(gen) -> None:
    del gen._llm.eval


@pytest.mark.integration
@needs_llama
def test_streams_text(smol):
    pieces = list(smol.stream(_ask("When was the harbour wall approved?"), max_new_tokens=24))
    assert pieces and all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces).strip()


@pytest.mark.integration
@needs_llama
def test_greedy_is_deterministic_whatever_the_cache_holds(smol):
    from rag.generate.llama_backend import LlamaCppGenerator

    ask = _ask("What did the council approve?")
    first = "".join(smol.stream(ask, 24))
    "".join(smol.stream(_ask("Who approved it?"), 24))  # the cache now holds another question
    again = "".join(smol.stream(ask, 24))
    fresh = "".join(LlamaCppGenerator(str(smollm2_gguf()), n_ctx=2048, n_threads=THREADS).stream(ask, 24))
    assert first == again == fresh


@pytest.mark.integration
@needs_llama
def test_closing_mid_stream_stops_and_frees_the_model(smol):
    ask = _ask("What did the council approve?")
    whole = "".join(smol.stream(ask, 24))
    it = smol.stream(ask, 24)
    next(it)
    counted = _counting(smol)
    try:
        it.close()
        assert counted["tokens"] == 0  # nothing decoded after the close
    finally:
        _uncount(smol)
    assert smol._lock.acquire(blocking=False)
    smol._lock.release()
    for _ in smol.stream(ask, 24):
        break  # leaving a for loop closes the iterator as well
    assert "".join(smol.stream(ask, 24)) == whole


@pytest.mark.integration
@needs_llama
def test_concurrent_streams_take_turns(smol):
    asks = [_ask("What did the council approve?"), _ask("When was it approved?")]
    expected = ["".join(smol.stream(a, 12)) for a in asks]
    got: dict[int, str] = {}
    threads = [threading.Thread(target=lambda i=i: got.__setitem__(i, "".join(smol.stream(asks[i], 12))))
               for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [got.get(0), got.get(1)] == expected


@pytest.mark.integration
@needs_llama
def test_first_token_probs_agree_with_greedy_decoding(smol):
    ask = _ask("When was the harbour wall approved?")
    first_piece = next(iter(smol.stream(ask, 1)))
    emitted = first_piece.strip()
    words = [emitted] + [w for w in ("NONE", "Yes", "I", "Sentence") if w != emitted]
    probs = smol.first_token_probs(ask, words)
    assert set(probs) == set(words)
    assert all(0.0 <= p <= 1.0 for p in probs.values())
    assert max(probs, key=probs.get) == emitted
    assert smol.first_token_probs(ask, words) == probs


@pytest.mark.integration
@needs_llama
def test_probing_then_streaming_costs_one_prefill(smol):
    ask = _ask("Who approved the harbour wall?")
    expected = "".join(smol.stream(ask, 16))
    "".join(smol.stream(_ask("Why?"), 4))
    smol.first_token_probs(ask, ["NONE"])
    counted = _counting(smol)
    try:
        it = smol.stream(ask, 16)
        text = next(it)
        assert counted["tokens"] == 0  # the first piece comes from the probe's logits
        text += "".join(it)
    finally:
        _uncount(smol)
    assert text == expected


@pytest.mark.integration
@needs_llama
def test_a_second_question_decodes_only_what_differs(smol):
    a, b = _ask("Who approved the harbour wall?"), _ask("When did the council vote?")
    shared = _shared_prefix(smol._prompt(a), smol._prompt(b))
    assert shared > len(smol._prompt(SYSTEM_ONLY)) - 6  # system message and the user header are shared
    "".join(smol.stream(a, 8))
    counted = _counting(smol)
    try:
        "".join(smol.stream(b, 8))
    finally:
        _uncount(smol)
    prefill = len(smol._prompt(b)) - shared
    assert prefill <= counted["tokens"] <= prefill + 8


SYSTEM_ONLY = [{"role": "system", "content": SYSTEM}]


def _shared_prefix(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


@pytest.mark.integration
@needs_llama
def test_pieces_split_inside_a_character_are_joined(smol):
    text = "Zürich 東京 😀 café"
    tokens = smol._encode(text)
    pieces = [smol._piece(t) for t in tokens]
    assert b"".join(pieces).decode("utf-8") == text
    utf8 = codecs.getincrementaldecoder("utf-8")()
    assert "".join(utf8.decode(p) for p in pieces) == text


@pytest.mark.integration
def test_the_default_qwen_model_answers_when_fetched():
    path = Settings().models_path / "qwen2.5-coder-0.5b-instruct.gguf"
    if importlib.util.find_spec("llama_cpp") is None or not path.is_file():
        pytest.skip(f"{path} is not fetched (make test fetches it)")
    from rag.generate.llama_backend import LlamaCppGenerator

    gen = LlamaCppGenerator(str(path), n_ctx=2048, n_threads=THREADS)
    ask = _ask("How much did the harbour wall cost?")
    probs = gen.first_token_probs(ask, ["NONE"])
    text = "".join(gen.stream(ask, 16))
    assert 0.0 <= probs["NONE"] <= 1.0 and text.strip()


@pytest.mark.integration
@needs_llama
def test_a_primed_prefix_is_restored_on_the_next_start(tmp_path):
    """The second generator (a restart) restores the saved state instead of decoding the prefix, and answers
    exactly as one that decoded everything itself."""
    from rag.generate.llama_backend import LlamaCppGenerator

    prefix, ask = _ask("Is this a warm-up?"), _ask("What did the council approve?")
    first = LlamaCppGenerator(str(smollm2_gguf()), n_ctx=2048, n_threads=THREADS)
    assert first.prime(prefix, tmp_path) is False  # nothing saved yet: decoded, then saved
    saved = list(tmp_path.glob("llama-prefix-*.bin"))
    assert len(saved) == 1 and saved[0].stat().st_size > 0
    expected = "".join(first.stream(ask, 24))

    restart = LlamaCppGenerator(str(smollm2_gguf()), n_ctx=2048, n_threads=THREADS)
    restart._load()
    counted = _counting(restart)
    try:
        assert restart.prime(prefix, tmp_path) is True
        assert counted["tokens"] == 0  # restored, not decoded
        assert "".join(restart.stream(ask, 24)) == expected
        assert counted["tokens"] < len(restart._prompt(ask))  # the shared prefix was not decoded again
    finally:
        _uncount(restart)
    # another context size is another state: not restored
    assert LlamaCppGenerator(str(smollm2_gguf()), n_ctx=1024, n_threads=THREADS).prime(prefix, tmp_path) is False


# ---------------------------------------------------------------- writing faster: drafts from the prompt, replies side by side
def test_a_draft_is_what_followed_the_last_tokens_in_the_prompt():
    from rag.generate.llama_batch import lookup_draft

    history = [5, 6, 7, 8, 9, 1, 6, 7]  # "6 7" occurred before, followed by 8 9
    assert lookup_draft(history, 3) == [8, 9, 1]
    assert lookup_draft(history, 1) == [8]
    assert lookup_draft([5, 6, 7, 8, 9, 1, 2, 7], 3) == []  # one token in common is no evidence
    assert lookup_draft(history, 0) == [] and lookup_draft([1, 2], 3) == []
    # the latest earlier occurrence wins: closest to what is being written
    assert lookup_draft([1, 2, 3, 1, 2, 4, 1, 2], 1) == [4]


def test_only_the_draft_tokens_the_model_would_write_are_kept():
    from rag.generate.llama_batch import accepted_prefix

    def row(best: int) -> np.ndarray:
        x = np.zeros(10)
        x[best] = 1.0
        return x

    assert accepted_prefix([3, 4, 5], [row(3), row(4), row(6)], frozenset()) == 2
    assert accepted_prefix([3, 4], [row(2), row(4)], frozenset()) == 0  # the first differs: none kept
    assert accepted_prefix([3, 9], [row(3), row(9)], frozenset({9})) == 1  # the end is written by the writer itself


def _repeat(text: str) -> list[dict]:
    return [{"role": "user", "content": f"Repeat this sentence exactly, nothing else: {text}"}]


@pytest.mark.integration
@needs_llama
def test_prompt_lookup_writes_the_same_greedy_reply_in_fewer_steps(smol):
    from rag.generate.llama_backend import LlamaCppGenerator

    drafting = LlamaCppGenerator(str(smollm2_gguf()), n_ctx=2048, n_threads=THREADS, lookup=4)
    for text in ("The council approved the harbour wall on Tuesday after a long debate about its cost.",
                 "Officials said the talks would resume next week in Geneva."):
        plain = "".join(smol.stream(_repeat(text), 40))
        before = drafting.stats.snapshot()
        drafted = "".join(drafting.stream(_repeat(text), 40))
        after = drafting.stats.snapshot()
        assert drafted == plain
        assert after["accepted"] > before["accepted"]  # it copied, and the copies were checked, not trusted
        assert after["steps"] - before["steps"] < after["written_tokens"] - before["written_tokens"]
    assert "".join(drafting.stream(_ask("What did the council approve?"), 24)) == \
        "".join(smol.stream(_ask("What did the council approve?"), 24))


@pytest.mark.integration
@needs_llama
def test_replies_written_side_by_side_are_the_replies_written_alone(smol):
    from rag.generate.llama_backend import LlamaCppGenerator

    side = LlamaCppGenerator(str(smollm2_gguf()), n_ctx=2048, n_threads=THREADS, sequences=4, lookup=4)
    asks = [_ask("What did the council approve?"), _ask("When was it approved?"),
            _ask("Who approved the wall?", "[1] The harbour board, not the council, approved the wall."),
            _repeat("Talks resume next week.")]
    alone = ["".join(smol.stream(a, 24)) for a in asks]
    assert side.read_many(asks, 24) == alone
    assert side.stats.steps < side.stats.written_tokens  # several replies per decode step
    assert side.stats.accepted > 0  # the reply that copies was written with drafts, checked in the same steps
    # the context is left holding one sequence: what it writes next is what a fresh reader writes
    assert "".join(side.stream(asks[1], 24)) == alone[1]
    # each reply stops where `until` says, the others go on
    short = side.read_many(asks[:2], 24, until=lambda text: len(text.split()) >= 2)
    assert all(len(t.split()) <= 3 for t in short) and all(a.startswith(t.strip()) or t.strip() in a
                                                            for t, a in zip(short, alone[:2]))
    many = [_ask(f"Question number {i}: what was approved?") for i in range(6)]  # more than one batch of four
    assert side.read_many(many, 12) == ["".join(smol.stream(a, 12)) for a in many]
