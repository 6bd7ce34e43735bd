import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag import pipeline as pipeline_mod
from rag.cli import cli
from rag.errors import RagError
from rag.evaluate import (
    corpus_half,
    EvalItem,
    evaluate,
    item_split,
    load_eval,
    open_eval_set,
    percentile,
    quote_matches_evidence,
    retrieval_recall,
    select_items,
)
from rag.index.embed import HashEmbedder
from rag.pipeline import Pipeline
from rag.schema import Answer, Chunk, Citation, Passage

FIXTURES = Path(__file__).resolve().parent / "fixtures"

DOC_A = (
    "Russia began air strikes in Syria on Sept. 30 after a unanimous vote in the upper house.\n\n"
    "Putin wanted to end Russia's isolation from the West. The U.S.-backed rebels were hit first."
)
DOC_B = "The general was killed by a drone in Baghdad. Putin expressed concern to the French president Macron."
DOCS = {"a.md": DOC_A, "b.md": DOC_B}


def passage(doc: str, start: int, end: int) -> Passage:
    text = DOCS[doc][start:end]
    return Passage(chunk=Chunk(id=f"{doc}:{start}", doc=doc, text=text, start=start, end=end))


def cite(n: int, doc: str, quote: str, forged: bool = False) -> Citation:
    start = DOCS[doc].index(quote)
    if forged:
        start += 1  # quote no longer at its offsets
    return Citation(n=n, doc=doc, title=doc, published="", quote=quote, start=start, end=start + len(quote))


A_ALL = passage("a.md", 0, len(DOC_A))
B_ALL = passage("b.md", 0, len(DOC_B))

ITEMS = [
    EvalItem("q1", "When did strikes begin?", "factoid", must_mention=("sept. 30",),
             evidence=("air strikes in Syria on Sept. 30",), doc=("a.txt",)),
    EvalItem("q2", "What did Putin want?", "why", must_mention=("isolation", "west"),
             evidence=("Putin wanted to end Russia's\nisolation from the West.", "not in any doc")),
    EvalItem("q3", "Who did Putin talk to?", "factoid", must_mention=("macron",),
             evidence=("Putin expressed concern to the French president Macron.",)),
    EvalItem("q4", "How many planes?", "unanswerable"),
    EvalItem("q5", "Who was killed?", "who-said", must_mention=("general",),
             evidence=("The general was killed by a drone in Baghdad.",)),
]


def make_answers() -> dict[str, Answer]:
    def ans(q, text, refused, cits, passages, total, first):
        return Answer(q, text, refused, cits, passages, q, {"retrieve_ms": 5.0, "first_token_ms": first, "total_ms": total})

    return {
        # correct, cites gold, valid citation
        ITEMS[0].question: ans(ITEMS[0].question, "On Sept. 30 [1].", False,
                               [cite(1, "a.md", "Russia began air strikes in Syria on Sept. 30")], [A_ALL], 100.0, 10.0),
        # half the evidence retrieved, one term missing, citation forged
        ITEMS[1].question: ans(ITEMS[1].question, "To end isolation [1].", False,
                               [cite(1, "a.md", "Putin wanted to end Russia's isolation", forged=True)], [A_ALL], 200.0, 20.0),
        # false refusal: evidence retrieved, but refused
        ITEMS[2].question: ans(ITEMS[2].question, "NOT IN SOURCES", True, [], [B_ALL], 300.0, 30.0),
        # correct refusal
        ITEMS[3].question: ans(ITEMS[3].question, "NOT IN SOURCES", True, [], [A_ALL], 400.0, 40.0),
        # right terms, wrong citation (valid but not gold), evidence missing from passages
        ITEMS[4].question: ans(ITEMS[4].question, "The general.", False,
                               [cite(1, "a.md", "Putin wanted to end Russia's isolation from the West.")],
                               [A_ALL], 500.0, 50.0),
    }


