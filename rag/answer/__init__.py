"""Answer: evidence first. Pick and number the best sentences of the retrieved passages (evidence), let the reader
model write from them (rag.generate), check every sentence it writes against what it cites (verify), and compose
the cited answer (compose, with draft: the model's sentences and markers; context: what is kept per index version,
and the answer cache). followup: whether a question points back at the last one, and the search query it gets
(coref: whom its pronouns mean)."""

from rag.exports import lazy_exports

_PUBLIC = {
    "Answerer": "compose", "AnswerCache": "context", "IndexContext": "context",
    "EvidenceSelector": "evidence", "Unit": "evidence",
    "check_sentence": "verify", "split_answer": "verify", "rewrite_query": "followup", "is_follow_up": "followup",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
