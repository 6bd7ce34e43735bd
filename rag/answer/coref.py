"""Name whom a follow-up's pronoun means: "What did he say?" after "Esmail Ghaani succeeded Soleimani [1]." becomes
"What did Esmail Ghaani say?". Rules, not a model, like the rest of the rewrite: followup decides which pronouns
point outside the question, this module what each points to in the last turn. The candidates, most salient first:

- the last answer's subject: the name (or "the ..." phrase) opening its first sentence after an opener such as
  "According to Reuters," or "In 2015,", else its first name before the main verb that is no possessor ("Iran's");
- the answer's other names, in order (not for "it": an answer names many things in passing);
- the names and "the ..." phrases of the last question (itself resolved first, if a follow-up), in order.

A refusal ("The articles don't say.") has no subject; an answer whose subject is a pronoun ("He was appointed in
2020") goes on about the question's, whose candidates then come first. A pronoun takes the first candidate of its
kind (he/she a person, they a place, organisation or plural, it a place, organisation or singular phrase), not one
the question names already ("What did Obama say about him?"), nor one another kind took, nor for he/she one that a
title or first name marks as the other sex. Only the first pronoun of a kind is replaced: the name binds the rest.
Left as they are: an object "it" ("Why did he do it?"), mostly the last turn's event, which the appended terms
carry; reflexives; a pronoun with no candidate of its kind.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.text import COMMON_CAPITALISED, STOPWORDS

# where followup found the pronouns that point outside a question: (start, end) character spans
PointerFinder = Callable[[str], Sequence[tuple[int, int]]]

_CITATION = re.compile(r"\s*\[\d+(?:\s*[,–-]\s*\d+)*\]")
_REFUSAL = re.compile(r"^\W*(?:the\s+)?(?:articles|sources|sentences|texts?)\s+(?:don|do\s+not|does)", re.I)
_TOK = re.compile(r"(?:[A-Z]\.){2,}|\w[\w’'-]*|[^\w\s]")
_ROLE_TOK = re.compile(r"['’]?\w+|[^\w\s]")
_WORDLIKE = re.compile(r"[\w’'-]+")
_ACRONYM = re.compile(r"(?:[A-Z]\.){2,}")
_POSSESSIVE = re.compile(r"[’']s?$")
_QUOTES = frozenset("\"“'‘")
_SENTENCE_END = {".", "!", "?"}
_ABBREVIATION = re.compile(r"\b(Mr|Mrs|Ms|Dr|Gen|Lt|Col|St|Sen|Rep|Gov|Jr|Sr|Prof|Capt|Adm|Maj|Sgt)\.")

FAMILY = {"he": "he", "him": "he", "his": "he", "she": "she", "her": "she", "hers": "she",
          "they": "they", "them": "they", "their": "they", "theirs": "they", "it": "it", "its": "it"}
FITS = {"he": {"person", "name"}, "she": {"person", "name"},  # "name": a single name, not a known place or org
        "they": {"thing", "plural", "group"}, "it": {"thing", "phrase", "group"}}
_AUX = frozenset("is are was were be been am do does did has have had will would can could shall should may might "
                 "must 's 're 'll 'd".split())
_BE = frozenset("is are was were am 's 're".split())
_WH = frozenset("what who whom whose which when where why how".split())
_VERBS = _AUX | frozenset(
    """said says told warned claimed announced began became took made led won lost left met sent fell rose went came
    gave withdrew retook fought fled held kept ran saw sought spoke stood struck thought wrote chose grew hit knew
    paid put set shot sold spent threw brought built bought caught cut felt found got heard let meant wants plans
    urges calls warns thinks believes argues insists claims denies admits faces leads runs remains""".split())
# openers that run to the first comma ("According to Reuters, ...", "In 2015, ...") and one-word openers
_PHRASE_OPENERS = frozenset("""according in on at after before despite following during under since with as when
    while although though because by for last earlier later amid from unlike over within without if""".split())
_WORD_OPENERS = frozenset("however meanwhile yes no still also but and so then indeed instead thus".split())
_NOT_NAMES = {w.capitalize() for w in _PHRASE_OPENERS | _WORD_OPENERS} | set("""Many Several Both Nobody Everyone
    Today Yesterday Tomorrow Only Even Once Most Every Neither Either Another Therefore Hence First Second Third
    Finally Next Unless Whether Tell Explain Describe Give List Name Show Please Compare Summarise Summarize""".split())
_CALENDAR = frozenset("""January February March April May June July August September October November December
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday""".split())
_CONNECTORS = frozenset("of al bin ibn de van von der da di du la le el".split())
TITLES = frozenset("""President Prime Minister Chancellor King Queen Prince Princess Pope Mr Mrs Ms Dr Sir Lord Lady
    Dame General Gen Colonel Col Lt Major Captain Admiral Senator Sen Rep Representative Congressman Governor Gov
    Mayor Secretary Ayatollah Sheikh Emir Sultan Judge Justice Commander Speaker Bishop Rev Father Imam Premier
    Ambassador Chief Director Chairman Leader Professor Prof Deputy Vice Crown Foreign Defence Defense""".split())
ORG_WORDS = frozenset("""Ministry Department Party Army Navy Council Union Bank Committee Court Government
    Parliament Congress Senate Agency Commission Organisation Organization Group Corporation Corp Inc Ltd Company
    University Institute Forces Force Guard Guards Front Movement Nations Office Association League Federation
    Alliance Coalition Police Service Authority Board Assembly Brigade Brigades Corps Fund Foundation House State
    States Republic Kingdom Times Post News Watch Street Airlines Network Centre Center Cabinet Tribunal Church
    Province Region Island Islands City County Strait Gulf Sea Ocean River Valley Strip Bay Peninsula""".split())
ORGS = frozenset("""Hamas Hezbollah Taliban Kremlin Pentagon Reuters Gazprom Google Apple Facebook Microsoft Amazon
    Twitter OPEC Interpol Fatah Boeing Airbus Al-Qaeda Qaeda""".split())
PLACES = frozenset(
    """Afghanistan Albania Algeria Angola Argentina Armenia Australia Austria Azerbaijan Bahrain Bangladesh Belarus
    Belgium Bolivia Bosnia Brazil Bulgaria Cambodia Cameroon Canada Chad Chile China Colombia Congo Croatia Cuba
    Cyprus Denmark Ecuador Egypt Eritrea Estonia Ethiopia Finland France Georgia Germany Ghana Greece Guatemala
    Haiti Honduras Hungary Iceland India Indonesia Iran Iraq Ireland Israel Italy Jamaica Japan Jordan Kazakhstan
    Kenya Kosovo Kuwait Kyrgyzstan Laos Latvia Lebanon Liberia Libya Lithuania Luxembourg Madagascar Malaysia Mali
    Malta Mexico Moldova Mongolia Montenegro Morocco Mozambique Myanmar Burma Nepal Netherlands Nicaragua Niger
    Nigeria Norway Oman Pakistan Palestine Panama Paraguay Peru Philippines Poland Portugal Qatar Romania Russia
    Rwanda Senegal Serbia Singapore Slovakia Slovenia Somalia Spain Sudan Sweden Switzerland Syria Taiwan Tajikistan
    Tanzania Thailand Tunisia Turkey Turkmenistan Uganda Ukraine Uruguay Uzbekistan Venezuela Vietnam Yemen Zambia
    Zimbabwe Britain England Scotland Wales Europe Asia Africa America Crimea Gaza Kurdistan Tibet Xinjiang Chechnya
    Donbas Kashmir Aleppo Damascus Baghdad Tehran Moscow Kyiv Kiev Beijing Washington London Paris Berlin Brussels
    Jerusalem Ankara Istanbul Cairo Riyadh Mosul Raqqa Palmyra Idlib Homs Kabul Tokyo Delhi Geneva Vienna Rome
    Madrid Athens Warsaw Texas California Florida""".split()) | {
    "Saudi Arabia", "South Korea", "North Korea", "South Africa", "New Zealand", "South Sudan", "Sri Lanka",
    "Hong Kong", "New York", "Los Angeles", "Middle East", "Ivory Coast"}  # "United States" etc.: by ORG_WORDS
KNOWN = PLACES | ORGS  # names that are never a person
DEMONYMS = frozenset("""Israeli Iraqi Saudi Pakistani Kuwaiti Yemeni Omani Qatari Emirati Bahraini Somali Afghan
    Thai Swiss French Dutch Greek German American Mexican Korean African Cuban Arab Muslim Christian Jewish Sunni
    Shia Shiite Western European Asian Soviet Democrat Republican Democratic""".split())
OTHER = {"he": "she", "she": "he"}
# cheap gender: titles and first names common in the news; any other name may be either
FEMALE = frozenset("""Mrs Ms Miss Queen Princess Lady Dame Angela Hillary Theresa Christine Nancy Marine Ursula Kamala
    Elizabeth Nicola Jacinda Giorgia Michelle Melania Ivanka Liz Mary Anne Anna Maria Sarah Julia Helen Margaret Emma
    Catherine Kate Jennifer Susan Samantha Condoleezza Federica Greta Yulia""".split())
MALE = frozenset("""Mr King Prince Lord Sir Pope Ayatollah Sheikh Emir Sultan Father Imam Donald Barack Vladimir Joe
    George Bill Emmanuel Boris Xi Recep Benjamin Hassan Ali Mohammed Muhammad Bashar John David Michael Sergei Javad
    Qassem Esmail Osama Tony Gordon Nicolas Justin Narendra Shinzo Jeremy""".split())
# singular heads that "they" can also stand for ("the army ... they")
COLLECTIVES = frozenset("""army government police party group team council committee military administration
    regime coalition alliance opposition public navy court company board cabinet""".split())


@dataclass(frozen=True)
class Referent:
    text: str  # as it will stand in the question: "Esmail Ghaani", "the United Nations", "the rebels"
    kind: str  # person, name (a single name of unknown kind), thing, plural, group, phrase

    def head(self) -> str:
        """The last word, lower-cased: a question that has it already names this referent itself."""
        return _bare(self.text.split()[-1])


@dataclass
class _Turn:
    question: str
    answer: str


def name_referents(question: str, history: Sequence[dict] | None, find: PointerFinder) -> str:
    """The question with each pronoun that points back replaced by whom or what it points to in the last turn.

    Earlier follow-ups are resolved first, in order, so that "he" carries through a chain of them."""
    previous: _Turn | None = None
    for turn in _turns(history):
        if previous is not None:
            turn = _Turn(_resolve(turn.question, find(turn.question), previous), turn.answer)
        previous = turn
    return question if previous is None else _resolve(question, find(question), previous)


def _turns(history: Sequence[dict] | None) -> list[_Turn]:
    """The conversation as (question, answer) pairs; an assistant message before any question is ignored."""
    out: list[_Turn] = []
    for m in history or ():
        content = (m.get("content") or "").strip()
        if m.get("role") == "user" and content:
            out.append(_Turn(content, ""))
        elif m.get("role") == "assistant" and out:
            out[-1].answer = content
    return out


def _resolve(question: str, pointers: Sequence[tuple[int, int]], turn: _Turn) -> str:
    """Replace the first pronoun of each kind that has a fitting candidate (see the module docstring)."""
    if not pointers:
        return question
    own = {_bare(w) for w in _TOK.findall(question)}
    subject, names, asked = _candidates(turn)
    chosen: dict[str, Referent | None] = {}
    edits: list[tuple[int, int, str]] = []
    for start, end in pointers:
        word = question[start:end]
        family = FAMILY.get(word.lower())
        if family is None or family in chosen:
            continue  # a reflexive, or a kind already settled by its first pronoun
        role = _role(question, start, end)
        pool = subject + (asked if family == "it" else names + asked)
        used = set(chosen.values())
        fits = [r for r in pool if r.kind in FITS[family] and r not in used and r.head() not in own
                and not (family in OTHER and _gender(r) == OTHER[family])]
        if family == "she":  # most people named in the news are men: a name known to be a woman's goes first
            fits.sort(key=lambda r: _gender(r) != "she")
        ref = None if role == "object" and family == "it" else next(iter(fits), None)
        chosen[family] = ref
        if ref is not None:
            edits.append((start, end, _form(ref, role, word)))
    for start, end, text in sorted(edits, reverse=True):
        question = question[:start] + text + question[end:]
    return question


def _candidates(turn: _Turn) -> tuple[list[Referent], list[Referent], list[Referent]]:
    """The answer's subject, the answer's other names, and the question's names and phrases (see the docstring)."""
    asked = _question_candidates(turn.question)
    answer = _CITATION.sub("", turn.answer).strip()
    if not answer or _REFUSAL.match(answer):
        return [], [], _full_names(asked, asked)
    toks = _TOK.findall(_ABBREVIATION.sub(r"\1", answer))
    subject = _subject(toks[: next((k for k, t in enumerate(toks) if t in _SENTENCE_END), len(toks))])
    names = _names(toks)
    everything = asked + names + ([subject] if isinstance(subject, Referent) else [])
    names, asked = _full_names(names, everything), _full_names(asked, everything)
    if subject == "pronoun":  # "He was appointed in 2020": the answer goes on about the question's subject
        return asked, names, []
    first = _full_names([subject], everything) if isinstance(subject, Referent) else []
    return first, [r for r in names if r not in first], asked