class FakePipeline:
    def __init__(self) -> None:
        self.answers = make_answers()
        self.calls: list[str] = []

    def warm_up(self) -> None:
        pass

    def answer(self, question, history=None):
        self.calls.append(question)
        return self.answers[question]

    def search(self, query, k=None):
        return self.answers[query].passages[:k]

    def document_text(self, doc):
        if doc not in DOCS:
            raise RagError(f"no such document: {doc}")
        return DOCS[doc]


@pytest.fixture
def report():
    return evaluate(FakePipeline(), ITEMS)


def test_per_item_metrics(report):
    r = {x.id: x for x in report.items}
    assert r["q1"].evidence_recall == 1.0 and r["q1"].evidence_hit is True
    assert r["q1"].all_terms is True and r["q1"].cites_gold is True and r["q1"].citations_valid is True
    assert r["q2"].evidence_recall == 0.5 and r["q2"].evidence_hit is False  # whitespace collapsed
    assert r["q2"].all_terms is False
    assert r["q2"].citations_valid is False  # forged offsets
    assert r["q2"].cites_gold is True  # quote is contained in the evidence
    assert r["q3"].refused and r["q3"].all_terms is False and r["q3"].cites_gold is False
    assert r["q3"].citations_valid is None
    assert r["q4"].all_terms is None and r["q4"].cites_gold is None and r["q4"].evidence_recall is None
    assert r["q5"].evidence_recall == 0.0 and r["q5"].all_terms is True and r["q5"].cites_gold is False
    assert r["q5"].citations_valid is True
    assert r["q1"].total_ms == 100.0 and r["q1"].first_token_ms == 10.0
    assert [r[q].evidence_first for q in ("q1", "q2", "q3", "q4", "q5")] == [True, False, True, None, False]


def test_cites_answer_needs_one_quote_holding_every_term(report):
    r = {x.id: x for x in report.items}
    assert r["q1"].cites_answer is True  # "Sept. 30" inside the quote
    assert r["q2"].cites_answer is False  # "isolation" quoted, "west" not
    assert r["q3"].cites_answer is None and r["q4"].cites_answer is None  # refused; unanswerable
    assert r["q5"].cites_answer is False  # right answer text, wrong sentence cited
    o = report.overall()
    assert o["answered"] == 3 and o["cites_answer_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert o["evidence_first_rate"] == 0.5

    pipe = FakePipeline()
    a = pipe.answers[ITEMS[1].question]
    # the terms split over two quotes do not count; one quote (case and wrapping aside) holding both does
    a.citations = [cite(1, "a.md", "Putin wanted to end Russia's isolation"), cite(2, "a.md", "from the West")]
    assert evaluate(pipe, ITEMS[1:2]).items[0].cites_answer is False
    a.citations = [Citation(1, "a.md", "a.md", "", "Russia's\nISOLATION from the West", 0, 1)]
    assert evaluate(pipe, ITEMS[1:2]).items[0].cites_answer is True


def test_overall_and_by_type(report):
    o = report.overall()
    assert o["n"] == 5
    assert o["evidence_recall"] == pytest.approx((1 + 0.5 + 1 + 0) / 4, abs=1e-4)
    assert o["evidence_hit_rate"] == 0.5
    assert o["all_terms_rate"] == 0.5  # q1, q5 of 4 answerable
    assert o["citations"] == 3 and o["citation_validity"] == pytest.approx(2 / 3, abs=1e-4)
    assert o["cites_gold_rate"] == 0.5  # q1, q2
    assert o["refusal_rate_unanswerable"] == 1.0
    assert o["false_refusal_rate"] == 0.25
    assert o["total_ms_p50"] == 300.0 and o["total_ms_p95"] == pytest.approx(480.0)
    assert o["first_token_ms_p50"] == 30.0

    bt = report.by_type()
    assert list(bt) == ["factoid", "why", "who-said", "unanswerable"]
    assert bt["factoid"]["n"] == 2 and bt["factoid"]["false_refusal_rate"] == 0.5
    assert bt["factoid"]["refusal_rate_unanswerable"] is None
    assert bt["unanswerable"]["all_terms_rate"] is None and bt["unanswerable"]["false_refusal_rate"] is None
    assert bt["unanswerable"]["evidence_recall"] is None
    assert bt["why"]["citation_validity"] == 0.0


def test_progress_called_per_item():
    calls = []
    pipe = FakePipeline()
    evaluate(pipe, ITEMS, progress=lambda d, t, label: calls.append((d, t, label)))
    assert calls == [(i + 1, 5, it.id) for i, it in enumerate(ITEMS)]
    assert pipe.calls == [it.question for it in ITEMS]


def test_table_and_json(report):
    table = report.table()
    for name in ("factoid", "why", "who-said", "unanswerable", "overall"):
        assert name in table
    assert "25%" in table and "100%" in table and "-" in table
    lines = table.splitlines()
    assert len({len(line) for line in lines}) == 1  # fixed width

    d = json.loads(json.dumps(report.to_dict()))
    assert set(d) == {"overall", "by_type", "items"}
    assert d["overall"]["false_refusal_rate"] == 0.25
    assert set(d["by_type"]) == {"factoid", "why", "who-said", "unanswerable"}
    for key in ("evidence_first_rate", "cites_answer_rate", "answered", "evidence_hit_rate", "false_refusal_rate"):
        assert key in d["overall"] and key in d["by_type"]["factoid"]
    item = d["items"][1]
    for key in ("id", "type", "question", "answer", "refused", "all_terms", "cites_gold", "cites_answer",
                "evidence_recall", "evidence_first", "citations_valid", "total_ms", "first_token_ms", "quotes"):
        assert key in item
    assert item["citations_valid"] is False and item["quotes"] == ["Putin wanted to end Russia's isolation"]
    assert "hit@5" in lines[0] and "top1" in lines[0] and "cites answer" in lines[0]


def test_percentile_linear():
    assert percentile([], 50) is None
    assert percentile([7.0], 95) == 7.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10, 20, 30, 40, 50], 95) == pytest.approx(48.0)
    assert percentile([3, 1, 2], 0) == 1 and percentile([3, 1, 2], 100) == 3


