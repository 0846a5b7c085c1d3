"""Live events: facts with the stream time they were raised (`t`) and the moment they are about (`at`).

Watchers raise them; the view decides which become alerts, and how (`coach.live.view.AlertBoard`);
`coach live --events` writes them one JSON object a line.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class EventType(str, enum.Enum):
    SILENCE = "silence"
    INTERRUPTION = "interruption"
    RATE = "rate"
    PITCH = "pitch"
    PHRASE = "phrase"
    SCRIPT = "script"


@dataclass(frozen=True)
class LiveEvent:
    t: float  # stream time when raised
    type: EventType
    at: float  # stream time of what it is about (silence start, agent onset, utterance start …)
    message: str  # the coaching line shown to the agent
    data: dict = field(default_factory=dict)  # type-specific figures (JSON-ready)

    def to_dict(self) -> dict:
        return {"t": round(self.t, 2), "type": self.type.value, "at": round(self.at, 2),
                "message": self.message, **self.data}
