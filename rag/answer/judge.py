"""The claim judge: does a verbatim quote support a sentence? Rules that generalise first, then the reader model as a
yes/no judge.

The rules catch what a small model misses and what can be read off the words: a number, date or name the quote does
not hold; a qualifier the claim drops ("over 80%" told as "80%", "reportedly" told as fact); a proposal, plan, threat
or hypothetical told as done; a claim made of what the quote rejects ("rather than X", "instead of X", "denied X");
negation that differs where the claim's words are; and, given the question, an answer without what the question
asks for (a "when" without a time, a "who" without a person, a "how many" without a number, a name without a name).
What is left, the wrong person doing the right thing or a meaning turned around in other words, goes to the model:
its probability of answering "yes" to "does the text state this?", with a threshold fitted on the claims set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag import prompts
from rag.answer.evidence import SAYS
from rag.answer.verify import NEGATION, number_phrases, phrase_pattern
from rag.text import COMMON_CAPITALISED, names_in, same_word, tokenize

SUPPORTED, NOT_SUPPORTED = "supported", "not supported"

# Kinds of failure the rules name (and the claims set uses).
REVERSED, WRONG_PERSON, PROPOSAL, QUALIFIER, NUMBER, NOT_ANSWER = (
    "reversed", "wrong_person", "proposal_as_fact", "dropped_qualifier", "changed_number", "not_an_answer")

_QUALIFIER = re.compile(r"\b(over|more than|nearly|almost|about|around|roughly|some|at least|up to|less than|"
                        r"fewer than|approximately|an estimated|estimated|close to|just under|just over|under|"
                        r"above|below|upwards of|as many as|as much as|as few as|no more than|no fewer than|"
                        r"at most|barely|only|just)\s+(?:\S+\s+){0,1}$", re.I)
# ("likely voters" is who a poll asks, not a hedge)
_HEDGE = re.compile(r"\b(reportedly|allegedly|apparently|possibly|probably|perhaps|likely(?! voters?\b)|unlikely|"
                    r"suspected|rumou?red|believed to|thought to|said to|seemed|seems|appears? to|may have|might have|"
                    r"could have|unconfirmed|unverified)\b", re.I)
# A quote that proposes, plans, threatens, predicts or imagines: its content has not happened.
_MODAL = re.compile(r"\b(propos\w*|suggest\w*|offer\w*|plan|plans|planned|planning|would|could|might|may|will|"
                    r"shall|if|unless|threat\w*|call(?:s|ed|ing)? for|urg\w*|demand\w*|want\w*|intend\w*|"
                    r"consider\w*|expect\w*|hop(?:e|es|ed|ing)|aim\w*|seek\w*|sought|push(?:es|ed|ing)? for|"
                    r"promis\w*|vow\w*|pledg\w*|predict\w*|warn\w*|prepar\w* to|ready to|willing to|"
                    r"possib\w*|potential\w*|prospect\w*|hypothetic\w*|imagine\w*|tries|tried|trying|"
                    r"attempt\w*)\b", re.I)
# "rather than X", "instead of X", "not just X", "far from X", "denied X": X is what the quote rejects.
_REJECTS = re.compile(r"\b(rather than|instead of|not (?:just|only|simply|merely)|far from|no longer|"
                      r"(?:denied|denies|deny|rejected|rejects|dismissed|dismisses)(?: that)?|"
                      r"not because|contrary to)\b([^.;:!?—–]*?)(?=[,.;:!?—–]|\bbut\b|$)", re.I)
# what someone tries, aims, wants or hopes to do: a claim may give it as the purpose of what was done
_GOAL = re.compile(r"tries|tried|trying|attempt\w*|aim\w*|seek\w*|sought|want\w*|intend\w*|hop(?:e|es|ed|ing)|"
                   r"push(?:es|ed|ing)? for", re.I)
_PURPOSE = re.compile(r"\b(in order to|so as to|in an? (?:effort|attempt|bid) to|aim(?:s|ed|ing)? to|"
                      r"(?:want|hope|seek|tr)(?:s|ed|ied|ies|ing)? to|sought to|to)\s+([\w’'-]+)", re.I)
_NOT_BEFORE = re.compile(r"\b(not|never|no|n[o’']t)\s*$", re.I)
_DENIAL = re.compile(r"\b(den(?:y|ies|ied|ial)|dismiss(?:es|ed)?|reject(?:s|ed)?|refut(?:es|ed)|disput(?:es|ed))\b",
                     re.I)
_WEAK = re.compile(r"\b(might|may|possibly|perhaps)\b", re.I)
_CLAUSE = re.compile(r"[,;:—–()]|\b(?:but|while|whereas|although|though)\b")
_SCOPE_END = re.compile(r"[.;:!?–—]|\b(but|while|whereas|that|which|who)\b")
PHRASE_WORDS = 4  # a claim this short is a phrase answer, not a clause
SCOPE_WORDS = 16  # how far a "proposed"/"would" reaches into what follows it
# "some officials", "a few of the rebels": a part told as the whole when the claim drops it
_QUANTIFIER = re.compile(r"\b(some|a few|several|certain|part of|a number of)\s+(?:even\s+|of\s+(?:the\s+)?)?"
                         r"([\w’'-]+)", re.I)
_QUANTIFIER_WORD = re.compile(r"\b(some|a few|several|certain|part|a number|many|most|few|one|two|three|\d+)\b", re.I)
_TIME = re.compile(r"\b(\d{1,4}|january|february|march|april|may|june|july|august|september|october|november|"
                   r"december|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec|monday|tuesday|wednesday|thursday|"
                   r"friday|saturday|sunday|today|yesterday|tomorrow|tonight|ago|later|earlier|since|until|"
                   r"hours?|days?|weeks?|months?|years?|decades?|centur(?:y|ies)|morning|afternoon|evening|night|"
                   r"spring|summer|autumn|fall|winter|dawn|dusk|before|after|during|when|once|then|now|recently|"
                   r"soon|immediately|last|next|first|early|late)\b", re.I)
_NUMBER_WORD = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
                          r"forty|fifty|hundred|hundreds|thousand|thousands|million|millions|billion|billions|"
                          r"dozen|dozens|several|many|few|half|all|none|no|single|double|twice)\b", re.I)
_PERSON_NOUN = re.compile(r"\b(president|minister|leader|official|officials|general|commander|king|queen|prince|"
                          r"spokes\w+|secretary|chief|head|director|ambassador|diplomat|envoy|senator|"
                          r"representative|governor|mayor|analyst|expert|author|writer|actor|actress|singer|"
                          r"player|journalist|reporter|editor|founder|ceo|chairman|premier|chancellor|he|she)\b",
                          re.I)
# "which U.S. official ...", "what Russian lawmaker ...": a who-question in other words
_WHICH_PERSON = re.compile(r"^\W*(which|what)(\s+[\w.’'-]+){0,3}?\s+(officials?|leaders?|person|man|woman|people|"
                           r"ministers?|president|lawmakers?|politicians?|diplomats?|generals?|commanders?|"
                           r"spokes\w+|analysts?|experts?|advis[eo]rs?|ambassadors?|envoys?)\b", re.I)
_NAME_RUN = re.compile(r"(?:[A-Z][\w’'-]+\s+){0,3}[A-Z][\w’'-]+")
_DEMONYM = re.compile(r"(ian|ean|ese|ish)$")
MONTH = re.compile(r"\b(January|February|March|April|May|June|July|August|September|October|November|December|"
                    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\b")
_WORD_NUMBERS = ("hundreds", "thousands", "millions", "billions", "dozens", "dozen", "hundred", "thousand",
                 "million", "billion", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                 "eleven", "twelve", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


@dataclass
class Verdict:
    verdict: str  # SUPPORTED | NOT_SUPPORTED
    score: float  # the model's P(yes) (1.0/0.0 where only the rules judged)
    reason: str = ""
    kind: str = ""  # which rule failed, if one did

    @property
    def supported(self) -> bool:
        return self.verdict == SUPPORTED


def rule_failure(claim: str, quote: str, question: str = "") -> tuple[str, str] | None:
    """(kind, reason) when a rule shows the quote does not support the claim (or the claim does not answer the
    question); None when the rules see nothing wrong."""
    flat_quote = " ".join(quote.split())
    checks = (_numbers, _qualifiers, _reversal, _proposal, _negation, _names)
    if len(claim.split()) <= PHRASE_WORDS:  # a bare phrase ("Casey Donovan", "over 80%") asserts no clause of its
        checks = (_numbers, _qualifiers, _names)  # own: negation, plans and reversals are the model's to judge
    for check in checks:
        # numbers and dates the question itself gives are its premise, not the claim's news (names are not: a reader
        # that puts the question's name where the quote has another's is the commonest wrong answer)
        failure = check(claim, f"{flat_quote} {question}" if question and check is _numbers else flat_quote)
        if failure:
            return failure
    if question:
        missing = answer_gap(question, claim)
        if missing:
            return NOT_ANSWER, missing
    return None


def answer_gap(question: str, answer: str) -> str:
    """What the question asks for and the answer lacks ("" when nothing is missing)."""
    q = " ".join(question.lower().split())
    q_words = re.findall(r"[\w’'-]+", q)
    own_names = {n.lower() for n in names_in(question)} | set(q_words)  # "soleimani" too
    for p in sorted(number_phrases(question), key=len, reverse=True):  # a time or number the question gave is
        answer = re.sub(phrase_pattern(p), " ", answer, flags=re.I)     # no answer to it
    for m in set(MONTH.findall(question)):
        answer = re.sub(rf"\b{m}\b", " ", answer)
    new_names = [n for n in names_in(answer) if n.lower() not in own_names and n not in COMMON_CAPITALISED]
    if re.match(r"^\W*(how (many|much|long|old|far|often)|what (number|percentage|share|amount))\b", q):
        return "" if _NUMBER_WORD.search(answer) else "asks how many or how much; the answer has no number"
    if re.match(r"^\W*(when|what (year|date|day|month|time))\b", q):
        return "" if _TIME.search(answer) else "asks when; the answer has no time or date"
    if re.match(r"^\W*(who|whom|whose)\b", q) or _WHICH_PERSON.match(q):
        # "Iranian" names no one; "Lena Ortiz" for a question naming Ortiz is Ortiz
        theirs = {w for run in _NAME_RUN.findall(answer) if {x.lower() for x in run.split()} & own_names
                  for w in run.split()}
        people = [n for n in new_names if not _DEMONYM.search(n) and n not in theirs]
        # "Putin's chief of staff" names someone else than Putin
        named = [n for n in names_in(re.sub(r"\b[\w-]+['’]s?(?=\s)", "", answer)) if n not in COMMON_CAPITALISED]
        if not people and any(n.lower() in own_names for n in named):
            return "asks who; the answer names only whom the question names (someone in another role)"
        return "" if new_names or _PERSON_NOUN.search(answer) else "asks who; the answer names no one"
    if re.search(r"\b(what|which) (is|was|are|were)? ?(the )?name\b|\bcalled\b|\bnamed?\b", q) and \
            re.match(r"^\W*(what|which)\b", q):
        # "Syria's naval base" names nothing the question ("Syrian") did not
        fresh = [n for n in new_names if not any(same_word(n.lower(), w) for w in q_words)]
        return "" if fresh else "asks for a name; the answer gives none the question did not"
    return ""


# ---------------------------------------------------------------------------- rules


def _numbers(claim: str, quote: str) -> tuple[str, str] | None:
    q = quote.lower()
    missing = [p for p in number_phrases(claim) if not re.search(phrase_pattern(p), q)]
    if missing:
        return NUMBER, f"numbers not in the quote: {sorted(missing)}"
    months = {m.lower() for m in MONTH.findall(claim)} - {m.lower() for m in MONTH.findall(quote)}
    if months:
        return NUMBER, f"dates not in the quote: {sorted(months)}"
    for w in _WORD_NUMBERS:
        if re.search(rf"\b{w}\b", claim, re.I) and not re.search(rf"\b{w}\b", quote, re.I):
            return NUMBER, f"{w!r} is not in the quote"
    return None


def _qualifiers(claim: str, quote: str) -> tuple[str, str] | None:
    """A number the quote qualifies ("over 80%") must keep a qualifier in the claim; a hedged quote a hedge."""
    for p in number_phrases(claim):
        for m in re.finditer(phrase_pattern(p), quote, re.I):
            before_q = _QUALIFIER.search(quote[max(0, m.start() - 30):m.start()])
            idx = claim.lower().find(p)
            before_c = _QUALIFIER.search(claim[max(0, idx - 30):idx]) if idx >= 0 else None
            if before_q and not before_c:
                return QUALIFIER, f"the quote says {before_q.group(1)!r} {p}"
    hedge = _HEDGE.search(quote)
    if hedge and not _HEDGE.search(claim) and _near(claim, quote, hedge.start()):
        return QUALIFIER, f"the quote hedges it ({hedge.group(1)!r})"
    return None


def _reversal(claim: str, quote: str) -> tuple[str, str] | None:
    """The claim asserts what the quote rejects ("rather than X", "far from X", "denied X"), or swaps what the
    quote prefers with what it rejects."""
    terms = set(tokenize(claim))
    if not terms:
        return None
    claim_frame = _REJECTS.search(claim)
    for m in _REJECTS.finditer(quote):
        rejected = set(tokenize(m.group(2)))
        if len(rejected) < 2:
            continue
        kept = set(tokenize(quote[:m.start()] + " " + quote[m.end():])) - rejected
        if claim_frame is None:
            asserted = {w for w in rejected if any(same_word(w, t) for t in terms)}
            if len(asserted) >= 2 and len(asserted) * 3 >= len(rejected) * 2 and not NEGATION.search(claim):
                return REVERSED, f"the quote rejects it: {m.group(0).strip()!r}"
        else:  # "Y rather than X" told as "X rather than Y"
            c_rejected = set(tokenize(claim_frame.group(2)))
            same = sum(any(same_word(w, t) for t in rejected) for w in c_rejected)
            swapped = sum(any(same_word(w, t) for t in kept) for w in c_rejected)
            if swapped >= 2 and swapped > same:
                return REVERSED, f"the claim rejects what the quote prefers: {m.group(0).strip()!r}"
    denial = _DENIAL.search(quote)
    if denial and not _DENIAL.search(claim) and _near(claim, quote, denial.start(), window=12):
        return REVERSED, f"the quote says it was {denial.group(0)!r}"
    return None


def _proposal(claim: str, quote: str) -> tuple[str, str] | None:
    """A proposal, plan or hypothetical in the quote whose scope holds the claim's words, told without one (or a
    "might" told as a "will")."""
    claim_modal = _MODAL.search(claim)
    weak_in_claim = _WEAK.search(claim)
    terms = set(tokenize(claim)) - {t for n in names_in(claim) for t in tokenize(n)}
    quoted = _quoted_spans(quote) if SAYS.search(claim) or _quoted_spans(claim) else []
    for m in _MODAL.finditer(quote):
        if m.group(0)[0].isupper() and quote[:m.start()].rstrip()[-1:] not in ("", ".", "!", "?", "“", '"'):
            continue  # "May" the month, "Will" the name
        if _NOT_BEFORE.search(quote[max(0, m.start() - 12):m.start()]):
            continue  # "does not plan", "never wanted": no plan at all (negation is the negation rule's)
        if any(a <= m.start() < b for a, b in quoted):
            continue  # the speaker's own words, and the claim reports what was said
        after = re.sub(r"^\W*that\b", "", quote[m.end():])  # "proposed that ...": the clause is its scope
        scope = _SCOPE_END.split(after, maxsplit=1)[0].split()[:SCOPE_WORDS]
        held = [i for i, w in enumerate(scope) for t in tokenize(w) if any(same_word(t, c) for c in terms)]
        if len(held) < 2 and not (held and held[0] < 3):  # two of the claim's words, or the verb it governs
            continue
        if _GOAL.fullmatch(m.group(0)) and _states_purpose(claim, [scope[i] for i in held]):
            continue  # "was trying to end X" told as "went in to end X": a purpose, not a deed
        if not claim_modal:
            return PROPOSAL, f"the quote only says {m.group(0)!r}: told as done"
        if _WEAK.fullmatch(m.group(0).lower()) and not weak_in_claim:
            return QUALIFIER, f"the quote only says {m.group(0)!r}: told as certain"
    quantifier = _QUANTIFIER.search(quote)
    while quantifier:
        head = tokenize(quantifier.group(2))
        if head and any(same_word(head[0], t) for t in terms) and not _QUANTIFIER_WORD.search(claim):
            return QUALIFIER, f"the quote says {quantifier.group(1)!r} {quantifier.group(2)!r}"
        quantifier = _QUANTIFIER.search(quote, quantifier.end())
    return None


def _quoted_spans(text: str) -> list[tuple[int, int]]:
    """Where quotation marks enclose someone's words."""
    return [(m.start(), m.end()) for m in re.finditer(r"“[^”]*”|\"[^\"]*\"", text)]