def test_quote_overlap_rules():
    ev = "They obliged with a quick and unanimous vote in favor, and air strikes began a few hours later."
    assert quote_matches_evidence("a quick and unanimous vote", ev)  # quote inside evidence
    assert quote_matches_evidence("Lead. " + ev + " More.", ev)  # evidence inside quote
    shared = "Senators agreed: a quick and unanimous vote in favor, and air strikes began soon after."
    assert quote_matches_evidence(shared, ev)  # 8+ words in a row in common
    assert not quote_matches_evidence("Senators held a quick and unanimous vote today.", ev)
    assert not quote_matches_evidence("", ev)


def test_evidence_across_overlapping_chunks_and_hyphen_wrap():
    # two overlapping chunks; the evidence spans their boundary and a dash-joined hard wrap
    cut = DOC_A.index("isolation")
    p1, p2 = passage("a.md", 0, cut + 5), passage("a.md", cut, len(DOC_A))
    item = EvalItem("x", "q", "factoid", evidence=("end Russia's isolation from the West. The U.S.-\nbacked rebels",))
    pipe = FakePipeline()
    pipe.answers = {"q": Answer("q", "", False, [], [p2, p1], "q")}
    res = retrieval_recall(pipe, [item], k=5)
    assert res["hit_rate"] == 1.0 and res["misses"] == []


def test_retrieval_recall_reports_misses():
    res = retrieval_recall(FakePipeline(), ITEMS, k=5)
    assert res["n"] == 4  # unanswerable skipped
    assert res["hit_rate"] == 0.5
    missed = {m["id"]: m["missing"] for m in res["misses"]}
    assert missed == {"q2": ["not in any doc"], "q5": ["The general was killed by a drone in Baghdad."]}


def test_unknown_citation_doc_is_invalid():
    pipe = FakePipeline()
    q = ITEMS[0].question
    pipe.answers[q].citations = [Citation(1, "gone.md", "", "", "x", 0, 1)]
    rep = evaluate(pipe, ITEMS[:1])
    assert rep.items[0].citations_valid is False


