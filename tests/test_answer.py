"""The answering pipeline with a hash-seeded embedder and a scripted generator."""

import json

import pytest

from rag.answer.followup import is_follow_up, rewrite_query
from rag.errors import EmptyQuestionError
from rag.generate.base import ScriptedGenerator
from rag.pipeline import Pipeline
from rag.settings import Settings

DOCS = {
    "syria.md": (
        "On Sept. 30, Sergei Ivanov asked the upper house of parliament to allow Russian warplanes to bomb Syria. "
        "They obliged with a quick and unanimous vote in favor, and air strikes began a few hours later.\n\n"
        "Putin was trying to end Russia's economically crippling isolation from the West. "
        "“We are not so concerned with this citizen by the name of Assad,” says Andrei Klimov."
    ),
    "ukraine.md": (
        "In September, Moscow ordered the separatist militias in eastern Ukraine to hold their fire. "
        "The proxies announced that they were withdrawing their weapons.\n\n"
        "Obama said Russia's air force did not distinguish between moderate rebels and extremists."
    ),
}
WHEN = "When did the air strikes begin after the quick and unanimous vote?"


class TrackingGenerator(ScriptedGenerator):
    """A scripted generator that records how many pieces were read and whether its stream was closed early."""

    def __init__(self) -> None:
        super().__init__()
        self.pieces_read = 0
        self.closed = False
        self.exhausted = False

    def stream(self, messages, max_new_tokens=64):
        try:
            for piece in super().stream(messages, max_new_tokens):
                self.pieces_read += 1
                yield piece
            self.exhausted = True
        except GeneratorExit:
            self.closed = True
            raise


def make_pipeline(tmp_path, embedder, gen: ScriptedGenerator, **settings) -> Pipeline:
    data = tmp_path / "data"
    data.mkdir(parents=True)
    for name, body in DOCS.items():
        approx = "published_approx: true\n" if name == "ukraine.md" else ""
        (data / name).write_text(f"---\ntitle: {name}\noutlet: Wire\npublished: '2015-10-14'\n{approx}---\n{body}")
    p = Pipeline(Settings(data_dir=data, index_dir=tmp_path / "index", chunk_words=40, **settings), embedder=embedder,
                 generator=gen)
    p.gen = gen
    return p


@pytest.fixture
def pipeline(tmp_path, hash_embedder):
    return make_pipeline(tmp_path, hash_embedder, ScriptedGenerator())


@pytest.fixture
def tracked(tmp_path, hash_embedder):
    return make_pipeline(tmp_path, hash_embedder, TrackingGenerator())


def assert_citations_exact(p, answer):
    assert answer.citations, "expected at least one citation"
    for c in answer.citations:
        assert c.quote and p.document_text(c.doc)[c.start : c.end] == c.quote
        assert f"[{c.n}]" in answer.answer
        assert c.title and c.published


def test_first_question_builds_the_index(pipeline):
    assert not pipeline.store.exists()
    pipeline.gen.enqueue("Air strikes began a few hours later.")
    pipeline.answer(WHEN)
    assert pipeline.store.exists()


def test_faithful_model_sentence_is_kept_and_cited(pipeline):
    pipeline.gen.enqueue("Air strikes began a few hours after the quick and unanimous vote [1].")
    a = pipeline.answer(WHEN)
    assert not a.refused
    assert a.answer.startswith("Air strikes began a few hours after the quick and unanimous vote [1].")
    assert_citations_exact(pipeline, a)
    assert "few hours later" in a.citations[0].quote
    # the reader read narrowly: the chosen sentence (with the one it leans on) and the question, nothing else
    messages = pipeline.gen.history[-1]
    assert messages[0]["role"] == "system"
    prompt = messages[-1]["content"]
    assert "unanimous vote" in prompt and WHEN in prompt
    assert "Obama" not in prompt and "Klimov" not in prompt and "[1]" not in prompt


def test_a_unit_that_leans_back_brings_the_sentence_it_points_to(pipeline):
    pipeline.gen.enqueue("Air strikes began a few hours after the quick and unanimous vote.")
    a = pipeline.answer(WHEN)
    # "They obliged ..." is shown with the sentence that says who "they" are
    assert "Sergei Ivanov asked the upper house" in a.citations[0].quote


