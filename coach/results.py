"""Results shared by all stages: frozen dataclasses, times in seconds from file start."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Speaker(str, enum.Enum):
    AGENT = "agent"
    CUSTOMER = "customer"


class Layout(str, enum.Enum):
    STEREO = "stereo"  # one party per channel
    MONO = "mono"  # one speaker on one channel: the agent alone (a headset self-review)
    MIXED = "mixed"  # both parties on one channel, told apart by voice


class Source(str, enum.Enum):
    """Where a party's voice was taken from."""

    LEFT = "left"
    RIGHT = "right"
    MONO = "mono"  # the whole single channel
    SEPARATED = "separated"  # their share of a mixed channel


class Cue(str, enum.Enum):
    """What shows which voice of a mixed call is the agent's."""

    KNOWN_VOICE = "known_voice"  # the agent's enrolled voice (coach batch with agent_id)
    GREETING = "greeting"  # the opening greeting with the staff number (工号)
    CLOSING = "closing"  # 还有其他可以帮您的吗 / 感谢您的来电 … at the end
    COURTESY = "courtesy"  # clearly more courtesy words per character than the other voice
    FIRST = "first_speaker"  # spoke first (the agent answers the call)


class Metric(str, enum.Enum):
    RATE = "rate"
    SILENCE = "silence"
    INTERRUPTION = "interruption"
    PITCH = "pitch"
    PHRASES = "phrases"
    SCRIPT = "script"


@dataclass(frozen=True)
class Party:
    """One party the analysis measured, and where their voice came from."""

    speaker: Speaker
    source: Source


@dataclass(frozen=True)
class Measurability:
    """Whether a metric could be measured on this recording, and if not, why (Chinese, for the report)."""

    metric: Metric
    measurable: bool
    reason: str = ""


class Verdict(str, enum.Enum):
    TOO_SLOW = "too_slow"
    OK = "ok"
    TOO_FAST = "too_fast"
    NO_SPEECH = "no_speech"


@dataclass(frozen=True)
class Span:
    """A stretch of time [start, end) in seconds."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Word:
    """One recognised word (for Mandarin usually one or two characters)."""

    start: float
    end: float
    text: str
    probability: float = 1.0


@dataclass(frozen=True)
class Utterance:
    """A stretch of one party's speech with internal pauses < 1.0 s.

    Its span comes from the voice activity, never from where the recogniser put words:
    an utterance the recogniser returned nothing for is still speech (``text`` is empty
    and the report says it was not transcribed).  ``text`` is the normalised transcript
    (simplified, hallucinations removed); ``raw_text`` what the recogniser wrote;
    ``chars`` the spoken characters in the transcript (digits and Latin expanded);
    ``syllables`` the syllable nuclei counted in the audio (`coach.syllables`), which the
    speaking rate checks ``chars`` against.
    """

    speaker: Speaker
    start: float
    end: float
    text: str
    raw_text: str = ""
    chars: int = 0
    words: tuple[Word, ...] = ()
    syllables: int = 0

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def transcribed(self) -> bool:
        return bool(self.text.strip())


@dataclass(frozen=True)
class PhraseHit:
    """One lexicon hit in a transcript.

    ``heard`` is what the recogniser actually wrote (may differ from ``phrase``
    when matched by sound); ``confidence`` is 1.0 for an exact word match.
    """

    category: str  # "courtesy" | "forbidden" | "filler" | "script" | ...
    phrase: str
    speaker: Speaker
    start: float
    end: float
    heard: str = ""
    confidence: float = 1.0
    severity: str = ""
    suggestion: str = ""
    context: str = ""  # the utterance text around the hit, for the quote


@dataclass(frozen=True)
class ScriptCheck:
    """One required item of the call script (greeting with staff id, closing …).

    ``item`` is the Chinese label shown to the agent; ``start`` is when the item was
    heard, or where it was missed (a hold), or None when there is no moment to point at.
    """

    item: str
    ok: bool
    detail: str = ""
    start: float | None = None


@dataclass(frozen=True)
class PitchStats:
    """F0 statistics of the agent's voiced speech; ``monotone`` is None when there was too little
    of it to judge, ``flat_below_st`` the threshold it was judged against."""

    median_hz: float | None
    semitone_std: float | None
    monotone: bool | None
    voiced_s: float = 0.0
    flat_below_st: float | None = None


@dataclass(frozen=True)
class Silence:
    start: float
    end: float
    last_speaker: Speaker | None  # who spoke just before; None at the start of the file
    hold: bool = False

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Interruption:
    start: float  # agent onset
    end: float  # end of the overlap
    overlap_s: float
    agent_text: str = ""
    customer_text: str = ""


@dataclass(frozen=True)
class RateStats:
    """The agent's speaking rate.  ``chars`` is what the rate counts: the transcript's
    characters (``asr_chars``), corrected by ``from_syllables`` where the audio's syllables show
    the recogniser dropped words (added) or invented them (taken away); ``syllables`` is the
    audio's own count throughout."""

    chars: int
    speaking_s: float
    chars_per_min: float | None
    verdict: Verdict
    target_min: float
    target_max: float
    asr_chars: int = 0
    syllables: int = 0
    syllables_per_min: float | None = None
    from_syllables: int = 0


