"""A headline such as "Why Putin Went Into Syria" asked as a real question: "Why did Putin go into Syria?".

Headlines drop the auxiliary verb and capitalise every word, so a question mark alone makes them ungrammatical.
Only the shapes that can be rewritten with confidence are: a wh-word, a subject, then a past-tense verb (irregular
from a table, regular by spelling rules that are safe) or an auxiliary ("is", "has", "can") to move before the
subject. Anything else (present tense, an unknown verb form) gives "", and the caller leaves the headline out.
Words keep their capital only when the article itself writes them capitalised mid-sentence (names, places).
"""

from __future__ import annotations

import re
from collections import Counter

WH = {"why", "how", "what", "who", "when", "where", "which"}
AUX = {"is", "are", "was", "were", "has", "have", "had", "can", "could", "will", "would", "should", "may", "might",
       "must", "does", "do", "did"}
# words a headline capitalises that a sentence writes in lower case, whatever the article says
FUNCTION = set(
    "a an the of to in into on onto for from with without by at as over under after before about against between "
    "and or but nor its it their his her our your my this that these those up out off down than through".split()
)
IRREGULAR = dict(
    pair.split(":") for pair in (
        "went:go took:take made:make got:get came:come left:leave ran:run sent:send won:win lost:lose fell:fall "
        "gave:give saw:see said:say told:tell thought:think became:become began:begin broke:break brought:bring "
        "built:build bought:buy chose:choose drew:draw drove:drive fought:fight found:find grew:grow held:hold "
        "kept:keep knew:know led:lead meant:mean met:meet paid:pay rose:rise sold:sell stood:stand struck:strike "
        "spent:spend threw:throw wrote:write withdrew:withdraw sought:seek shot:shoot felt:feel forgot:forget "
        "forgave:forgive froze:freeze hid:hide overtook:overtake undertook:undertake understood:understand "
        "sank:sink sang:sing spoke:speak stole:steal swore:swear taught:teach tore:tear woke:wake wore:wear "
        "caught:catch dealt:deal fled:flee flew:fly fed:feed heard:hear slid:slide lent:lend bent:bend built:build "
        "ate:eat drank:drink rode:ride shook:shake mistook:mistake outran:outrun overcame:overcome"
    ).split()
)
_VOWELS = set("aeiou")


def _regular_base(word: str) -> str:
    """"stopped" -> "stop", "moved" -> "move", "wanted" -> "want"; "" when the spelling leaves it in doubt
    ("visited": visit or visite?)."""
    w = word.lower()
    if len(w) < 5 or not w.endswith("ed"):
        return ""
    stem = w[:-2]
    if w.endswith("ied"):
        return w[:-3] + "y"
    last, before = stem[-1], stem[-2]
    if last == before and last not in "lsz" + "".join(_VOWELS):  # stopped, planned
        return stem[:-1]
    if stem.endswith(("eat", "us")) and not stem.endswith(("aus", "ous")):  # treated/created, focused/refused
        return ""
    if last in "vcgz" or (last == "s" and before != "s"):  # moved, forced, changed, seized, raised, caused
        return stem + "e"
    if last not in _VOWELS and before not in _VOWELS:  # wanted, backed, warned, called, passed
        return stem
    if before in _VOWELS and len(stem) > 2 and stem[-3] in _VOWELS:  # needed, joined, claimed, greeted
        return stem
    if stem.endswith(("er", "en")) or stem.endswith("ion"):  # entered, opened, questioned
        return stem
    if re.search(r"[^aeiou](at|ut|ot|ad|id|ud|od|ar|ir|or|ur|ak|ik|ok|am|im|om|in|ib|ub|al|il|ul)$", stem):
        return stem + "e"  # created, executed, voted, invaded, decided, declared, ignored, liked, named, ruled
    return ""


def past_base(word: str) -> str:
    """The base form of a past-tense verb, or ""."""
    return IRREGULAR.get(word.lower(), "") or _regular_base(word)


def _case_counts(text: str) -> Counter:
    """How often each word is written as it is, away from the start of a sentence."""
    counts: Counter = Counter()
    for m in re.finditer(r"(?<![.!?\"“]\s)(?<!^)\b([A-Za-z][A-Za-z'’-]*)", text or "", re.M):
        counts[m.group(1)] += 1
    return counts


def _sentence_case(word: str, counts: Counter) -> str:
    low = word.lower()
    if low in FUNCTION or low in AUX:
        return low
    if word[1:] != word[1:].lower():  # "NATO", "McCain" stay as they are
        return word
    if counts[word] == counts[low] == 0:  # the article never writes it: a verb form is not a name; else keep it
        return low if low.endswith(("ing", "ed")) else word
    return word if counts[word] > counts[low] else low  # the article writes it capitalised: a name


def headline_question(title: str, text: str = "") -> str:
    """The headline as a grammatical question, or "" when it cannot be made one with confidence."""
    head = re.split(r"\s*[:|—–]\s*|\s+-\s+", (title or "").strip(), maxsplit=1)[0].strip()
    words = head.rstrip("?.!").split()
    counts = _case_counts(text)
    if len(words) >= 2 and words[0].lower() in AUX - {"do", "does", "did"}:  # "Is NATO Ready": a question already
        return " ".join([words[0].capitalize(), *(_sentence_case(w, counts) for w in words[1:])]) + "?"
    if len(words) < 3 or words[0].lower() not in WH:
        return ""
    wh, rest = words[0].capitalize(), words[1:]
    fix = [_sentence_case(w, counts) for w in rest]
    if rest[0].lower() in AUX:  # "Why Is Russia Bombing Syria": already in question order
        return " ".join([wh, *fix]) + "?"
    for i in range(1, len(rest)):
        low = rest[i].lower()
        if low in AUX and low not in {"do", "does", "did"}:  # "Why Russia Is Bombing Syria"
            return " ".join([wh, low, *fix[:i], *fix[i + 1:]]) + "?"
        base = past_base(rest[i])
        if base:  # "Why Putin Went Into Syria"
            return " ".join([wh, "did", *fix[:i], base, *fix[i + 1:]]) + "?"
    return ""