def test_load_eval_fixture():
    items = load_eval(FIXTURES / "dev.jsonl")
    assert len(items) == 15
    assert {it.type for it in items} == {"factoid", "why", "who-said", "multi-hop", "comparison", "unanswerable"}
    assert items[0].id == "d01" and items[0].must_mention == ("few hours",)
    assert all(it.evidence for it in items if it.type != "unanswerable")


@pytest.mark.parametrize(
    "bad, message",
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "expected a JSON object"),
        ('{"id": "x", "type": "factoid", "evidence": ["e"]}', "'question'"),
        ('{"id": "x", "question": "q", "type": "opinion", "evidence": ["e"]}', "unknown type"),
        ('{"id": "x", "question": "q", "type": "factoid", "evidence": "e", "must_mention": [1]}', "must_mention"),
        ('{"id": "x", "question": "q", "type": "factoid"}', "no evidence"),
        ('{"id": "d01", "question": "q", "type": "unanswerable"}', "duplicate id"),
    ],
)
def test_load_eval_errors_name_the_line(tmp_path, bad, message):
    good = (FIXTURES / "dev.jsonl").read_text(encoding="utf-8").splitlines()[:2]
    p = tmp_path / "eval.jsonl"
    p.write_text("\n".join([good[0], "", good[1], bad]) + "\n", encoding="utf-8")
    with pytest.raises(RagError) as e:
        load_eval(p)
    assert f"{p}:4" in str(e.value) and message in str(e.value)


