"""Roles stage: which of the two voices of a mixed call is the agent, and why.

Run after recognition, on each voice's utterances as if it were the agent's.  Each cue gives
its voice points, the strongest first:

* known voice (3): the agent's voice enrolled by `coach batch` (a manifest with agent_id) is
  clearly closer to one voice than to the other;
* greeting (3): the script's opening step — a greeting with the staff number (您好，工号…)
  — among the voice's first words, within `OPENING_S` of the call's first speech;
* closing (1.5): the script's closing steps (还有其他可以帮您的吗、感谢您的来电、再见) among
  the voice's last words;
* courtesy (1): clearly more courtesy words per character than the other voice;
* first speaker (0.5): the agent answers the call, so usually speaks first — but a recorder
  that starts on the customer's 喂 proves it wrong, so it only tips an otherwise even call.

The voice with the most points is the agent.  The choice is sure when it leads by `SURE`
points or more (a greeting or a known voice alone; closing and courtesy together); otherwise
the report says the roles are uncertain and batch marks the call for review.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from coach.lexicon import Lexicon
from coach.phrases import PhraseMatcher, check_script
from coach.results import Cue, Speaker, Utterance

POINTS = {Cue.KNOWN_VOICE: 3.0, Cue.GREETING: 3.0, Cue.CLOSING: 1.5, Cue.COURTESY: 1.0, Cue.FIRST: 0.5}
SURE = 2.0
OPENING_S = 30.0  # the greeting counts within this long after the call's first speech
OPENING_STEPS = ("opening",)  # lexicon/script.txt keys
CLOSING_STEPS = ("anything-else", "closing")
COURTESY_RATIO = 1.5  # this many times the other voice's courtesy words per character …
MIN_COURTESY = 2  # … and at least this many of them
KNOWN_MIN_SIMILARITY = 0.5  # an enrolled voice must be this close to one voice …
KNOWN_MIN_LEAD = 0.15  # … and this much closer to it than to the other

_WORDS = {Cue.KNOWN_VOICE: "与登记的坐席声音一致", Cue.GREETING: "开场问候并报工号", Cue.CLOSING: "结束语",
          Cue.COURTESY: "礼貌用语明显更多", Cue.FIRST: "先开口说话"}


@dataclass(frozen=True)
class RoleChoice:
    agent: int  # which voice is the agent's (0: the one that spoke first)
    cues: tuple[Cue, ...]  # what points to it, strongest first
    reason: str  # the same in words, for the report
    sure: bool


def choose_agent(voices: Sequence[Sequence[Utterance]], lexicon: Lexicon, matcher: PhraseMatcher,
                 prints: np.ndarray | None = None, known_voice: np.ndarray | None = None) -> RoleChoice:
    """The agent among two voices (each voice's utterances, in the order the voices first spoke)."""
    cues: list[set[Cue]] = [set(), set()]
    start = min((u.start for v in voices for u in v), default=0.0)
    steps = {item.key: item.label for item in lexicon.script}
    for k, said in enumerate(voices):
        heard_at = _script_steps_heard(said, lexicon)
        if any(heard_at.get(steps.get(key), np.inf) <= start + OPENING_S for key in OPENING_STEPS):
            cues[k].add(Cue.GREETING)
        if any(steps.get(key) in heard_at for key in CLOSING_STEPS):
            cues[k].add(Cue.CLOSING)
    courtesy = [_courtesy_density(v, matcher) for v in voices]
    for k in (0, 1):
        hits, density = courtesy[k]
        if hits >= MIN_COURTESY and density >= COURTESY_RATIO * courtesy[1 - k][1]:
            cues[k].add(Cue.COURTESY)
    cues[0].add(Cue.FIRST)
    if known_voice is not None and prints is not None and len(prints) == 2:
        similarity = prints @ known_voice
        closer = int(np.argmax(similarity))
        if similarity[closer] >= KNOWN_MIN_SIMILARITY and similarity[closer] - similarity[1 - closer] >= KNOWN_MIN_LEAD:
            cues[closer].add(Cue.KNOWN_VOICE)
    points = [sum(POINTS[c] for c in found) for found in cues]
    agent = 0 if points[0] >= points[1] else 1
    lead = points[agent] - points[1 - agent]
    ordered = tuple(c for c in POINTS if c in cues[agent])
    sure = lead >= SURE
    because = "、".join(_WORDS[c] for c in ordered) or "无"
    against = "、".join(_WORDS[c] for c in POINTS if c in cues[1 - agent])
    reason = f"判断为坐席的依据：{because}" + (f"（另一方：{against}）" if against else "")
    if not sure:
        reason += "。依据不足，坐席与客户可能分反，请人工复核"
    return RoleChoice(agent, ordered, reason, sure)


def greets(said: Sequence[Utterance], lexicon: Lexicon) -> bool:
    """Whether these words hold the script's opening greeting with the staff number (the greeting cue)."""
    steps = {item.key: item.label for item in lexicon.script}
    return any(steps.get(key) in _script_steps_heard(said, lexicon) for key in OPENING_STEPS)


def _script_steps_heard(said: Sequence[Utterance], lexicon: Lexicon) -> dict[str, float]:
    """Script step label → when it was said, for the steps one voice said (heard as if the agent's)."""
    as_agent = [replace(u, speaker=Speaker.AGENT) for u in said]
    return {c.item: c.start for c in check_script(as_agent, lexicon) if c.ok and c.start is not None}


def _courtesy_density(said: Sequence[Utterance], matcher: PhraseMatcher) -> tuple[int, float]:
    """Courtesy words, and per character, in one voice's speech."""
    as_agent = [replace(u, speaker=Speaker.AGENT) for u in said]
    hits = sum(1 for h in matcher.match(as_agent) if h.category == "courtesy")
    chars = sum(u.chars for u in said)
    return hits, hits / chars if chars else 0.0