def _full_names(refs: list[Referent], seen: list[Referent]) -> list[Referent]:
    """Each single name as the longest person's name in the turn that ends with it: "Merkel" -> "Angela Merkel"."""
    out = []
    for r in refs:
        if r.kind == "name":
            longer = [p for p in seen if p.kind == "person" and p.text.endswith(" " + r.text)]
            r = max(longer, key=lambda p: len(p.text), default=r)
        out.append(r)
    return out


# ---------- names and phrases ----------


def _bare(word: str) -> str:
    """A word without its possessive ending, lower-cased: "Putin's" -> "putin"."""
    return _POSSESSIVE.sub("", word).lower()


def _initial(toks: list[str], i: int) -> bool:
    return i == 0 or toks[i - 1] in _SENTENCE_END or toks[i - 1] in _QUOTES


def _verb(tok: str) -> bool:
    """A word that can end a subject: an auxiliary, a common news verb, or a lower-case past form."""
    low = tok.lower()
    return low in _VERBS or (tok.islower() and low.endswith("ed") and len(low) > 4)


def _name_word(toks: list[str], i: int) -> bool:
    """Whether toks[i] can be part of a name: capitalised, not a capitalised function word, month or opener."""
    t = _POSSESSIVE.sub("", toks[i])
    if _ACRONYM.fullmatch(toks[i]):
        return True
    if not t[:1].isupper():
        return bool(re.fullmatch(r"[a-z]{1,3}-[A-Z]\w+", t))  # "al-Assad"
    if len(t) < 2 or t in COMMON_CAPITALISED or t in _CALENDAR:
        return False
    if not _initial(toks, i) or t in KNOWN:
        return True
    nxt = toks[i + 1] if i + 1 < len(toks) else "."
    if t in _NOT_NAMES or (t.endswith(("ly", "ing")) and not (nxt[:1].isupper() or _verb(nxt))):
        return False  # "Reportedly, ...", "Following the vote, ..." (but "Kelly said")
    return True