def test_fabricated_sentence_is_dropped_and_the_cited_evidence_quoted(pipeline):
    pipeline.gen.enqueue("Sergei Lavrov ordered 40 strikes a few hours after the vote [1].")
    a = pipeline.answer(WHEN)
    assert "Lavrov" not in a.answer and "40" not in a.answer
    assert "air strikes began a few hours later" in a.answer
    assert not a.answer.startswith(("They", "Indeed"))
    assert_citations_exact(pipeline, a)


def test_garbled_number_never_reaches_the_stream(pipeline):
    pipeline.gen.enqueue("Air strikes began a few hours after the quick and unanimous vote [1]. "
                         "The vote was 5-to-a-night in favor [1].")
    events = list(pipeline.answer_stream(WHEN))
    streamed = "".join(e.data for e in events if e.kind == "token")
    assert "5-to-a-night" not in streamed and "5-to-a-night" not in events[-1].data.answer
    assert streamed.strip() == events[-1].data.answer


def test_model_refusal_says_the_articles_dont_say(pipeline):
    pipeline.gen.enqueue("NONE")
    a = pipeline.answer("How many warplanes did Russia send to Syria?")
    assert a.refused and a.answer.startswith("The articles don't say.")
    for c in a.citations:  # a closest passage, if shown, is quoted exactly
        assert pipeline.document_text(c.doc)[c.start : c.end] == c.quote


def test_refusal_from_the_models_probability_comes_after_reading(tmp_path, hash_embedder):
    pipeline = make_pipeline(tmp_path, hash_embedder, ScriptedGenerator(), none_read_score=-1.0)  # read any unit
    pipeline.gen.probs = {"NONE": 0.6}
    pipeline.gen.enqueue("There were 34 warplanes [1].", "NONE")
    a = pipeline.answer("How many warplanes did Russia send to Syria?")
    assert a.refused and "34" not in a.answer  # what the reader wrote after its NONE did not hold up
    # the best units were read one at a time, each alone, before refusing
    assert 1 <= len(pipeline.gen.history) <= 2 and all("NONE" in h[0]["content"] for h in pipeline.gen.history)
    pipeline.gen.probs = {"NONE": 0.01, "1": 0.9}  # the reader picks sentence 1 and is sure one answers
    pipeline.gen.replies.clear()
    pipeline.gen.enqueue("A few hours after the quick and unanimous vote.")
    a = pipeline.answer(WHEN)
    assert not a.refused and "few hours" in a.answer


def test_refusal_is_overruled_when_a_sentence_states_the_question(pipeline):
    pipeline.gen.enqueue("NONE")
    q = "They obliged with a quick and unanimous vote in favor, and air strikes began a few hours later?"
    a = pipeline.answer(q)
    assert not a.refused
    assert "air strikes began a few hours later" in a.answer
    assert_citations_exact(pipeline, a)


def test_empty_reply_is_a_refusal(pipeline):
    a = pipeline.answer("What is the recipe for banana bread?")
    assert a.refused


def test_follow_up_query_uses_the_conversation(pipeline):
    history = [
        {"role": "user", "content": "Why did Putin bomb Syria?"},
        {"role": "assistant", "content": "Putin was trying to end Russia's isolation from the West [1]."},
    ]
    pipeline.gen.enqueue("Putin was trying to end Russia's economically crippling isolation from the West.")
    a = pipeline.answer("And what did Obama say about that?", history)
    assert a.query != a.question
    assert "Putin" in a.query and "Syria" in a.query and a.query.startswith("And what did Obama say")
    pipeline.gen.enqueue("NONE")
    a = pipeline.answer("What is the capital of France?", history)
    assert a.query == a.question


def test_follow_up_rules():
    h = [{"role": "user", "content": "Why did Putin enter Syria?"}]
    assert is_follow_up("and what did Obama say about that?")
    assert not is_follow_up("Which city did ISIS push into in October 2015?")
    assert rewrite_query("Who ordered the strikes there?", h) == "Who ordered the strikes there? (Putin enter Syria)"
    assert rewrite_query("Which German leaders are mentioned in the articles?", h) == \
        "Which German leaders are mentioned in the articles?"
    assert rewrite_query("and why?", None) == "and why?"


