"""Phrase matching: courtesy, forbidden and filler words in transcripts, and the call script.

Matching is on words, not substrings: the text is segmented once with jieba (the
lexicon phrases added as words) and a phrase only counts when it starts and ends on a
word boundary, so 请 inside 申请 is no hit.  Punctuation and spaces are ignored, so
multi-word phrases match across them.  ASR homophones are normal (请您稍等 heard as
请您收等, 让您久等了 as 让您就等了): phrases of three or more characters also match when
the toneless pinyin is equal (confidence 0.9) or one syllable is a near sound
(confidence 0.75), as long as at least half the characters are the very same (one is
enough for an exact-sounding phrase of four or more: 欢迎在此播打 → 欢迎再次拨打), and in
courtesy and script phrases of five or more one syllable may be wrong altogether
(将您就等了 → 让您久等了); 您 and 你
count alike everywhere (confidence 0.9), since a phone line leaves nin and ni one sound.
Forbidden phrases that are negated, conditional or quoted (如果您不清楚…, 您说"不知道"…)
are not reported.
"""

from __future__ import annotations

import logging
import re
import weakref
from collections import defaultdict
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Iterable, Sequence

import jieba
from pypinyin import lazy_pinyin

from coach.lexicon import Category, Entry, Lexicon, Pattern, ScriptItem, Severity, Where
from coach.results import PhraseHit, ScriptCheck, Silence, Speaker, Utterance

log = logging.getLogger(__name__)
# jieba prints its dictionary-loading chatter to stderr at DEBUG level on every process.
jieba.setLogLevel(logging.WARNING)

LOOSE_EDGE_CHARS = 4  # from this length a phrase needs a word boundary on one side only
MIN_SOUND_CHARS = 3  # shorter phrases match exactly only: two-syllable sound-alikes are everywhere
# From this length a phrase whose every syllable sounds right needs only one character right
# (欢迎在此播打 is 欢迎再次拨打); shorter ones, and near sounds, need half of them.
MIN_HOMOPHONE_CHARS = 4
# From this length one syllable may be anything, if the rest sound right and half the
# characters are right: Whisper hears 让您久等了 as 将您就等了, 很乐意 as 很愿意.
MIN_WILD_CHARS = 5
SOUND_EQUAL_CONFIDENCE = 0.9
NEAR_SOUND_CONFIDENCE = 0.75
MAX_WORD_CHARS = 6  # phrases up to this long are added to jieba as words; longer ones are word sequences
HOLD_WORDS_WINDOW_S = 10.0  # the agent's words this close to a hold belong to it

INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x",
            "r", "z", "c", "s", "y", "w")
# Sounds Mandarin speakers and recognisers confuse (southern z/zh, n/l, front/back nasals …).
NEAR_INITIALS = ({"z", "zh"}, {"c", "ch"}, {"s", "sh"}, {"n", "l"}, {"f", "h"}, {"l", "r"})
NEAR_FINALS = ({"an", "ang"}, {"en", "eng"}, {"in", "ing"}, {"ian", "iang"}, {"uan", "uang"},
               {"ao", "ou"}, {"e", "o", "uo"}, {"ai", "ei"}, {"iu", "ou"}, {"u", "v"})

# 您 and 你 are one sound to the recogniser on a phone line (nin/ni; it writes 你好 for 您好
# and 祝你生活愉快 for 祝您…), so phrases are compared with 您 folded into 你.
FOLD = str.maketrans("您", "你")

CLAUSE_BREAKS = frozenset("，。！？；,.!?;\n")
QUOTE_PAIRS = {"“": "”", "「": "」", "『": "』", "‘": "’", '"': '"', "'": "'"}
CONDITIONALS = ("如果", "假如", "要是", "万一", "假设", "倘若", "若是", "如遇", "遇到")
CONDITIONAL_AFTER = ("的话",)
NEGATORS = ("不是", "并非", "并不", "没有", "没", "别", "不要", "不能", "不会", "从不", "绝不", "不可",
            "不得", "禁止", "杜绝", "避免")
SAYING = ("说", "讲")  # 不要说不知道: a negator may govern "say"
REPORTED_SPEECH = ("您说", "你说", "他说", "她说", "客户说", "您是说", "你是说")