def test_load_eval_missing_and_empty(tmp_path):
    with pytest.raises(RagError, match="not found"):
        load_eval(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(RagError, match="no questions"):
        load_eval(tmp_path / "empty.jsonl")


def test_evidence_hit_uses_top_k():
    # q1's evidence is only in the second passage: recall counts it, a top-1 hit does not
    pipe = FakePipeline()
    a = pipe.answers[ITEMS[0].question]
    a.passages = [B_ALL, A_ALL]
    r1 = evaluate(pipe, ITEMS[:1], k=1).items[0]
    r2 = evaluate(pipe, ITEMS[:1], k=2).items[0]
    assert r1.evidence_recall == 1.0 and r1.evidence_hit is False and r1.evidence_first is False
    assert r2.evidence_hit is True
    assert evaluate(pipe, ITEMS[:1], k=1).to_dict()["overall"]["k"] == 1


# ---------------------------------------------------------------------------- split and filters


def many_items(n: int = 40) -> list[EvalItem]:
    types = ("factoid", "why", "unanswerable")
    return [EvalItem(f"x{i:03d}", f"question {i}?", types[i % 3],
                     evidence=() if types[i % 3] == "unanswerable" else ("e",)) for i in range(n)]


def test_split_is_deterministic_disjoint_and_complete():
    items = many_items()
    fit, rep = select_items(items, "fit"), select_items(items, "report")
    assert {it.id for it in fit}.isdisjoint(it.id for it in rep)
    assert sorted(it.id for it in fit + rep) == sorted(it.id for it in items)
    assert 10 <= len(fit) <= 30  # both halves are used
    assert select_items(list(reversed(items)), "fit") == list(reversed(fit))  # by id, not by position
    assert select_items(items, "all") == items
    # pinned: sha1, not Python's salted hash(), so the halves never move between runs or machines
    assert [item_split(i) for i in ("d01", "nq1-0117", "x000", "x001")] == ["report", "report", "report", "fit"]
    with pytest.raises(RagError, match="Unknown split"):
        select_items(items, "train")


def test_type_filter_then_limit_take_a_prefix_of_the_split():
    items = many_items()
    rep = select_items(items, "report")
    assert select_items(items, "report", limit=3) == rep[:3]
    only = select_items(items, "report", types=("why", "unanswerable"), limit=4)
    assert only == [it for it in rep if it.type in ("why", "unanswerable")][:4]
    assert select_items(items, types=("comparison",)) == []


def test_open_eval_set(tmp_path):
    f = tmp_path / "q.jsonl"
    f.write_text("", encoding="utf-8")
    assert open_eval_set(f).corpus is None and open_eval_set(f).questions == f
    folder = tmp_path / "set"
    folder.mkdir()
    with pytest.raises(RagError, match="no questions.jsonl and no corpus/"):
        open_eval_set(folder)
    (folder / "corpus").mkdir()
    with pytest.raises(RagError, match="no questions.jsonl"):
        open_eval_set(folder)
    (folder / "questions.jsonl").write_text("", encoding="utf-8")
    s = open_eval_set(folder)
    assert s.questions == folder / "questions.jsonl" and s.corpus == folder / "corpus"
    with pytest.raises(RagError, match="not found"):
        open_eval_set(tmp_path / "nope")


# ---------------------------------------------------------------------------- the CLI on a .jsonl file (fake pipeline)


class InterruptingPipeline(FakePipeline):
    """Ctrl-C arrives while the third question is being answered."""

    def answer(self, question, history=None):
        if len(self.calls) == 2:
            raise KeyboardInterrupt
        return super().answer(question, history)


def fake_set(tmp_path) -> Path:
    p = tmp_path / "fake.jsonl"
    p.write_text("".join(json.dumps({"id": it.id, "question": it.question, "type": it.type,
                                     "must_mention": list(it.must_mention), "evidence": list(it.evidence)}) + "\n"
                         for it in ITEMS), encoding="utf-8")
    return p


def invoke(args, **obj):
    return CliRunner().invoke(cli, [str(a) for a in args], obj=obj, catch_exceptions=False)


def test_cli_filters_split_and_out(tmp_path):
    pipe = FakePipeline()
    out = tmp_path / "items.jsonl"
    r = invoke(["eval", fake_set(tmp_path), "--type", "factoid", "--type", "unanswerable", "--limit", "2",
                "--json", "--out", out], pipeline=pipe)
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert [i["id"] for i in d["items"]] == ["q1", "q3"] and pipe.calls == [ITEMS[0].question, ITEMS[2].question]
    assert d["run"]["types"] == ["factoid", "unanswerable"] and d["run"]["limit"] == 2
    assert d["run"]["in_set"] == 5 and d["run"]["selected"] == 2 and d["run"]["interrupted"] is False
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in lines] == ["q1", "q3"]
    assert lines[0]["quotes"] == ["Russia began air strikes in Syria on Sept. 30"] and lines[0]["cites_answer"] is True
    assert lines[1]["refused"] is True and lines[0]["split"] == item_split("q1")

    for split in ("fit", "report"):
        r = invoke(["eval", fake_set(tmp_path), "--split", split, "--json"], pipeline=FakePipeline())
        d = json.loads(r.stdout)
        assert d["run"]["split"] == split and {i["id"] for i in d["items"]} == {
            it.id for it in ITEMS if item_split(it.id) == split}
    r = invoke(["eval", fake_set(tmp_path), "--split", "report"], pipeline=FakePipeline())
    assert "split report" in r.stdout and "overall" in r.stdout


def test_cli_no_match_and_index_dir_misuse(tmp_path):
    r = CliRunner().invoke(cli, ["eval", str(fake_set(tmp_path)), "--type", "comparison"], obj={"pipeline": FakePipeline()})
    assert r.exit_code == 1 and "No questions" in r.output
    r = CliRunner().invoke(cli, ["eval", str(fake_set(tmp_path)), "--index-dir", str(tmp_path / "i")],
                           obj={"pipeline": FakePipeline()})
    assert r.exit_code == 1 and "set folder" in r.output
    r = CliRunner().invoke(cli, ["eval", str(fake_set(tmp_path)), "--out", str(tmp_path / "no" / "x.jsonl")],
                           obj={"pipeline": FakePipeline()})
    assert r.exit_code == 1 and "does not exist" in r.output


