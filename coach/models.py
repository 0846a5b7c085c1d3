"""Everything the analysis needs that is expensive to build: loaded once per process.

`coach analyze`, each batch worker and a live session build one `Models` and pass it to
`coach.pipeline.analyze` (and the live watchers) for every recording; nothing else loads a
model.  The speaker-embedding model (CAM++) is loaded with the rest: every mono recording may
be a mixed call.  Swapping the recogniser is a different `recognizer` here (any `coach.asr.Recognizer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from coach.asr import Recognizer
from coach.config import Options
from coach.diarize import VoiceSeparator
from coach.lexicon import load_lexicon
from coach.phrases import PhraseMatcher
from coach.scorecard import Scorecard, load_scorecard
from coach.vad import SpeechDetector


@dataclass(frozen=True)
class Models:
    options: Options
    detector: SpeechDetector
    recognizer: Recognizer
    matcher: PhraseMatcher
    scorecard: Scorecard
    separator: VoiceSeparator  # CAM++ voice prints: two voices on one channel told apart

    @classmethod
    def load(cls, options: Options = Options(), model_dir: str | Path | None = None,
             lexicon_dirs: Sequence[str | Path] = (), scorecard: Scorecard | None = None,
             speaker_model: str | Path | None = None) -> Models:
        """The bundled models (silero VAD, Whisper from `model_dir`, CAM++ from `speaker_model`,
        the lexicons merged over lexicon/), checked as they load: a missing or broken model is a
        `ModelError`."""
        from coach.whisper import WhisperRecognizer  # the engine coach ships

        return cls(options=options, detector=SpeechDetector(options.vad),
                   recognizer=WhisperRecognizer(model_dir, options.asr),
                   matcher=PhraseMatcher(load_lexicon(lexicon_dirs)),
                   scorecard=scorecard or load_scorecard(), separator=VoiceSeparator(speaker_model))