# --- text preparation -------------------------------------------------------------


@lru_cache(maxsize=None)
def _syllable(ch: str) -> str:
    return lazy_pinyin(ch)[0] if "\u4e00" <= ch <= "\u9fff" else ch


def _spoken(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


@lru_cache(maxsize=None)
def _split_syllable(syllable: str) -> tuple[str, str]:
    for initial in INITIALS:
        if syllable.startswith(initial) and len(syllable) > len(initial):
            return initial, syllable[len(initial):]
    return "", syllable


def _in_group(a: str, b: str, groups: Iterable[set[str]]) -> bool:
    return any(a in g and b in g for g in groups)


@lru_cache(maxsize=4096)
def _near(a: str, b: str) -> bool:
    """Two different syllables a recogniser could mistake for each other (shao ~ shou)."""
    (ia, fa), (ib, fb) = _split_syllable(a), _split_syllable(b)
    if ia == ib:
        return _in_group(fa, fb, NEAR_FINALS)
    return fa == fb and _in_group(ia, ib, NEAR_INITIALS)


@dataclass(frozen=True)
class _Text:
    """One utterance ready for matching; positions are indices into ``clean``."""

    original: str
    clean: str  # lower-cased letters, digits and Han only
    folded: str  # clean with 您 → 你
    orig_at: tuple[int, ...]  # clean index -> index in original
    boundaries: frozenset[int]  # clean indices where a jieba word starts or ends
    syllables: tuple[str, ...]
    breaks_before: tuple[int, ...]  # clause marks in the original before each clean character

    def heard(self, start: int, end: int) -> str:
        return self.original[self.orig_at[start]:self.orig_at[end - 1] + 1]


@dataclass(frozen=True)
class _Candidate:
    clean: str
    folded: str  # clean with 您 → 你
    syllables: tuple[str, ...]
    payload: object
    whole_words: bool
    by_sound: bool
    # May have one wrong syllable: a missed courtesy phrase costs the agent points, a
    # forbidden phrase invented from a misheard syllable accuses them, so only courtesy.
    lenient: bool
    breaks: int  # clause marks inside the phrase (对不起，让您久等了 has one)
    short_word: bool  # must be a whole word at both ends (see _on_words)


@dataclass(frozen=True)
class _Found:
    start: int
    end: int
    confidence: float
    payload: object


class _Index:
    """Phrases looked up by the syllable they start with (or, for a misheard first syllable, the second)."""

    def __init__(self, phrases: Iterable[tuple[str, object, bool, bool, bool]]):
        self._by_first: dict[str, list[_Candidate]] = defaultdict(list)
        self._by_second: dict[str, list[_Candidate]] = defaultdict(list)
        for phrase, payload, whole_words, by_sound, lenient in phrases:
            clean = _spoken(phrase)
            folded = clean.translate(FOLD)
            candidate = _Candidate(clean, folded, tuple(_syllable(c) for c in folded), payload, whole_words,
                                   by_sound, lenient, _breaks(phrase),
                                   whole_words and len(clean) < LOOSE_EDGE_CHARS)
            self._by_first[candidate.syllables[0]].append(candidate)
            if len(clean) >= MIN_SOUND_CHARS and by_sound:
                self._by_second[candidate.syllables[1]].append(candidate)

    def find(self, text: _Text) -> list[_Found]:
        found = []
        syllables, none = text.syllables, ()
        for start in range(len(syllables)):
            at_word = start in text.boundaries
            second = self._by_second.get(syllables[start + 1], none) if start + 1 < len(syllables) else none
            for candidates in (self._by_first.get(syllables[start], none), second):
                for candidate in candidates:
                    if not at_word and candidate.short_word:
                        continue  # a short phrase must start on a word: the cheapest test first
                    confidence = _compare(candidate, text, start)
                    if confidence is not None:
                        found.append(_Found(start, start + len(candidate.clean), confidence, candidate.payload))
        return found


def _on_words(text: _Text, start: int, end: int) -> bool:
    """Short phrases must be whole words (请 inside 申请 is none); longer ones need a word edge
    on one side only, because jieba glues odd words across them (感谢你的来电祝你… → 电祝)."""
    if end - start >= LOOSE_EDGE_CHARS:
        return start in text.boundaries or end in text.boundaries
    return start in text.boundaries and end in text.boundaries


def _breaks(phrase: str) -> int:
    """How many places inside the phrase have clause marks (。。 counts once)."""
    marks = "".join(CLAUSE_BREAKS)
    return len(re.findall(f"[{re.escape(marks)}]+", phrase.strip(marks)))


def _compare(candidate: _Candidate, text: _Text, start: int) -> float | None:
    end = start + len(candidate.clean)
    if end > len(text.clean) or (candidate.whole_words and not _on_words(text, start, end)):
        return None
    # A phrase may run over a missing comma (ASR text has few) but not over one the phrase
    # lacks: 谢谢，您的反馈… is 谢谢, not 谢谢您.
    if text.breaks_before[end - 1] - text.breaks_before[start] > candidate.breaks:
        return None
    if text.clean[start:end] == candidate.clean:
        return 1.0
    window = text.folded[start:end]
    if window == candidate.folded:
        return SOUND_EQUAL_CONFIDENCE
    if not candidate.by_sound or len(window) < MIN_SOUND_CHARS:
        return None
    near = wild = 0
    for heard, expected in zip(text.syllables[start:end], candidate.syllables):
        if heard == expected:
            continue
        if _near(heard, expected):
            near += 1
        elif candidate.lenient and len(window) >= MIN_WILD_CHARS and not wild:
            wild = 1
        else:
            return None
    if near + wild > 1 + (len(window) - 1) // 6:
        return None
    same = sum(a == b for a, b in zip(window, candidate.folded))
    if same == 0 or (2 * same < len(window) and (near or wild or len(window) < MIN_HOMOPHONE_CHARS)):
        return None
    return SOUND_EQUAL_CONFIDENCE if near + wild == 0 else NEAR_SOUND_CONFIDENCE


# --- the matcher -----------------------------------------------------------------------

_BUILT: "weakref.WeakValueDictionary[int, PhraseMatcher]" = weakref.WeakValueDictionary()


class PhraseMatcher:
    """Build once per lexicon (loads jieba's dictionary, ~1 s); matching is then fast."""

    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon
        self._tokenizer = jieba.Tokenizer()
        self._tokenizer.initialize()
        for entry in lexicon.entries:
            clean = _spoken(entry.phrase)
            if 2 <= len(clean) <= MAX_WORD_CHARS and clean == entry.phrase:
                self._tokenizer.add_word(clean)
        self._entries = _Index((e.phrase, e, True, e.by_sound, e.category is Category.COURTESY)
                               for e in lexicon.entries)
        self._patterns = [(p, re.compile(p.regex)) for p in lexicon.patterns]
        # Script phrases count anywhere in the words: jieba glues 王先生 into one word.
        self._script = _Index((phrase, (item.key, group), False, True, True)
                              for item in lexicon.script
                              for group, phrases in (("need", item.need), ("also", item.also))
                              for phrase in phrases)
        self._also_patterns = {i.key: re.compile(i.also_pattern) for i in lexicon.script if i.also_pattern}
        _BUILT[id(lexicon)] = self

    @classmethod
    def for_lexicon(cls, lexicon: Lexicon) -> "PhraseMatcher":
        """The matcher already built for this lexicon object, or a new one."""
        built = _BUILT.get(id(lexicon))
        return built if built is not None and built.lexicon is lexicon else cls(lexicon)

    def match(self, utterances: Sequence[Utterance]) -> list[PhraseHit]:
        hits = [hit for u in utterances for hit in self._match_utterance(u)]
        return sorted(hits, key=lambda h: (h.start, h.end))

    def match_text(self, text: str, speaker: Speaker = Speaker.AGENT,
                   start: float = 0.0, end: float = 0.0) -> list[PhraseHit]:
        return self.match([Utterance(speaker=speaker, start=start, end=end, text=text)])

    def prepare(self, text: str) -> _Text:
        clean, orig_at, breaks_before, boundaries = [], [], [], {0}
        position = breaks = 0
        pending_break = False
        for token in self._tokenizer.cut(text, HMM=False):
            for ch in token:
                if ch.isalnum():
                    breaks += pending_break and bool(clean)
                    pending_break = False
                    clean.append(ch.lower())
                    orig_at.append(position)
                    breaks_before.append(breaks)
                elif ch in CLAUSE_BREAKS:
                    pending_break = True
                position += 1
            boundaries.add(len(clean))
        joined = "".join(clean)
        folded = joined.translate(FOLD)
        return _Text(text, joined, folded, tuple(orig_at), frozenset(boundaries),
                     tuple(_syllable(c) for c in folded), tuple(breaks_before))

    def script_found(self, text: _Text) -> dict[tuple[str, str], list[_Found]]:
        """Script phrases in the text, keyed by (item key, "need" | "also")."""
        found: dict[tuple[str, str], list[_Found]] = defaultdict(list)
        for f in self._script.find(text):
            found[f.payload].append(f)
        for key, pattern in self._also_patterns.items():
            for m in pattern.finditer(text.clean):
                found[(key, "also")].append(_Found(m.start(), m.end(), 1.0, (key, "also")))
        return found

    def _match_utterance(self, utterance: Utterance) -> list[PhraseHit]:
        text = self.prepare(utterance.text)
        if not text.clean:
            return []
        candidates = []
        for f in self._entries.find(text):
            entry: Entry = f.payload
            if _inside_exception(text, f.start, f.end, entry.exceptions):
                continue
            if entry.category is Category.FORBIDDEN and _excused(text, f.start, f.end):
                continue
            candidates.append((f, entry.category.value, entry.phrase, entry.severity, entry.suggestion))
        for pattern, regex in self._patterns:
            for m in regex.finditer(text.clean):
                if m.start() in text.boundaries and m.end() in text.boundaries and not _excused(text, m.start(), m.end()):
                    candidates.append((_Found(m.start(), m.end(), 1.0, pattern), Category.FORBIDDEN.value,
                                       pattern.display, pattern.severity, _fill(pattern, m)))
        return [self._hit(utterance, text, *c) for c in _without_overlaps(candidates)]

    def _hit(self, utterance: Utterance, text: _Text, found: _Found, category: str, phrase: str,
             severity: Severity | None, suggestion: str) -> PhraseHit:
        start, end = _time_span(utterance, text, found.start, found.end)
        return PhraseHit(category=category, phrase=phrase, speaker=utterance.speaker, start=start, end=end,
                         heard=text.heard(found.start, found.end), confidence=found.confidence,
                         severity=severity.value if severity else "", suggestion=suggestion,
                         context=utterance.text)


def _fill(pattern: Pattern, match: re.Match) -> str:
    suggestion = pattern.suggestion
    for name, value in zip(pattern.slots, match.groups()):
        suggestion = suggestion.replace("{" + name + "}", value)
    return suggestion


def _without_overlaps(candidates: list[tuple]) -> list[tuple]:
    """One hit per stretch of text and category: the longest, then the surest (请 inside 请您稍等 goes)."""
    kept: list[tuple] = []
    for c in sorted(candidates, key=lambda c: (-(c[0].end - c[0].start), -c[0].confidence, c[0].start)):
        found, category = c[0], c[1]
        if not any(k[1] == category and k[0].start < found.end and found.start < k[0].end for k in kept):
            kept.append(c)
    return sorted(kept, key=lambda c: c[0].start)


def _clause(text: _Text, start: int, end: int) -> tuple[str, str]:
    """The spoken characters before and after [start, end) within its clause (up to ，。？ …)."""
    begin, stop = text.orig_at[start], text.orig_at[end - 1] + 1
    clause_start = max((i + 1 for i in range(begin) if text.original[i] in CLAUSE_BREAKS), default=0)
    clause_end = next((i for i in range(stop, len(text.original)) if text.original[i] in CLAUSE_BREAKS),
                      len(text.original))
    return _spoken(text.original[clause_start:begin]), _spoken(text.original[stop:clause_end])


def _inside_exception(text: _Text, start: int, end: int, exceptions: tuple[str, ...]) -> bool:
    """Whether a larger harmless phrase (不知道您…) covers the hit inside its clause."""
    if not exceptions:
        return False
    before, after = _clause(text, start, end)
    clause, hit_start, hit_end = before + text.clean[start:end] + after, len(before), len(before) + end - start
    for larger in map(_spoken, exceptions):
        at = clause.find(larger)
        while 0 <= at <= hit_start:
            if at + len(larger) >= hit_end:
                return True
            at = clause.find(larger, at + 1)
    return False


def _excused(text: _Text, start: int, end: int) -> bool:
    """A forbidden phrase that is conditional, negated or quoted is not said to the customer."""
    if _quoted(text.original, text.orig_at[start]):
        return True
    before, after = _clause(text, start, end)
    if any(c in before for c in CONDITIONALS) or after.startswith(CONDITIONAL_AFTER):
        return True
    if _spoken(text.original[:text.orig_at[start]]).endswith(REPORTED_SPEECH):
        return True
    governed = before[:-1] if before.endswith(SAYING) else before
    return governed.endswith(NEGATORS)


def _quoted(original: str, position: int) -> bool:
    open_quote = None
    for ch in original[:position]:
        if open_quote is None and ch in QUOTE_PAIRS:
            open_quote = ch
        elif open_quote is not None and ch == QUOTE_PAIRS[open_quote]:
            open_quote = None
    return open_quote is not None


def _time_span(utterance: Utterance, text: _Text, start: int, end: int) -> tuple[float, float]:
    """Seconds covered by characters [start, end): from the words when the recogniser gave them."""
    if not utterance.words:
        return utterance.start, utterance.end
    owner: list[int] = []  # clean character -> index of the word it came from
    for k, word in enumerate(utterance.words):
        owner.extend([k] * len(_spoken(word.text)))
    if not owner:
        return utterance.start, utterance.end
    if len(owner) != len(text.clean):
        # Normalisation changed the length (digits expanded, hallucination removed): map by proportion.
        log.debug("word text and utterance text differ in length (%d vs %d): %r",
                  len(owner), len(text.clean), utterance.text)
        scale = len(owner) / len(text.clean)
        first, last = owner[min(int(start * scale), len(owner) - 1)], owner[min(int((end - 1) * scale), len(owner) - 1)]
    else:
        first, last = owner[start], owner[end - 1]
    # Word times come from the padded audio given to the recogniser and can spill a
    # little outside the utterance the VAD measured.
    begin = min(max(utterance.words[first].start, utterance.start), utterance.end)
    return begin, min(max(utterance.words[last].end, begin), utterance.end)


# --- the call script -----------------------------------------------------------------------


def check_script(utterances: Sequence[Utterance], lexicon: Lexicon,
                 silences: Sequence[Silence] = ()) -> list[ScriptCheck]:
    """Which required steps of the call (lexicon/script.txt) the agent did.

    Hold steps are only listed when the call had a hold: a silence after the agent's
    请稍等, or one that left the customer waiting after speaking.
    """
    agent, texts, found = _agent_script_phrases(utterances, lexicon)
    hold_ask = [i for i in lexicon.script if i.where is Where.BEFORE_HOLD]
    holds = [s for s in silences
             if s.last_speaker is Speaker.CUSTOMER
             or any(_said(item, [u], found, texts) for item in hold_ask for u in _before(agent, s))]
    checks = []
    for item in lexicon.script:
        if item.where in (Where.BEFORE_HOLD, Where.AFTER_HOLD):
            if holds:
                checks.append(_check_holds(item, agent, holds, found, texts))
            continue
        scope = {Where.FIRST: agent[:item.count], Where.LAST: agent[-item.count:] if agent else [],
                 Where.ANYWHERE: agent}[item.where]
        heard = _said(item, scope, found, texts)
        if heard:
            checks.append(ScriptCheck(item.label, True, "听到：" + "、".join(h for h, _ in heard), heard[0][1]))
        else:
            checks.append(ScriptCheck(item.label, False, item.hint, _due(item, scope)))
    return checks


def _due(item: ScriptItem, scope: Sequence[Utterance]) -> float | None:
    """When a missing step was due: the closing at the agent's last words, the opening at the first.

    The first utterance of a "last N" scope can be anything said near the end (a barge-in,
    a backchannel); the step belonged where the agent ended the call.
    """
    if not scope:
        return None
    return scope[-1].start if item.where is Where.LAST else scope[0].start


def mark_holds(silences: Sequence[Silence], utterances: Sequence[Utterance], lexicon: Lexicon) -> list[Silence]:
    """Silences announced with a hold request (请稍等) and closed with an apology (让您久等了),
    per the script's before-hold and after-hold items, marked as holds."""
    agent, texts, found = _agent_script_phrases(utterances, lexicon)

    def said(where: Where, scope: Sequence[Utterance]) -> bool:
        return _said_any(lexicon, where, scope, found, texts)

    return [replace(s, hold=said(Where.BEFORE_HOLD, _before(agent, s)) and said(Where.AFTER_HOLD, _after(agent, s)))
            for s in silences]


def announced(silences: Sequence[Silence], utterances: Sequence[Utterance], lexicon: Lexicon) -> list[bool]:
    """For each silence, whether the agent's words just before it asked the customer to wait (请稍等 …),
    closed by an apology or not."""
    agent, texts, found = _agent_script_phrases(utterances, lexicon)
    return [_said_any(lexicon, Where.BEFORE_HOLD, _before(agent, s), found, texts) for s in silences]


def asks_to_hold(utterance: Utterance, lexicon: Lexicon) -> bool:
    """The agent's utterance asks the customer to wait (the script's before-hold item: 请稍等 …)."""
    agent, texts, found = _agent_script_phrases([utterance], lexicon)
    return _said_any(lexicon, Where.BEFORE_HOLD, agent, found, texts)


def _agent_script_phrases(utterances: Sequence[Utterance], lexicon: Lexicon) -> tuple[list[Utterance], dict, dict]:
    """The agent's utterances in time order, each one's prepared text and the script phrases in it."""
    matcher = PhraseMatcher.for_lexicon(lexicon)
    agent = sorted((u for u in utterances if u.speaker is Speaker.AGENT), key=lambda u: u.start)
    texts = {id(u): matcher.prepare(u.text) for u in agent}
    return agent, texts, {id(u): matcher.script_found(texts[id(u)]) for u in agent}


def _said_any(lexicon: Lexicon, where: Where, scope: Sequence[Utterance], found: dict, texts: dict) -> bool:
    """The agent said in ``scope`` one of the script items of kind ``where``."""
    return any(_said(item, scope, found, texts) for item in lexicon.script if item.where is where)


def _said(item: ScriptItem, scope: Sequence[Utterance], found: dict, texts: dict) -> list[tuple[str, float]]:
    """What the agent said in ``scope`` that satisfies the item, as (heard, seconds); [] if not all of it."""
    heard: dict[str, list[tuple[str, float]]] = {"need": [], "also": []}
    for u in scope:
        for group in heard:
            for f in found[id(u)].get((item.key, group), []):
                heard[group].append((texts[id(u)].heard(f.start, f.end), _time_span(u, texts[id(u)], f.start, f.end)[0]))
    needs_also = bool(item.also or item.also_pattern)
    if not heard["need"] or (needs_also and not heard["also"]):
        return []
    return heard["need"][:1] + heard["also"][:1]


def _before(agent: Sequence[Utterance], silence: Silence) -> list[Utterance]:
    last = [u for u in agent if u.end <= silence.start + 0.1]
    return last[-1:] if last and last[-1].end >= silence.start - HOLD_WORDS_WINDOW_S else []


def _after(agent: Sequence[Utterance], silence: Silence) -> list[Utterance]:
    first = [u for u in agent if u.start >= silence.end - 0.1]
    return first[:1] if first and first[0].start <= silence.end + HOLD_WORDS_WINDOW_S else []


def _check_holds(item: ScriptItem, agent: Sequence[Utterance], holds: Sequence[Silence],
                 found: dict, texts: dict) -> ScriptCheck:
    side = _before if item.where is Where.BEFORE_HOLD else _after
    missed, heard = [], []
    for hold in holds:
        said = _said(item, side(agent, hold), found, texts)
        if said:
            heard.extend(said)
        elif item.where is Where.BEFORE_HOLD or side(agent, hold):  # no words after = call ended on hold
            missed.append(hold)
    if missed:
        when = "、".join(_clock(h.start) for h in missed)
        return ScriptCheck(item.label, False, f"{item.hint}（{when} 的等待）".strip(), missed[0].start)
    return ScriptCheck(item.label, True, "听到：" + "、".join(h for h, _ in heard[:3]),
                       heard[0][1] if heard else None)


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