def test_cli_ctrl_c_prints_partial_report(tmp_path):
    out = tmp_path / "items.jsonl"
    r = invoke(["eval", fake_set(tmp_path), "--out", out], pipeline=InterruptingPipeline())
    assert r.exit_code == 130
    assert "INTERRUPTED after 2 of 5 questions" in r.stdout and "overall" in r.stdout
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2  # written as they came
    r = invoke(["eval", fake_set(tmp_path), "--json"], pipeline=InterruptingPipeline())
    d = json.loads(r.stdout)
    assert d["run"]["interrupted"] is True and d["overall"]["n"] == 2


# ---------------------------------------------------------------------------- a set folder with its own corpus


SET_CORPUS = {
    "paris.txt": "The Eiffel Tower stands in Paris. It was completed in 1889 for the World's Fair.\n",
    "moon.txt": "Neil Armstrong walked on the Moon in 1969. Buzz Aldrin joined him on the lunar surface.\n",
    "tea.txt": "Green tea comes from the leaves of Camellia sinensis. Farmers in Japan steam the leaves.\n",
}
SET_QUESTIONS = [
    {"id": "s1", "question": "When was the Eiffel Tower in Paris completed?", "type": "factoid",
     "must_mention": ["1889"], "evidence": ["It was completed in 1889 for the World's Fair."]},
    {"id": "s2", "question": "Who walked on the Moon in 1969?", "type": "factoid",
     "must_mention": ["Neil Armstrong"], "evidence": ["Neil Armstrong walked on the Moon in 1969."]},
    {"id": "s3", "question": "What leaves does green tea come from?", "type": "factoid",
     "must_mention": ["Camellia sinensis"], "evidence": ["Green tea comes from the leaves of Camellia sinensis."]},
    {"id": "s4", "question": "What is the recipe for banana bread?", "type": "unanswerable"},
]


class QuotingPipeline(Pipeline):
    """The real ingest and search; the "answer" is the top passage's first sentence, quoted. Independent of
    the answering code, so these tests check the eval plumbing and not answer quality."""

    def warm_up(self) -> None:
        _ = self.retriever

    def answer(self, question, history=None):
        passages = self.search(question)
        if "banana" in question or not passages:
            return Answer(question, "NOT IN SOURCES", True, [], passages, question)
        c = passages[0].chunk
        s = c.sentences[0]
        quote = self.document_text(c.doc)[s.start:s.end]
        cit = Citation(1, c.doc, c.doc, "", quote, s.start, s.end)
        return Answer(question, quote + " [1]", False, [cit], passages, question, {"total_ms": 1.0})


def snapshot(folder: Path) -> dict[str, tuple]:
    return {p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns) if p.is_file() else ()
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def eval_set(tmp_path, monkeypatch):
    root = tmp_path / "myset"
    (root / "corpus").mkdir(parents=True)
    for name, text in SET_CORPUS.items():
        (root / "corpus" / name).write_text(text, encoding="utf-8")
    (root / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in SET_QUESTIONS), encoding="utf-8")
    monkeypatch.setattr(pipeline_mod, "make_embedder", lambda settings: HashEmbedder(dim=64))
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "main-data"))
    tmp_root = tmp_path / "tmp"
    tmp_root.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(tmp_root))
    return root


def run_set(root: Path, *args, built: list | None = None):
    def factory(settings):
        if built is not None:
            built.append(settings)
        return QuotingPipeline(settings)

    return invoke(["eval", root, "--json", *args], pipeline_factory=factory)


