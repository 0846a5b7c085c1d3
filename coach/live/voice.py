"""Whose voice a piece of speech is, on a single line that carries both parties (live).

`coach analyze` tells the voices of a mixed recording apart after the call, from all of it
(`coach.diarize`, `coach.roles`).  Live there is only what was said so far, so the rule is
simpler: the agent answers the call, so the first voice heard (or the agent's enrolled voice,
when given) is taken for the agent's; every later piece of speech is compared with it, and a
piece in another voice is the customer's — it goes to the transcript as theirs and raises no
alert.  That is what keeps the agent from being blamed for the customer's words.

A recorder that starts on the customer's 喂 makes the first voice the customer's: when the
other voice then says the opening greeting with the staff number (`coach.roles.greets`), the
session calls `swap` once and the two voices trade roles from there on.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from coach.config import SeparationOptions
from coach.diarize import VoiceSeparator
from coach.results import Span, Speaker

# A piece whose voice print is at least this close to the agent's is the agent's.  Between
# 1.5 s windows of one real speaker the cosine runs 0.42–0.98, between two speakers −0.09–0.28
# (5th–95th percentile, the mixed calls of the tune half: bench/README.md); a piece's print is
# the mean of its windows, closer still to its speaker's.
SAME_VOICE = 0.45


class AgentVoice:
    """The agent's voice on a mixed line, learned from the first speech (or `known`)."""

    def __init__(self, separator: VoiceSeparator, options: SeparationOptions, known: np.ndarray | None = None):
        self._separator = separator
        self._options = options
        self._agent = None if known is None else np.asarray(known, np.float32)
        self._other: np.ndarray | None = None  # the last piece in the other voice
        self._heard = 0  # pieces the agent's voice is the mean of (0: given, not learned)
        self.swapped = False

    def speaker(self, samples: np.ndarray, spans: Sequence[Span]) -> Speaker:
        """Whose speech `spans` (on the clock of `samples`) are; too short to tell: the agent's."""
        print_ = self._separator.voiceprint(samples, spans, self._options)
        if print_ is None:
            return Speaker.AGENT
        if self._agent is None:
            self._agent, self._heard = print_, 1
            return Speaker.AGENT
        if float(print_ @ self._agent) < SAME_VOICE:
            self._other = print_
            return Speaker.CUSTOMER
        if self._heard:  # a learned voice gets surer with every piece; an enrolled one stays as given
            mean = self._agent * self._heard + print_
            self._agent, self._heard = mean / np.linalg.norm(mean), self._heard + 1
        return Speaker.AGENT

    def swap(self) -> bool:
        """The other voice greeted like an agent: it is the agent's from now on.  Once only, and
        never against an enrolled voice; whether it swapped."""
        if self.swapped or not self._heard or self._other is None:
            return False
        self._agent, self._other, self._heard, self.swapped = self._other, self._agent, 1, True
        return True