def _states_purpose(claim: str, held_words: list[str]) -> bool:
    """The claim gives the held words as a purpose ("to end X", "in a bid to end X"), not as done."""
    for m in _PURPOSE.finditer(claim):
        verb = tokenize(m.group(2))
        if verb and any(same_word(verb[0], t) for w in held_words for t in tokenize(w)):
            return True
    return False


def _negation(claim: str, quote: str) -> tuple[str, str] | None:
    """Negation must agree in the clauses that hold the claim's words (not anywhere in a long quote: "X proposed
    Y, but the council has not voted" does not negate "X proposed Y")."""
    neg_claim = bool(NEGATION.search(claim))
    terms = set(tokenize(claim))
    neg_quote = False
    for clause in _CLAUSE.split(quote):
        if clause and NEGATION.search(clause):
            held = {t for t in tokenize(clause) if any(same_word(t, c) for c in terms)}
            short = len(clause.split()) <= 3  # ", not risen": a clause that short is about the word it holds
            # what is negated is what follows the negation ("forces provided the boots that Russia was unwilling
            # to spare" does not negate "forces provided the boots"); a claim that negates compares anywhere
            negated = neg_claim or any(any(same_word(t, c) for w in clause[m.end():].split()[:5] for t in tokenize(w)
                                           for c in terms) or not clause[m.end():].strip()
                                       for m in NEGATION.finditer(clause))
            neg_quote = neg_quote or (negated and (len(held) >= 2 or (bool(held) and short)))
    if neg_claim != neg_quote:
        return REVERSED, "negation differs from the quote"
    return None