def test_set_folder_indexes_its_corpus_in_a_temp_folder(eval_set, tmp_path):
    before = snapshot(eval_set)
    built: list = []
    r = run_set(eval_set, built=built)
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    items = {i["id"]: i for i in d["items"]}
    assert d["overall"]["n"] == 4 and d["run"]["split"] == "all"
    assert all(items[q]["evidence_first"] for q in ("s1", "s2", "s3"))  # real retrieval over the set's corpus
    # the first sentence holds the answer for s2 and s3; s1's answer is in the second sentence
    assert [items[q]["cites_answer"] for q in ("s1", "s2", "s3", "s4")] == [False, True, True, None]
    assert d["overall"]["cites_answer_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert items["s4"]["refused"] is True and d["overall"]["citation_validity"] == 1.0

    (s,) = built
    assert s.data_dir == eval_set / "corpus" and s.index_path.name == "index"
    assert str(tmp_path / "tmp") in str(s.index_path) and str(tmp_path / "tmp") in str(s.upload_path)
    assert not s.index_path.exists() and list((tmp_path / "tmp").iterdir()) == []  # removed afterwards
    assert snapshot(eval_set) == before  # nothing written into the set, corpus untouched
    assert not (tmp_path / "main-data").exists()  # the configured corpus and index are not touched


def test_set_folder_index_dir_is_kept_and_reused(eval_set, tmp_path):
    keep = tmp_path / "keep" / "index"
    r = run_set(eval_set, "--index-dir", keep, "--split", "report")
    assert r.exit_code == 0 and "3 added" in r.stderr
    assert (keep / "CURRENT").is_file()
    again = run_set(eval_set, "--index-dir", keep, "--split", "report")
    assert again.exit_code == 0 and "3 unchanged" in again.stderr and "0 added" in again.stderr
    assert json.loads(again.stdout)["items"] == json.loads(r.stdout)["items"]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_set_folder_refuses_to_write_inside_the_set_or_into_another_index(eval_set, tmp_path):
    before = snapshot(eval_set)
    for args in (["--index-dir", eval_set / "index"], ["--out", eval_set / "out.jsonl"]):
        r = CliRunner().invoke(cli, ["eval", str(eval_set), *map(str, args)], obj={})
        assert r.exit_code == 1 and "never written to" in r.output
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x", encoding="utf-8")
    r = CliRunner().invoke(cli, ["eval", str(eval_set), "--index-dir", str(other)], obj={})
    assert r.exit_code == 1 and "not an index" in r.output
    assert snapshot(eval_set) == before


def test_set_folder_refuses_an_index_of_another_corpus(eval_set, tmp_path):
    other_corpus = tmp_path / "other-corpus"
    other_corpus.mkdir()
    (other_corpus / "x.txt").write_text("Something else entirely about ships.\n", encoding="utf-8")
    index = tmp_path / "shared-index"
    from rag.settings import Settings

    QuotingPipeline(Settings(data_dir=other_corpus, index_dir=index)).ingest([other_corpus])
    r = CliRunner().invoke(cli, ["eval", str(eval_set), "--index-dir", str(index)],
                           obj={"pipeline_factory": QuotingPipeline})
    assert r.exit_code == 1 and "outside" in r.output and "x.txt" in r.output


def test_corpus_halves_keep_each_question_with_its_passage(tmp_path):
    """A set with its own corpus splits by passage: each half's questions are about passages of that half only,
    a question whose passage is not in the corpus stays unanswerable in whichever half its id picks, and the
    halves are disjoint and complete."""
    files = [tmp_path / f"p{i:03d}.txt" for i in range(40)]
    items = [EvalItem(f"q{i}", f"question {i}?", "factoid", evidence=("e",), doc=(f.name,))
             for i, f in enumerate(files)]
    items += [EvalItem(f"u{i}", f"unanswerable {i}?", "unanswerable", doc=(f"missing{i}.txt",)) for i in range(10)]
    items.append(EvalItem("gone", "its passage is gone?", "factoid", evidence=("e",), doc=("gone.txt",)))
    fit_files, fit = corpus_half(files, items, "fit")
    rep_files, rep = corpus_half(files, items, "report")
    assert fit_files and rep_files and not set(fit_files) & set(rep_files)
    assert set(fit_files) | set(rep_files) == set(files)
    for half_files, half in ((fit_files, fit), (rep_files, rep)):
        names = {f.name for f in half_files}
        assert all(it.doc[0] in names for it in half if it.answerable)
        assert len([it for it in half if it.answerable]) == len(half_files)
    assert {it.id for it in fit if not it.answerable} | {it.id for it in rep if not it.answerable} == \
        {f"u{i}" for i in range(10)}
    assert "gone" not in {it.id for it in fit + rep}  # answerable, but about no passage of the corpus
    assert corpus_half(files, items, "all") == (files, items)
