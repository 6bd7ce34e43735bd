"""Turn a follow-up question into a standalone search query using the conversation so far.

A rule-based rewrite, not a model call: the small default model cannot be trusted to rewrite, and the
rule is transparent (the UI shows the query it produced). Only a real follow-up is rewritten; a question
that makes sense on its own is searched exactly as asked, however short it is. A question is a follow-up
when it has a cue that needs the previous turn:

- a leading ellipsis marker ("and Obama?", "what about Iran?", "how about the US?", "then what?"), a
  trailing "too"/"either"/"instead", "else" anywhere, or no content word at all ("why?", "how so?");
- a pointer to something the question itself does not name:
  - "this"/"these"/"those" (not "those who ...", not "this year"), "the former/latter", and "the same"
    at the end of a clause;
  - "that" as a pronoun or determiner ("about that", "who said that?", "is that true?", "signed that
    deal"), not as a complementizer or relative pronoun ("the claim that Russia ...", "say that ...", "the
    strikes that began");
  - "there" as a place ("who lives there?"), not existential ("is there ...", "there were ...");
  - "then" as a time ("what happened then?", "since then");
  - a third-person pronoun (he, she, they, him, her, them, his, their, its, it ...) that nothing earlier
    in the question can be its antecedent. An antecedent is a capitalised name ("Did Putin say he would
    stay?") or a phrase opened by a determiner ("Did the army say it would withdraw?"). An object pronoun
    (him, them, object "her"/"it") cannot point at the subject of its own clause, so "What did Obama say
    about him?" is a follow-up while "Did Putin ask the army to protect him?" is not (a clause boundary,
    here "to", lies between the name and the pronoun).
- "it" is not a pointer in its dummy uses: with a copula or light verb and a clause that says what "it"
  stands for ("is it true that ...", "how long did it take X to ...", "would it be wise to ...", "was it
  Putin who ...", "is it worth visiting ..."), in "what is it like <something>", and with weather and
  time ("what time is it"). The principle: "it" is a dummy only when the question itself supplies what
  "it" stands for (or it stands for nothing), so "What is it like to live in Moscow?" is self-contained
  but "What is it like?" is a follow-up.

Anything else is self-contained, whatever its length: "Who is Putin?", and a bare "Obama?" (a search for
a name). Without a part-of-speech tagger some cases come out wrong: a lower-cased name does not count as
an antecedent ("did putin say he would stay" is a follow-up), and a relative "that" after a bare plural
("oppose sanctions that target oil") reads as a determiner.

The rewrite names whom a pointing pronoun means, read from the last answer and question (coref: "What did
he say?" -> "What did Esmail Ghaani say?"), and appends, in parentheses, the subject of the previous user
question: its key terms and, when it was a follow-up itself, the terms it inherited in turn (recomputed from
the raw questions), less any the rewritten question already has.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.answer.coref import name_referents
from rag.text import STOPWORDS

CHAIN_TERMS = 12  # at most this many inherited terms, however long the chain of follow-ups

_WORD = re.compile(r"[\w’'-]+")
# words, clitics split off ("it's" -> "it" "'s", "Putin's" -> "Putin" "'s"), and clause punctuation
_TOKEN = re.compile(r"[\w-]+|'\w+|[?!.,;:]")
_SENTENCE_END = {".", "?", "!"}
_CLAUSE_END = {".", "?", "!", ",", ";", ":"}

WH = frozenset("what who whom whose which when where why how".split())
BE = frozenset("is are was were be been being am 's 're".split())
AUX = BE | frozenset("do does did has have had will would can could shall should may might must 'll 'd "
                     "not n't 't".split())
PREPOSITIONS = frozenset(
    """about above across after against along among around at before behind below beneath beside between
    beyond by despite during for from in inside into like near of off on onto over past since through
    throughout toward towards under until upon with within without""".split()
)
DETERMINERS = frozenset("the a an any some every each another no".split())
POSSESSIVES = frozenset("his her their its my your our".split())
SUBJECT_PRONOUNS = frozenset("i you he she it we they".split())
# what can open a clause after a complementizer "that"
CLAUSE_OPENERS = DETERMINERS | POSSESSIVES | SUBJECT_PRONOUNS | frozenset(
    "this these those there all many most several".split())
# verbs (and a few nouns/adjectives) that take a that-clause: "say that ...", "the fact that ..."
SAY_VERBS = frozenset(
    """say says said saying think thinks thought believe believes believed claim claims claimed know knows
    knew mean means meant show shows showed shown suggest suggests suggested report reports reported argue
    argues argued announce announces announced deny denies denied admit admits admitted confirm confirms
    confirmed warn warns warned insist insists insisted feel feels felt hope hopes hoped fear fears feared
    expect expects expected agree agrees agreed promise promises promised tell tells told hear heard
    realise realize realised realized learn learned learnt explain explains explained note noted decide
    decided doubt doubts imply implies implied prove proved state states stated true likely possible clear
    fact evidence idea news sure certain""".split()
)
# conjunctions ending in "that" ("so that", "now that", "given that"): not a pointer
THAT_CONJUNCTIONS = frozenset("so such now given provided assuming except".split())
# pronoun-like heads a relative "that" can follow: "anything that ..."
INDEFINITES = frozenset("anything something everything nothing anyone someone everyone nobody one ones "
                        "people those all".split())
IRREGULAR_PAST = frozenset(
    """began became beat bit blew broke brought built bought caught chose came cost cut dealt did drew drove
    ate fell fed felt fought found fled flew forbade forgot forgave froze got gave went grew hung had heard
    hid hit held hurt kept knew laid led left lent let lay lit lost made meant met paid put quit read rode
    rang rose ran said saw sought sold sent set shook shot shut sang sank sat slept spoke spent split
    spread stood stole stuck struck swore swept swam took taught tore told thought threw understood woke
    wore won withdrew wrote""".split()
)
# verbs that make "it" a dummy when a clause says what it stands for ("it takes X to ...", "is it true that")
LIGHT_VERBS = BE | frozenset(
    """take takes took taken cost costs seem seems seemed appear appears appeared matter matters mattered
    make makes made become becomes became remain remains remained help helps helped hurt pay pays paid""".split()
)
AMBIENT = frozenset("time late early dark light rain raining rained snow snowing snowed cold hot warm sunny "
                    "windy weather".split())
TIME_NOUNS = frozenset("""year week month morning afternoon evening night weekend season summer winter spring
    autumn fall century decade quarter""".split())
# "that"/"which" after these starts a clause: "those who fled", "this that ..."
RELATIVES = frozenset("who whom whose which that".split())
# clause boundaries between a name and an object pronoun, so the name can be its antecedent
BREAKS = frozenset("""that who whom which whose when where if whether because after before while since until
    although though unless once and but or""".split()) | frozenset(",;:")
# words that carry no subject of their own: a question made only of these leans on the previous turn
FILLERS = frozenset(
    """come else exactly really more further again okay ok please details detail elaborate explain expand
    example examples one ones sure true next happen happened happens mean means meant many much long often
    far old big soon yes yeah right well go on possible""".split()
)
LEAD_CONJUNCTIONS = frozenset("and then or".split())
SOFT_LEADS = frozenset("but so ok okay well".split())  # may precede "what about ..."
TRAILING_ELLIPSIS = frozenset("too either instead".split())
THIRD_PERSON = frozenset("he she him her his hers they them their theirs it its himself herself itself "
                         "themselves".split())


def is_follow_up(question: str) -> bool:
    """Whether the question needs the previous turn to make sense (see the module docstring)."""
    return follow_up_cue(question) is not None


def follow_up_cue(question: str) -> str | None:
    """The words that make the question a follow-up ("pronoun 'him'", "lead 'what about'"), or None."""
    toks = _tokens(question)
    words = [t for t in toks if t not in _CLAUSE_END]
    if not words:
        return None
    lead = _lead(words)
    if lead:
        return f"lead {lead!r}"
    if not any(_is_content(w) for w in words):
        return "no content word"
    tail = [w.lower() for w in words[-2:]]
    if tail[-1] in TRAILING_ELLIPSIS or tail == ["as", "well"]:
        return f"trailing {tail[-1]!r}"
    for i, t in enumerate(toks):
        cue = _pointer(toks, i)
        if cue:
            return cue
    return None


def key_terms(text: str, limit: int = 8) -> list[str]:
    """Content words of a text, in order, without repeats (two-letter acronyms such as "US" count)."""
    out: list[str] = []
    seen: set[str] = set()
    for w in _WORD.findall(text):
        lw = w.lower()
        acronym = w.isupper() and len(w) > 1
        if lw in seen or (len(lw) < 3 or lw in STOPWORDS) and not acronym:
            continue
        seen.add(lw)
        out.append(w)
    return out[:limit]


def rewrite_query(question: str, history: Sequence[dict] | None) -> str:
    """For a follow-up: the question with its pointing pronouns named, plus the previous question's subject."""
    previous = [m.get("content", "") for m in history or () if m.get("role") == "user" and m.get("content")]
    if not previous or not is_follow_up(question):
        return question
    named = name_referents(question, history, pointing_pronouns)
    own = {_bare(part) for w in _WORD.findall(named) for part in (w, *w.split("-"))}  # "al-Assad": "assad" too
    extra = [t for t in _subject(previous) if _bare(t) not in own]
    return f"{named.strip()} ({' '.join(extra)})" if extra else named


