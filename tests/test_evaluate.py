import json
from pathlib import Path

import pytest

from rag.errors import RagError
from rag.evaluate import (
    EvalItem,
    evaluate,
    load_eval,
    percentile,
    quote_matches_evidence,
    retrieval_recall,
)
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
    item = d["items"][1]
    for key in ("id", "type", "question", "answer", "refused", "all_terms", "cites_gold",
                "evidence_recall", "citations_valid", "total_ms", "first_token_ms"):
        assert key in item
    assert item["citations_valid"] is False


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
    assert r1.evidence_recall == 1.0 and r1.evidence_hit is False
    assert r2.evidence_hit is True
    assert evaluate(pipe, ITEMS[:1], k=1).to_dict()["overall"]["k"] == 1