def test_stream_shows_a_writing_state_then_only_verified_sentences(pipeline):
    pipeline.gen.enqueue("Air strikes began a few hours after the quick and unanimous vote [1]. "
                         "Sergei Lavrov ordered them [1]. Putin was trying to end Russia's isolation from the West.")
    events = list(pipeline.answer_stream(WHEN))
    kinds = [e.kind for e in events]
    assert kinds[:3] == ["query", "passages", "writing"] and kinds[-1] == "answer"
    tokens = [e.data for e in events if e.kind == "token"]
    assert len(tokens) == 1  # only the sentence its one chosen quote supports survived, sent whole
    assert all("Lavrov" not in t and "Putin" not in t for t in tokens)
    assert "".join(tokens).strip() == events[-1].data.answer
    t = events[-1].data.timings
    assert 0 <= t["retrieve_ms"] <= t["first_token_ms"] <= t["total_ms"]


def test_json_contract(pipeline):
    pipeline.gen.enqueue("Air strikes began a few hours after the quick and unanimous vote.")
    d = json.loads(json.dumps(pipeline.answer(WHEN).to_dict()))
    assert {"question", "answer", "refused", "citations", "passages", "query", "timings", "stopped"} <= set(d)
    assert d["stopped"] is False
    assert {"n", "doc", "title", "published", "quote", "start", "end", "outlet",
            "published_approx"} <= set(d["citations"][0])
    assert {"doc", "title", "published", "text", "start", "end", "score", "published_approx"} <= set(d["passages"][0])
    assert {"retrieve_ms", "first_token_ms", "total_ms"} <= set(d["timings"])


def test_approximate_dates_reach_passages_citations_and_the_library(pipeline):
    pipeline.gen.enqueue("Obama said Russia's air force did not distinguish between moderate rebels and "
                         "extremists [1].")
    a = pipeline.answer("What did Obama say about Russia's air force and the moderate rebels?")
    approx = {p.chunk.doc: p.to_dict()["published_approx"] for p in a.passages}
    assert approx == {doc: doc == "ukraine.md" for doc in approx} and approx.get("ukraine.md") is True
    assert a.citations and all(c.to_dict()["published_approx"] == (c.doc == "ukraine.md") for c in a.citations)
    library = {d.doc: d.to_dict() for d in pipeline.documents()}
    assert library["ukraine.md"]["published_approx"] is True and library["syria.md"]["published_approx"] is False
    assert {"doc", "title", "outlet", "published", "chunks"} <= set(library["syria.md"])


def test_stop_before_the_model_starts_gives_an_empty_stopped_answer(tracked):
    tracked.gen.enqueue("Air strikes began a few hours after the quick and unanimous vote [1].")
    events = list(tracked.answer_stream(WHEN, stop=lambda: True))
    assert [e.kind for e in events] == ["query", "passages", "answer"]
    a = events[-1].data
    assert a.stopped and not a.refused and a.answer == "" and a.citations == []
    assert a.passages  # retrieval still ran
    assert not tracked.gen.history and tracked.gen.replies  # the model was never asked to write
    assert a.to_dict()["stopped"] is True


def test_stop_after_the_first_sentence_keeps_only_what_was_streamed(tracked):
    reply = ("Air strikes began a few hours after the quick and unanimous vote [1]. "
             "Putin was trying to end Russia's economically crippling isolation from the West [2]. "
             "Obama said Russia's air force did not distinguish between rebels and extremists [3].")
    tracked.gen.enqueue(reply)
    tokens: list[str] = []
    events = []
    for e in tracked.answer_stream(WHEN, stop=lambda: bool(tokens)):
        events.append(e)
        if e.kind == "token":
            tokens.append(e.data)
    a = events[-1].data
    assert events[-1].kind == "answer" and a.stopped and not a.refused
    assert len(tokens) == 1 and a.answer == tokens[0].strip()
    assert a.answer.startswith("Air strikes began a few hours after the quick and unanimous vote [1]")
    assert "Putin" not in a.answer and "Obama" not in a.answer
    assert [c.n for c in a.citations] == [1] and "few hours later" in a.citations[0].quote
    assert_citations_exact(tracked, a)
    # the reader's short reply is read to its end before anything is judged (the judge asks the same model): a
    # stop during the reading closes the stream, a stop after a shown sentence ends the judging