def pointing_pronouns(question: str) -> list[tuple[int, int]]:
    """Where the third-person pronouns that point outside the question are, as (start, end): what coref names."""
    found = list(_TOKEN.finditer(question.replace("’", "'")))
    toks = [m.group() for m in found]
    return [m.span() for i, m in enumerate(found) if toks[i].lower() in THIRD_PERSON and not _bound(toks, i)]


def _bare(word: str) -> str:
    return word.lower().replace("’", "'").removesuffix("'s")


def _subject(questions: Sequence[str]) -> list[str]:
    """The key terms of the last question, plus those it inherited if it was a follow-up (and so on back)."""
    terms: list[str] = []
    for q in questions:
        own = key_terms(q)
        if is_follow_up(q):
            seen = {t.lower() for t in own}
            own += [t for t in terms if t.lower() not in seen]
        terms = own[:CHAIN_TERMS]
    return terms


# ---------- the cues ----------


def _tokens(question: str) -> list[str]:
    return _TOKEN.findall(question.replace("’", "'"))


def _is_content(word: str) -> bool:
    lw = word.lower()
    if lw.startswith("'"):
        return False
    return (lw not in STOPWORDS or word.isupper() and len(word) > 1) and lw not in FILLERS and lw not in WH


def _lead(words: list[str]) -> str | None:
    low = [w.lower() for w in words]
    if low[0] in LEAD_CONJUNCTIONS:
        return low[0]
    start = 1 if low[0] in SOFT_LEADS else 0
    pair = low[start : start + 2]
    if len(pair) == 2 and pair[0] in ("what", "how") and pair[1] in ("about", "of"):
        return " ".join(pair)
    return None