def _spans(toks: list[str]) -> list[tuple[int, int]]:
    """Token ranges [i, j) of names: runs of name words, joined by "of"/"al"/"bin"..., ended by a possessive."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(toks):
        if not _name_word(toks, i):
            i += 1
            continue
        j = i + 1
        while j < len(toks) and not _POSSESSIVE.search(toks[j - 1]):
            if _name_word(toks, j):
                j += 1
            elif toks[j] in _CONNECTORS and j + 1 < len(toks) and _name_word(toks, j + 1):
                j += 2
            else:
                break
        out.append((i, j))
        i = j
    return out


def _referent(toks: list[str], i: int, j: int) -> Referent | None:
    """The name toks[i:j] as a referent, with its kind; None when it only modifies a common noun ("Russian jets")."""
    words = toks[i:j - 1] + [_POSSESSIVE.sub("", toks[j - 1])]
    text = " ".join(words)
    after_the = i > 0 and toks[i - 1].lower() == "the"
    nxt = toks[j] if j < len(toks) else "."
    before_noun = len(words) == 1 and nxt[:1].islower() and nxt.lower() not in STOPWORDS and not _verb(nxt) \
        and text not in KNOWN and text not in TITLES and not _POSSESSIVE.search(toks[i])
    initial = _initial(toks, i) and (text in ORG_WORDS or j + 1 < len(toks) and _verb(toks[j + 1]))
    if before_noun and (after_the or _demonym(text) or initial):
        return None  # "the Iran deal", "Iranian officials", "Air strikes began", "Government forces"
    if words[-1] in ORG_WORDS:
        kind = "thing"
    elif any(w in TITLES for w in words[:-1]) or (len(words) == 1 and words[0] in TITLES):
        kind = "person"
    elif any(w in ORG_WORDS for w in words) or text in KNOWN or after_the or text.replace(".", "").isupper():
        kind = "thing"
    elif len(words) == 1 and (text.endswith("ians") or text[:-1] in DEMONYMS or text in DEMONYMS):
        return Referent(text, "plural") if text.endswith("s") else None  # "Russians", "Democrats"; not "French"
    elif len(words) == 1 and _initial(toks, i) and text.endswith("s") and not text.endswith(("ss", "us", "is")):
        return Referent(text.lower(), "plural")  # "Officials said ..."
    else:
        kind = "name" if len(words) == 1 else "person"
    return Referent(f"the {text}" if after_the else text, kind)


def _names(toks: list[str]) -> list[Referent]:
    found = (_referent(toks, i, j) for i, j in _spans(toks))
    return [r for r in found if r is not None]


def _phrase(words: list[str]) -> Referent:
    """A common-noun phrase ("the rebels", "the deal", "Russian jets"), plural or singular by its last word."""
    head = words[-1].lower()
    kind = "group" if head in COLLECTIVES else "plural" if head.endswith("s") and not head.endswith("ss") else "phrase"
    first = words[0] if words[0] in KNOWN or _demonym(words[0]) or words[0].isupper() else words[0].lower()
    return Referent(" ".join([first, *words[1:]]), kind)


def _demonym(word: str) -> bool:
    return word in DEMONYMS or re.search(r"(ian|ese|ish)$", word) is not None


def _gender(ref: Referent) -> str | None:
    """ "he", "she", or None (unknown), from a title or a first name in the referent."""
    words = set(ref.text.split())
    return "she" if words & FEMALE else "he" if words & MALE else None


def _subject(toks: list[str]) -> Referent | str | None:
    """The subject of an answer's first sentence: a referent, "pronoun" ("He ..."), or None when not found."""
    s = _opener_end(toks)
    if s >= len(toks):
        return None
    if toks[s].lower() in ("he", "she", "they", "it"):
        return "pronoun"
    v = next((k for k in range(s + 1, len(toks)) if _verb(toks[k])), len(toks))
    spans = [(i, j) for i, j in _spans(toks) if s <= i < v]
    lead = s + 1 if toks[s].lower() in ("the", "a", "an") else s
    if spans and spans[0][0] == lead and not _POSSESSIVE.search(toks[spans[0][1] - 1]):
        found = _coordinated(toks, spans) or _referent(toks, *spans[0])
        if found is not None:
            return found
    words = toks[s:v]
    if v < len(toks) and 1 <= len(words) <= 5 and all(_WORDLIKE.fullmatch(w) for w in words) \
            and not any(_POSSESSIVE.search(w) for w in words) and words[-1].lower() not in STOPWORDS:
        return _phrase(words)  # "The rebels withdrew", "Russian jets bombed", "The Iran deal was signed"
    for i, j in spans:
        if not _POSSESSIVE.search(toks[j - 1]):
            return _referent(toks, i, j)
    return None