def _names(claim: str, quote: str) -> tuple[str, str] | None:
    """Every name the claim uses stands in the quote (a name only in the article around it is someone else's)."""
    lowered = quote.lower()
    words = tokenize(quote)
    missing = sorted(n for n in names_in(claim) - set(MONTH.findall(claim)) if n.lower() not in lowered
                     and not any(same_word(t, w) for t in tokenize(n) for w in words))
    if missing:
        return WRONG_PERSON, f"names not in the quote: {missing}"
    return None


def _near(claim: str, quote: str, pos: int, window: int = 6) -> bool:
    """Whether quote position `pos` lies within `window` words of the span the claim's words cover there."""
    words = [(m.start(), m.group(0)) for m in re.finditer(r"[\w’'-]+", quote)]
    terms = set(tokenize(claim))
    hits = [i for i, (_, w) in enumerate(words) if any(same_word(t, x) for x in tokenize(w) for t in terms)]
    if not hits:
        return False
    at = next((i for i, (s, _) in enumerate(words) if s >= pos), len(words))
    return hits[0] - window <= at <= hits[-1] + window


# ---------------------------------------------------------------------------- the model


def judge_messages(claim: str, quote: str, question: str = "") -> list[dict]:
    p = prompts.load("judge")
    msgs = [{"role": "system", "content": p["system"]}]
    for ex in p.get("examples", []):
        msgs.append({"role": "user", "content": _user(p, ex["claim"], ex["quote"], ex.get("question", ""))})
        msgs.append({"role": "assistant", "content": ex["verdict"]})
    msgs.append({"role": "user", "content": _user(p, claim, quote, question)})
    return msgs