def _pointer(toks: list[str], i: int) -> str | None:
    """Why toks[i] points outside the question, or None."""
    w = toks[i].lower()
    prev = toks[i - 1].lower() if i > 0 else None
    nxt = toks[i + 1].lower() if i + 1 < len(toks) else None
    if w in THIRD_PERSON:
        return None if _bound(toks, i) else f"pronoun {toks[i]!r}"
    if w == "that":
        return "that" if _that_points(toks, i) else None
    if w in ("this", "these", "those"):
        if nxt in RELATIVES or (w == "this" and nxt in TIME_NOUNS):
            return None
        return w
    if w == "else":
        return "else"
    if w in ("former", "latter") and prev == "the":
        return f"the {w}"
    if w == "same" and prev == "the" and _clause_end(nxt):
        return "the same"
    if w == "there":
        existential = (prev in BE and not _clause_end(nxt)) or nxt in AUX or nxt in ("seem", "seems", "appear",
                                                                                      "appears", "remain")
        return None if existential else "there"
    if w == "then" and i > 0:
        return "then" if _clause_end(nxt) or prev in PREPOSITIONS | {"till", "back"} else None
    return None


def _clause_end(tok: str | None) -> bool:
    return tok is None or tok in _CLAUSE_END


def _words_before(toks: list[str], i: int) -> list[str]:
    """The words of the clause before toks[i], lower-cased."""
    out: list[str] = []
    for t in reversed(toks[:i]):
        if t in _CLAUSE_END:
            break
        out.append(t.lower())
    return out[::-1]


