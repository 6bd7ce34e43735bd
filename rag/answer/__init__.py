"""Answer: evidence first. Pick and number the best sentences of the retrieved passages (evidence), let the reader
choose the one that answers, or none (choose), let it read only that (compose, with the reader in rag.generate), check
every sentence it writes against its quote (verify: words, names, numbers; judge: qualifiers, plans, reversals,
non-answers, and the reader as a yes/no judge), and compose the cited answer (compose, with draft: the reader's
sentences; context: what is kept per index version, and the answer cache). check: the judge on its own (`rag check`).
followup: whether a question points back at the last one, and the search query it gets (coref: whom its pronouns
mean)."""

from rag.exports import lazy_exports

_PUBLIC = {
    "Answerer": "compose", "AnswerCache": "context", "IndexContext": "context",
    "EvidenceSelector": "evidence", "Unit": "evidence", "Choice": "choose",
    "Verdict": "judge", "rule_failure": "judge", "check_pair": "check",
    "check_in_library": "check",
    "check_sentence": "verify", "split_answer": "verify", "rewrite_query": "followup", "is_follow_up": "followup",
}
__all__ = sorted(_PUBLIC)
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