def _coordinated(toks: list[str], spans: list[tuple[int, int]]) -> Referent | None:
    """ "Obama and Merkel agreed ...", "Iran and the US signed ...": the pair, for "they"."""
    (i, j), rest = spans[0], spans[1:]
    if not rest or j >= len(toks) or toks[j] != "and":
        return None
    i2, j2 = rest[0]
    if i2 not in (j + 1, j + 2) or (i2 == j + 2 and toks[j + 1].lower() != "the"):
        return None
    a, b = _referent(toks, i, j), _referent(toks, i2, j2)
    return None if a is None or b is None else Referent(f"{a.text} and {b.text}", "plural")


def _opener_end(toks: list[str]) -> int:
    """Where the sentence proper starts: after "According to Reuters,", "In 2015,", "However,", or a quote mark."""
    s = 0
    while s < len(toks) and toks[s] in _QUOTES:
        s += 1
    if s >= len(toks):
        return s
    first = toks[s].lower()
    if first in _WORD_OPENERS or (first.endswith("ly") and not _name_word(toks, s)):
        return s + 2 if s + 1 < len(toks) and toks[s + 1] == "," else s + 1
    if first in _PHRASE_OPENERS:
        comma = next((k for k in range(s + 1, min(len(toks), s + 16)) if toks[k] == ","), None)
        return comma + 1 if comma is not None else s + 1
    return s