def _verb_like(tok: str | None) -> bool:
    return tok is not None and (tok in AUX or tok in IRREGULAR_PAST or (tok.endswith("ed") and len(tok) > 4))


def _that_points(toks: list[str], i: int) -> bool:
    """"that" as a pronoun or determiner (a pointer), not a complementizer or relative pronoun."""
    before = _words_before(toks, i)
    prev = before[-1] if before else None
    nxt_raw = toks[i + 1] if i + 1 < len(toks) else None
    nxt = nxt_raw.lower() if nxt_raw else None
    if prev is None or prev in WH or _clause_end(nxt):
        return True  # "That is why?", "Who said that?"
    if prev in THAT_CONJUNCTIONS:
        return False
    if prev in PREPOSITIONS:
        return True  # "about that", "after that decision"
    if prev in AUX and all(b in WH for b in before[:-1]):
        return True  # "Is that true?", "Why did that happen?"
    if nxt in CLAUSE_OPENERS or nxt_raw[0].isupper() or nxt_raw[0].isdigit():
        return False  # "the claim that Russia ...", "is it true that the ..."
    if _verb_like(nxt):
        return False  # "protests that turned violent", "the strikes that began"
    if prev in SAY_VERBS:
        return False  # "say that sanctions work"
    head_of_phrase = len(before) >= 2 and (before[-2] in DETERMINERS | POSSESSIVES | {"which", "'s"})
    if head_of_phrase or prev in INDEFINITES or toks[i - 1][0].isupper():
        return False  # "the deal that ...", "anything that ..."
    return True  # a determiner after a verb: "Who signed that deal?"


def _dummy_it(toks: list[str], i: int) -> bool:
    """"it" that stands for nothing, or for a clause the question itself supplies."""
    low = [t.lower() for t in toks]
    near = low[max(0, i - 3) : i] + low[i + 1 : i + 4]
    if AMBIENT & set(near):
        return True  # "what time is it", "is it raining in London"
    nxt = low[i + 1] if i + 1 < len(low) else None
    if nxt == "like" and not _clause_end(low[i + 2] if i + 2 < len(low) else None):
        return True  # "what is it like to live in Moscow", "what was it like in 1990"
    light = (i > 0 and low[i - 1] in LIGHT_VERBS) or any(t in LIGHT_VERBS for t in low[i + 1 : i + 3])
    if not light:
        return False
    # later in the same clause, what "it" stands for: "is it true that ...", "is it worth visiting ..."
    for j in range(i + 1, len(low)):
        t = low[j]
        if t in _CLAUSE_END:
            break
        if t in ("that", "whether", "if", "who", "worth") or (t == "to" and _infinitive(toks, j)):
            return True
    return False


def _infinitive(toks: list[str], j: int) -> bool:
    """Whether the "to" at toks[j] marks an infinitive ("to live") rather than a preposition ("to Syria")."""
    if j + 1 >= len(toks):
        return False
    nxt = toks[j + 1]
    lw = nxt.lower()
    return not (nxt[0].isupper() or nxt[0].isdigit() or lw in _CLAUSE_END or lw in DETERMINERS
                or lw in POSSESSIVES or lw in THIRD_PERSON or lw in ("me", "us", "you", "this", "that", "these",
                                                                       "those", "what", "which", "whom"))