def test_the_judge_never_asks_the_model_while_the_readers_stream_is_open(tmp_path, hash_embedder):
    import threading

    class OneContext(ScriptedGenerator):
        """Like llama.cpp: one context behind a lock, held while a stream is open."""

        def __init__(self):
            super().__init__(probs={"1": 0.9, "NONE": 0.01, "yes": 0.9, "no": 0.1})
            self.lock = threading.Lock()

        def stream(self, messages, max_new_tokens=64):
            with self.lock:
                yield from super().stream(messages, max_new_tokens)

        def first_token_probs(self, messages, words):
            assert self.lock.acquire(timeout=5), "a model call while the reader's stream holds the context"
            self.lock.release()
            return super().first_token_probs(messages, words)

    gen = OneContext()
    p = make_pipeline(tmp_path, hash_embedder, gen)
    gen.enqueue("Air strikes began a few hours after the vote. The vote was quick and unanimous. "
                "Sergei Ivanov asked for it.")
    a = p.answer(WHEN)
    assert not a.refused and a.answer.startswith("Air strikes began a few hours after the vote")


def test_a_stop_that_never_fires_changes_nothing(tracked):
    tracked.gen.enqueue("Air strikes began a few hours after the quick and unanimous vote [1].")
    a = list(tracked.answer_stream(WHEN, stop=lambda: False))[-1].data
    assert not a.stopped and a.answer.startswith("Air strikes began") and tracked.gen.exhausted


def test_empty_and_long_questions(pipeline):
    for q in ["", "   ", "?!...", "\n"]:
        with pytest.raises(EmptyQuestionError):
            pipeline.answer(q)
    assert not pipeline.gen.history
    pipeline.gen.enqueue("Air strikes began a few hours later.")
    a = pipeline.answer("How soon did the air strikes begin? " + "x" * 50_000)
    assert a.notice and "2000" in a.notice and len(a.question) == 2000


def test_evidence_units_bring_what_a_sentence_points_to():
    from rag.answer.evidence import _widen, leans_back

    text = ("Sergei Ivanov spoke first. He asked for a vote.\n\nThe ambassador put it this way:\n\n"
            "“We need them.” Klimov nodded.\n\n“They need us.”\n\nsays Konstantin Sivkov.")
    spans = [(m.start(), m.end()) for m in __import__("re").finditer(r"[^.\n:”]+[.:”]+", text)]
    spans = [(a + len(text[a:b]) - len(text[a:b].lstrip()), b) for a, b in spans]
    he = next(s for s in spans if text[s[0]:s[1]].startswith("He asked"))
    assert text[slice(*_widen(text, *he, spans))] == "Sergei Ivanov spoke first. He asked for a vote."
    colon = next(s for s in spans if text[s[0]:s[1]].endswith("way:"))
    assert text[slice(*_widen(text, *colon, spans))].endswith("“We need them.”")
    quote = next(s for s in spans if text[s[0]:s[1]] == "“They need us.”")
    assert text[slice(*_widen(text, *quote, spans))].endswith("says Konstantin Sivkov.")
    assert leans_back("In remarks aired on Oct. 12, he said so.") and not leans_back("Putin said he would go.")


def test_a_repeated_question_is_replayed_until_the_index_changes(tracked):
    reply = "Air strikes began a few hours after the quick and unanimous vote [1]."
    tracked.gen.enqueue(reply)
    first = tracked.answer(WHEN)
    read = tracked.gen.pieces_read
    again = list(tracked.answer_stream(WHEN))
    assert tracked.gen.pieces_read == read  # the model was not asked again
    replayed = again[-1].data
    assert replayed.answer == first.answer and replayed.citations == first.citations
    assert replayed.timings["cached"] and "cached" not in first.timings
    assert [e.kind for e in again if e.kind != "token"] == ["query", "passages", "writing", "answer"]
    # an index change forgets every answer
    tracked.ingest()
    tracked.gen.enqueue(reply)
    tracked.answer(WHEN)
    assert tracked.gen.pieces_read > read


def test_a_stopped_answer_is_not_kept(tracked):
    tracked.gen.enqueue("Air strikes began a few hours after the quick and unanimous vote [1].")
    list(tracked.answer_stream(WHEN, stop=lambda: True))
    tracked.gen.enqueue("Air strikes began a few hours after the quick and unanimous vote [1].")
    assert not tracked.answer(WHEN).stopped


# ---------------------------------------------------------------------------- answers with parts