def _user(p: dict, claim: str, quote: str, question: str) -> str:
    template = p["user_answer"] if question else p["user_claim"]
    return template.format(quote=" ".join(quote.split()), claim=claim, question=question)


def model_score(gen, claim: str, quote: str, question: str = "") -> float | None:
    """P(yes) / (P(yes) + P(no)) for "does the quote state the claim?"; None where the runtime can't tell."""
    probe = getattr(gen, "first_token_probs", None)
    if probe is None:
        return None
    probs = probe(judge_messages(claim, quote, question), ["yes", "Yes", "no", "No"])
    if not probs:
        return None
    yes, no = probs.get("yes", 0) + probs.get("Yes", 0), probs.get("no", 0) + probs.get("No", 0)
    return yes / (yes + no) if yes + no > 0 else None


def judge(gen, claim: str, quote: str, *, question: str = "", threshold: float = 0.5,
          use_model: bool = True) -> Verdict:
    """Rules first (a failure is final), then the model's yes/no probability against `threshold`."""
    failure = rule_failure(claim, quote, question)
    if failure:
        return Verdict(NOT_SUPPORTED, 0.0, failure[1], failure[0])
    score = model_score(gen, claim, quote, question) if use_model and gen is not None else None
    if score is None:
        return Verdict(SUPPORTED, 1.0, "the rules find nothing wrong (no model judged it)")
    if score < threshold:
        return Verdict(NOT_SUPPORTED, score, f"the reader judges it unsupported (p={score:.2f})", "model")
    return Verdict(SUPPORTED, score, f"the reader judges it supported (p={score:.2f})")