@dataclass(frozen=True)
class UtteranceRate:
    start: float
    end: float
    chars: int
    chars_per_min: float
    verdict: Verdict
    text: str


@dataclass(frozen=True)
class UtterancePitch:
    start: float
    end: float
    stats: PitchStats


@dataclass(frozen=True)
class Evidence:
    """One moment behind a score item: where it happened, what was said, what it means."""

    start: float | None  # None when there is no moment to point at (a missing script step)
    end: float | None
    quote: str = ""  # the words at that moment (transcript text)
    detail: str = ""  # a short Chinese description: 静默 7.0 秒, 缺少: 开场问候 …


@dataclass(frozen=True)
class ScoreItem:
    """One line of the scorecard as applied to a call.

    ``measure`` is the `coach.scorecard.Measure` value the item scores; ``critical``
    items fail the whole call with one hit (``hits`` > 0).  An item the call gave nothing to
    measure (no agent speech, interruptions on a mono recording, too little voice for pitch)
    is not ``applicable``: it earns nothing, costs nothing, and leaves the total's denominator
    (``detail`` says why).
    """

    name: str
    points: float
    max_points: float
    detail: str = ""
    evidence: tuple[Evidence, ...] = ()
    measure: str = ""
    critical: bool = False
    hits: int = 0
    applicable: bool = True


@dataclass(frozen=True)
class Score:
    """``total`` out of 100 over the applicable items; 0 when a critical item was hit (一票否决);
    None when the call cannot be scored at all (``not_scored`` says why: no agent speech, a
    fraction of a second of audio) — such a call is left out of every average.  ``earned`` is
    the applicable items' points as they add up, out of ``possible``."""

    total: float | None
    items: tuple[ScoreItem, ...] = field(default_factory=tuple)
    earned: float | None = None
    failed: bool = False
    scorecard: str = ""  # the scorecard's name
    possible: float | None = None
    not_scored: str = ""


@dataclass(frozen=True)
class QaFigures:
    """The figures QA teams compare across agents (docs/design.md): None where there is no customer
    side to compare with (a mono recording) or no agent speech."""

    talk_listen_ratio: float | None  # agent speaking time ÷ customer speaking time
    agent_turns: int
    customer_turns: int | None
    first_response_s: float | None  # recording start → the agent's first words
    hold_s: float  # announced holds (请稍等 … 让您久等了), in all
    rate_gap: float | None  # the agent's chars/min − the customer's


@dataclass(frozen=True)
class Separation:
    """How the voices on one channel were told apart, and how sure that is.

    ``voices`` is 1 (one speaker: analysed as the agent alone) or 2 (a mixed call: each
    party's speech measured apart), decided by ``contrast`` against ``threshold``
    (`coach.diarize.contrast`); ``similarity`` the cosine between the two voices found; ``confidence`` the share of the speech that is clearly
    one voice or the other.  ``agent_cues`` say why that voice is the agent's (`Cue` values,
    ``agent_reason`` in words).  ``uncertain`` is why the result may be wrong, "" when it is
    sure: the report says it plainly and a batch row is marked for review, not scored.
    """

    voices: int
    similarity: float | None
    threshold: float
    confidence: float
    contrast: float | None = None  # what decides one voice or two: two at ``threshold`` or more
    agent_cues: tuple[str, ...] = ()
    agent_reason: str = ""
    uncertain: str = ""


@dataclass(frozen=True)
class Report:
    """Everything `coach analyze` found in one recording.

    ``speakers`` says who was measured and where each voice came from; ``measurable`` says,
    metric by metric, whether it could be measured here and why not — the writers, the
    scoring and the store read those, never the layout.
    """

    source: str
    duration_s: float
    layout: Layout
    speakers: tuple[Party, ...]
    utterances: tuple[Utterance, ...]
    rate: RateStats
    utterance_rates: tuple[UtteranceRate, ...]
    silences: tuple[Silence, ...]
    interruptions: tuple[Interruption, ...]
    pitch: PitchStats
    utterance_pitch: tuple[UtterancePitch, ...]
    phrases: tuple[PhraseHit, ...]
    script: tuple = ()  # ScriptCheck items (coach.results.ScriptCheck)
    score: Score = Score(0.0)
    notes: tuple[str, ...] = ()  # facts a reader needs: mono, no speech, truncated …
    timings: tuple[tuple[str, float], ...] = ()  # (stage, seconds)
    # The agent's F0 downsampled for plotting: (time s, median Hz of the voiced frames in a bin).
    pitch_contour: tuple[tuple[float, float], ...] = ()
    measurable: tuple[Measurability, ...] = ()
    qa: QaFigures | None = None
    customer_rate: RateStats | None = None
    separation: Separation | None = None  # a mono recording whose voices were told apart
    # The agent's voice print (CAM++, unit length) where the agent's voice is known for sure,
    # for enrolment by coach batch; never written into the report.
    agent_voiceprint: tuple[float, ...] | None = None

    def can_measure(self, metric: Metric) -> bool:
        return next((m.measurable for m in self.measurable if m.metric is metric), True)

    def why_not_measured(self, metric: Metric) -> str:
        return next((m.reason for m in self.measurable if m.metric is metric and not m.measurable), "")

    def source_of(self, speaker: Speaker) -> Source | None:
        return next((p.source for p in self.speakers if p.speaker is speaker), None)