class CopyingReader(ScriptedGenerator):
    """Reads like a careful small reader: given one text, it writes that text's first sentence that holds one of
    `keys` (or NONE); it counts the reads, so a test can see what was streamed before the last read."""

    def __init__(self, keys=("",), probs=None) -> None:
        super().__init__(probs=probs)
        self.keys = keys
        self.reads = 0

    def stream(self, messages, max_new_tokens=64):
        self.history.append([dict(m) for m in messages])
        self.reads += 1
        text = messages[-1]["content"].split("Text: ", 1)[-1].split("\n\nQuestion:", 1)[0]
        from rag.ingest.segment import split_sentences

        found = [text[s.start:s.end] for s in split_sentences(text)]
        reply = next((s for s in found if any(k in s for k in self.keys)), "NONE")
        for i, w in enumerate(reply.split(" ")):
            yield w if i == 0 else " " + w


def _texts_read(gen) -> list[str]:
    return [h[-1]["content"].split("Text: ", 1)[1].split("\n\nQuestion:", 1)[0] for h in gen.history]


def test_a_why_question_reads_each_part_alone_and_streams_each_as_it_passes(tmp_path, hash_embedder):
    gen = CopyingReader(keys=("vote", "isolation", "warplanes", "militias", "Obama"))
    p = make_pipeline(tmp_path, hash_embedder, gen)
    reads_at_tokens = []
    events = []
    for e in p.answer_stream("Why did Russian warplanes start bombing Syria after the vote?"):
        events.append(e)
        if e.kind == "token":
            reads_at_tokens.append(gen.reads)
    a = events[-1].data
    assert not a.refused and len(a.citations) >= 2
    assert 2 <= gen.reads <= 4  # up to four parts, each read on its own
    docs = {d: p.document_text(d) for d in DOCS}
    for text in _texts_read(gen):  # each read saw one unit: one span of one article, nothing else
        assert any(" ".join(text.split()) in " ".join(t.split()) for t in docs.values())
    assert reads_at_tokens[0] < gen.reads  # the first checked sentence was shown before the last part was read
    assert_citations_exact(p, a)
    sentences = [s for s in a.answer.split("]. ") if s]
    assert len(sentences) == len(a.citations)  # one cited sentence per part


class SideBySideReader(CopyingReader):
    """A reader that can write several replies side by side (`read_many`); each reply is what `stream` writes."""

    def __init__(self, *a, **k) -> None:
        super().__init__(*a, **k)
        self.batches: list[int] = []

    def read_many(self, prompts, max_new_tokens=64, until=None):
        self.batches.append(len(prompts))
        replies = []
        for messages in prompts:
            text = ""
            for piece in self.stream(messages, max_new_tokens):
                text += piece
                if until and until(text):
                    break
            replies.append(text)
        return replies


def test_a_reader_that_writes_side_by_side_reads_all_parts_in_one_call_with_the_same_answer(tmp_path, hash_embedder):
    keys = ("vote", "isolation", "warplanes", "militias", "Obama")
    question = "Why did Russian warplanes start bombing Syria after the vote?"
    alone = make_pipeline(tmp_path / "alone", hash_embedder, CopyingReader(keys=keys)).answer(question)
    gen = SideBySideReader(keys=keys)
    p = make_pipeline(tmp_path / "side", hash_embedder, gen)
    batches_at_tokens, a = [], None
    for e in p.answer_stream(question):
        if e.kind == "token":
            batches_at_tokens.append(len(gen.batches))
        a = e.data if e.kind == "answer" else a
    # the first part read alone and shown at once, the others in one call, none read again alone
    assert gen.reads >= 3 and gen.batches == [gen.reads - 1]
    assert batches_at_tokens[0] == 0 and batches_at_tokens[-1] == 1
    assert (a.answer, [c.quote for c in a.citations]) == (alone.answer, [c.quote for c in alone.citations])
    off = SideBySideReader(keys=keys)
    make_pipeline(tmp_path / "off", hash_embedder, off, llm_parallel=1).answer(question)
    assert off.batches == [] and off.reads == gen.reads  # RAG_LLM_PARALLEL=1: one part at a time


def test_stop_while_parts_are_read_side_by_side_keeps_what_was_shown(tmp_path, hash_embedder):
    keys = ("vote", "isolation", "warplanes", "militias", "Obama")
    gen = SideBySideReader(keys=keys)
    p = make_pipeline(tmp_path, hash_embedder, gen)
    asked = {"stop": False}
    real = gen.read_many

    def read_many(prompts, max_new_tokens=64, until=None):
        asked["stop"] = True  # the user presses Stop while the other parts are being read
        return real(prompts, max_new_tokens, until)

    gen.read_many = read_many
    events = list(p.answer_stream("Why did Russian warplanes start bombing Syria after the vote?",
                                  stop=lambda: asked["stop"]))
    a = events[-1].data
    shown = [e.data for e in events if e.kind == "token"]
    assert a.stopped and len(shown) == 1 and len(a.citations) == 1  # the first part, nothing read after Stop