def _question_candidates(question: str) -> list[Referent]:
    """The names of a question and its "the ..." phrases ("the deal", "the rebels"), in order."""
    toks = _TOK.findall(question)
    out: list[tuple[int, Referent]] = []
    taken: set[int] = set()
    for i, j in _spans(toks):
        ref = _referent(toks, i, j)
        if ref is not None:
            taken.update(range(i - 1, j))
            out.append((i, ref))
    for k, t in enumerate(toks):
        if t.lower() != "the" or k in taken:
            continue
        words: list[str] = []
        for w in toks[k + 1 : k + 4]:
            if not _WORDLIKE.fullmatch(w) or w.lower() in STOPWORDS or w.lower() in _VERBS:
                break
            words.append(w)
            if w.islower() and k > 0 and toks[k - 1].lower() in _AUX:
                break  # "did the army withdraw": the subject ends at its first common noun
        if words and words[-1].islower():
            out.append((k, _phrase(["the", *words])))
    return [r for _, r in sorted(out, key=lambda p: p[0])]


# ---------- the replacement ----------


def _role(question: str, start: int, end: int) -> str:
    """"possessive", "subject" or "object", from the pronoun and its neighbours."""
    word = question[start:end].lower()
    before = [t.lower() for t in _ROLE_TOK.findall(question[:start])]
    after = [t.lower() for t in _ROLE_TOK.findall(question[end:])]
    prev = before[-1] if before else None
    nxt = after[0] if after else None
    if word in ("his", "its", "their", "hers", "theirs"):
        return "possessive"
    if word == "her":
        return "possessive" if nxt and nxt[0].isalnum() and nxt not in STOPWORDS else "object"
    if word in ("him", "them"):
        return "object"
    if word != "it":
        return "subject"
    opens = prev is None or not prev[0].isalnum() or prev in _WH
    inverted = prev in _AUX and (len(before) < 2 or before[-2] in _WH or not before[-2][0].isalnum())
    if opens or prev in _BE or inverted or (nxt is not None and _verb(nxt)):
        return "subject"  # "Why did it refuse?", "Is it safe?", "What is it like?", "it's"
    return "object"  # "Why did he do it?", "What did they say about it?"


def _form(ref: Referent, role: str, pronoun: str) -> str:
    """The referent as it stands in the pronoun's place: "Esmail Ghaani", "Esmail Ghaani's", "the rebels'"."""
    text = ref.text
    if role == "possessive":
        text += "'" if text.endswith("s") and ref.kind != "person" else "'s"
    return text[0].upper() + text[1:] if pronoun[0].isupper() else text