def _bound(toks: list[str], i: int) -> bool:
    """Whether the third-person pronoun at toks[i] is a dummy "it" or has an antecedent earlier in the question."""
    w = toks[i].lower()
    nxt = toks[i + 1].lower() if i + 1 < len(toks) else None
    if w == "it" and _dummy_it(toks, i):
        return True
    if w == "her":
        kind = "possessive" if not _clause_end(nxt) and _is_content(toks[i + 1]) else "object"
    elif w == "it":
        subject = nxt is not None and (nxt in AUX or _verb_like(nxt) or (nxt.endswith("s") and _is_content(nxt)))
        kind = "subject" if subject else "object"
    elif w in ("him", "them"):
        kind = "object"
    else:
        kind = "subject"  # he she they, possessives, reflexives
    for k in _antecedents(toks, i):
        if kind != "object" or _possessor(toks, k) or _break_between(toks, k, i):
            return True
    return False


def _antecedents(toks: list[str], end: int) -> list[int]:
    """Positions before `end` of words that can be a pronoun's antecedent: names and determiner phrases."""
    out: list[int] = []
    low = [t.lower() for t in toks]
    for k in range(end):
        t, lw = toks[k], low[k]
        if lw in _CLAUSE_END or lw.startswith("'"):
            continue
        if _is_name(toks, k):
            out.append(k)
            continue
        # the first content word after a determiner, within three words: "the army", "a former president"
        for d in range(max(0, k - 3), k):
            if low[d] in DETERMINERS or low[d] == "'s" or (low[d] in ("which", "what") and _wh_subject(toks, k)):
                between = low[d + 1 : k]
                if _is_content(t) and not any(_is_content(b) or b in _CLAUSE_END for b in between):
                    out.append(k)
                break
    return out


def _is_name(toks: list[str], k: int) -> bool:
    """A capitalised word that is not a capitalised first word of a sentence (unless it looks like a name)."""
    t = toks[k]
    lw = t.lower()
    if not t[0].isupper() or lw in THIRD_PERSON or lw in WH or lw == "i":
        return False
    if lw in STOPWORDS and not (t.isupper() and len(t) > 1):
        return False
    starts_sentence = k == 0 or toks[k - 1] in _SENTENCE_END
    if not starts_sentence:
        return True
    nxt = toks[k + 1] if k + 1 < len(toks) else ""
    # "Putin said ...", "Putin's aides ...", "Angela Merkel ..." — not "Explain why ..."
    return nxt == "'s" or nxt[:1].isupper() or nxt.lower() in AUX or nxt.lower() in SAY_VERBS or _verb_like(nxt.lower())


def _wh_subject(toks: list[str], k: int) -> bool:
    """Whether "which/what <noun>" at k is the subject ("Which president said he ...") and can bind a pronoun.

    A fronted object cannot ("Which country did he visit?"): there an auxiliary and its own subject follow.
    """
    low = [t.lower() for t in toks]
    if k + 2 >= len(low):
        return False
    if low[k + 1] in AUX:
        nxt = toks[k + 2]
        return not (low[k + 2] in SUBJECT_PRONOUNS or low[k + 2] in DETERMINERS or nxt[0].isupper())
    return True


def _possessor(toks: list[str], k: int) -> bool:
    return k + 1 < len(toks) and toks[k + 1] == "'s"


def _break_between(toks: list[str], k: int, i: int) -> bool:
    """A clause boundary between an antecedent at k and an object pronoun at i ("... asked the army to protect him")."""
    for j in range(k + 1, i):
        t = toks[j].lower()
        if t in BREAKS or (t == "to" and _infinitive(toks, j)):
            return True
        if t in SAY_VERBS and j + 1 < len(toks) and toks[j + 1].lower() not in PREPOSITIONS | THIRD_PERSON:
            return True  # "Did Putin say the West feared him?"
    return False