def test_parts_that_say_none_lean_back_or_repeat_are_not_shown(tmp_path, hash_embedder):
    gen = CopyingReader(keys=("They obliged", "The proxies"))  # both open by pointing at a sentence unseen
    p = make_pipeline(tmp_path, hash_embedder, gen)
    a = p.answer("Why did the upper house vote and what did the proxies announce?")
    # neither sentence is shown on its own; the only way either may appear is inside a verbatim quote of its unit,
    # which brings the sentence it points back to
    assert not a.answer.startswith(("They obliged", "The proxies announced"))
    assert gen.reads >= 1
    assert_citations_exact(p, a) if a.citations else None


def test_a_comparison_gives_each_side_its_outlet_and_date(tmp_path, hash_embedder):
    data = tmp_path / "data"
    data.mkdir()
    (data / "old.md").write_text("---\ntitle: Harbour plan\noutlet: Harbour Herald\npublished: '2015-10-14'\n---\n"
                                 "The council wanted a sea wall to protect the old harbour from storms.\n")
    (data / "new.md").write_text("---\ntitle: Harbour plan, again\noutlet: Coast Wire\npublished: '2020-01-09'\n"
                                 "---\nThe council now prefers moving the harbour inland to building a sea wall.\n")
    gen = CopyingReader(keys=("council",))
    p = Pipeline(Settings(data_dir=data, index_dir=tmp_path / "index", chunk_words=40), embedder=hash_embedder,
                 generator=gen)
    a = p.answer("How does the council's harbour plan in 2015 differ from the one in 2020?")
    assert not a.refused
    assert a.answer.index("Harbour Herald (Oct 2015): ") < a.answer.index("Coast Wire (Jan 2020): ")
    assert {c.doc for c in a.citations} == {"old.md", "new.md"}
    assert_citations_exact(p, a)


def test_a_refusal_comes_after_reading_not_before(tmp_path, hash_embedder):
    """When the reader's probe says NONE but retrieval ranks a unit high enough, that unit is read before refusing;
    a unit scoring below RAG_NONE_READ_SCORE is not read at all."""
    gen = CopyingReader(keys=("Obama",), probs={"NONE": 0.9})  # the probe says NONE; the sentence is there
    p = make_pipeline(tmp_path, hash_embedder, gen, none_read_score=-1.0)  # a hashing embedder scores low
    a = p.answer("Who said Russia's air force did not distinguish between moderate rebels and extremists?")
    assert not a.refused and a.answer.startswith("Obama said") and gen.reads >= 1
    assert_citations_exact(p, a)
    gen2 = CopyingReader(keys=("no such words",), probs={"NONE": 0.9})
    (tmp_path / "second").mkdir()
    q = make_pipeline(tmp_path / "second", hash_embedder, gen2, none_read_score=-1.0)
    a2 = q.answer("How many warplanes did Russia send to Syria?")
    assert a2.refused and a2.answer.startswith("The articles don't say") and 1 <= gen2.reads <= 2


def test_units_that_retrieval_ranks_low_are_not_read_after_none(tmp_path, hash_embedder):
    gen = CopyingReader(keys=("Obama",), probs={"NONE": 0.9})
    p = make_pipeline(tmp_path, hash_embedder, gen, none_read_score=5.0)  # no unit scores this high
    a = p.answer("Which American leader criticised the way the Russian pilots picked targets?")
    assert a.refused and gen.reads == 0


def test_warm_up_primes_the_prefix_of_every_prompt_an_answer_uses(tmp_path, hash_embedder):
    """Each prompt's fixed prefix is read once at start: an answer that switches prompts (choose, read, a part,
    judge) restores it instead of reading its instructions and examples again (~1 s each on two cores)."""
    from rag import prompts

    class Priming(ScriptedGenerator):
        def __init__(self) -> None:
            super().__init__()
            self.primed: list[str] = []

        def prime(self, messages, cache_dir=None) -> bool:
            self.primed.append(messages[0]["content"])
            return False

    gen = Priming()
    make_pipeline(tmp_path, hash_embedder, gen).warm_up()
    assert sorted(gen.primed) == sorted(prompts.load(n)["system"] for n in ("choose", "read", "part", "judge"))
