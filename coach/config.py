"""Analysis options: the centre's standard as frozen dataclasses, loadable from TOML.

Every threshold docs/design.md names lives here with its default and the values it
accepts (`setting`); a config file only lists what it changes.  Unknown keys, wrong
types and values out of range are errors naming the file, the key, the value and
the fix: a typo must not silently fall back to a default, and `min_s = nan` must
not silently turn a check off.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Collection

from coach.errors import ConfigError


@dataclass(frozen=True)
class Limits:
    """The values a setting accepts, declared beside its default with `setting`."""

    above: float | None = None  # exclusive lower bound
    at_least: float | None = None
    below: float | None = None  # exclusive upper bound
    at_most: float | None = None
    choices: Callable[[], Collection[str]] | None = None  # a function: long lists load only when needed
    text: bool = False  # free text: any string

    def accepts(self, value: Any) -> bool:
        if isinstance(value, str):
            return self.text or (self.choices is not None and value in self.choices())
        # NaN compares false with everything and infinity passes every lower bound: neither is a setting.
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return ((self.above is None or value > self.above) and (self.at_least is None or value >= self.at_least)
                and (self.below is None or value < self.below) and (self.at_most is None or value <= self.at_most))

    def describe(self) -> str:
        if self.text:
            return "any text"
        if self.choices is not None:
            names = sorted(self.choices())
            return "one of " + ", ".join(names[:12]) + (f" … ({len(names)} in all)" if len(names) > 12 else "")
        low = (f"above {self.above:g}" if self.above is not None
               else f"{self.at_least:g} or more" if self.at_least is not None else None)
        high = (f"below {self.below:g}" if self.below is not None
                else f"at most {self.at_most:g}" if self.at_most is not None else None)
        return "a number " + (" and ".join(part for part in (low, high) if part) or "that is finite")


def setting(default: Any, **limits: Any) -> Any:
    """A dataclass field: its default and the values it accepts (the keywords of `Limits`)."""
    return field(default=default, metadata={"limits": Limits(**limits)})


def _whisper_languages() -> Collection[str]:
    # faster-whisper's table of the codes Whisper was trained on (it has no public name).
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return _LANGUAGE_CODES


def _compute_types() -> Collection[str]:
    # CTranslate2's quantisation types (opennmt.net/CTranslate2/quantization.html); one the CPU
    # lacks is replaced by the nearest it has, so each of them runs.
    return ("default", "auto", "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16",
            "float16", "bfloat16", "float32")


@dataclass(frozen=True)
class RateOptions:
    target_min: float = setting(120.0, above=0, at_most=1000)  # 字/分钟
    target_max: float = setting(140.0, above=0, at_most=1000)
    min_utterance_chars: int = setting(4, at_least=0, at_most=1000)  # per-utterance rates skip shorter utterances
    # The audio's syllables replace the transcript's characters in an utterance only when they
    # exceed them by more than this share (the syllable counter's own spread): the recogniser
    # dropped words there.
    syllable_margin: float = setting(0.5, at_least=0, at_most=10)


@dataclass(frozen=True)
class TurnOptions:
    max_pause_s: float = setting(1.0, at_least=0, at_most=60)  # pauses shorter than this stay inside one utterance


@dataclass(frozen=True)
class SilenceOptions:
    min_s: float = setting(5.0, above=0, at_most=3600)  # 冷场: longer than this with neither party speaking


@dataclass(frozen=True)
class InterruptionOptions:
    min_overlap_s: float = setting(1.0, at_least=0, at_most=60)
    backchannel_max_s: float = setting(1.0, at_least=0, at_most=60)  # agent utterances shorter than this are backchannels
    backchannel_max_chars: int = setting(4, at_least=0, at_most=100)  # … or with fewer characters (嗯、对、好的)


@dataclass(frozen=True)
class PitchOptions:
    """The pitch stage (`coach.pitch`): its tracker's settings and the flat-voice verdict."""

    fmin_hz: float = setting(75.0, at_least=30, below=2000)  # YIN below 30 Hz: no voice, long frames
    fmax_hz: float = setting(500.0, above=30, at_most=2000)
    # A semitone spread below this is a flat voice.  Calibrated on real speakers (bench/README.md):
    # natural read speech of 41 real speakers measured 0.97–4.7 st (1.37 and up with ≥ 3 s of
    # voiced speech), the same speakers flattened by Praat 0.06–0.7 st; conversation runs higher.
    monotone_below_st: float = setting(1.0, above=0, at_most=24)
    verdict_min_voiced_s: float = setting(3.0, at_least=0, at_most=600)  # less voiced agent speech: no verdict
    hop_s: float = setting(0.01, at_least=0.001, at_most=0.1)
    min_periodicity: float = setting(0.6, at_least=0, at_most=1)  # normalised autocorrelation at the period
    silence_db: float = setting(35.0, above=0, at_most=120)  # below the loudest agent frame → not voiced
    jump_st: float = setting(8.0, above=0, at_most=48)  # from the running median → tracking error
    median_window_s: float = setting(0.31, above=0, at_most=10)
    octave_st: float = setting(10.0, above=0, at_most=48)  # from the overall median → tracking error
    min_run_s: float = setting(0.03, at_least=0, at_most=10)
    min_voiced_s: float = setting(0.5, at_least=0, at_most=600)  # less voiced speech → no figure (per utterance too)


@dataclass(frozen=True)
class SyllableOptions:
    """The syllable counter (`coach.syllables`): how a nucleus stands out of the voice envelope."""

    prominence_db: float = setting(2.5, above=0, at_most=40)  # above the dips on either side
    floor_db: float = setting(25.0, above=0, at_most=120)  # at most this far under the span's loudest frame
    min_distance_s: float = setting(0.08, above=0, at_most=1)  # from the next nucleus
    min_periodicity: float = setting(0.15, at_least=0, at_most=1)  # voiced: autocorrelation at a speaking pitch
    # Nuclei × this = syllables: connected speech merges some syllables into one hump.  Measured
    # on the tune half of the real-voice bank (exact transcripts): 0.90 nuclei per character.
    scale: float = setting(1.11, above=0, at_most=10)


@dataclass(frozen=True)
class VadOptions:
    threshold: float = setting(0.5, above=0, below=1)  # silero speech probability that starts speech
    neg_threshold: float = setting(0.35, above=0, below=1)  # … and below which speech ends
    min_speech_s: float = setting(0.15, at_least=0, at_most=10)  # shorter blips are clicks or bleed residue
    min_gap_s: float = setting(0.2, at_least=0, at_most=10)  # shorter gaps inside speech are closed
    crosstalk_margin_db: float = setting(6.0, at_least=0, at_most=60)  # own speech must beat the bleed estimate by this
    edge_drop_db: float = setting(30.0, at_least=0, at_most=120)  # a span's edges move out while the level is within this of its peak
    noise_margin_db: float = setting(2.0, at_least=0, at_most=60)  # … and stands at least this far above the line's noise floor (more on unsteady noise)
    max_edge_s: float = setting(0.8, at_least=0, at_most=10)  # … by at most this much each side


@dataclass(frozen=True)
class AsrOptions:
    language: str = setting("zh", choices=_whisper_languages)
    beam_size: int = setting(1, at_least=1, at_most=50)
    compute_type: str = setting("int8", choices=_compute_types)
    cpu_threads: int = setting(0, at_least=0, at_most=1024)  # 0: CTranslate2 decides
    # Whisper writes traditional characters and skips punctuation without a prompt
    # in the target style; a short simplified sentence with punctuation fixes both.
    initial_prompt: str = setting("以下是普通话客服电话的录音，请用简体中文。", text=True)
    # Words Whisper is nudged towards in every 30 s window (faster-whisper `hotwords`); "" = none.
    # Off on purpose: with the lexicon's courtesy phrases here, bench/bench_phrases.py measured
    # decoding ~10x slower, invented 请 and worse precision, recall and character error rate.
    hotwords: str = setting("", text=True)
    pad_s: float = setting(0.2, at_least=0, at_most=5)  # context kept around each speech span fed to the model
    gap_s: float = setting(0.5, at_least=0, at_most=5)  # silence put between spans, so Whisper hears where a turn starts
    piece_s: float = setting(20.0, above=0, at_most=30)  # turns longer than this are cut at their longest pauses for decoding
    window_s: float = setting(28.0, above=0, at_most=30)  # pieces are packed into model windows of at most this much audio
    batch_size: int = setting(8, at_least=1, at_most=256)  # windows decoded together
    # A piece whose transcript holds fewer characters than this share of the syllables the
    # audio shows (and at least retry_min_syllables of them) is decoded again, carefully.
    min_coverage: float = setting(0.6, at_least=0, at_most=1)
    retry_min_syllables: int = setting(3, at_least=0, at_most=1000)


@dataclass(frozen=True)
class SeparationOptions:
    """Telling two voices apart on one channel (`coach.diarize`), and how sure it must be."""

    window_s: float = setting(1.5, at_least=0.5, at_most=10)  # speech each voice print is taken over
    # … one every this much of a longer stretch of speech: the frames between take the nearest
    # windows' voice (denser windows cost more than they gained: bench/README.md)
    hop_s: float = setting(3.0, above=0, at_most=30)
    min_span_s: float = setting(0.4, at_least=0.1, at_most=10)  # shorter speech takes its neighbour's voice
    # Two voices when the two clusters' contrast (`coach.diarize.contrast`) is at least this
    # (set on the tune half of the real-voice bank: bench/bench_mixed.py, bench/README.md).
    two_voices_contrast: float = setting(0.33, above=0, below=2)
    # … and the decision is uncertain this close to the line, either side (the report says so).
    decision_band: float = setting(0.05, at_least=0, at_most=1)
    # A second "voice" with less of the speech than this share, or these seconds, is a cough or a noise.
    min_voice_share: float = setting(0.1, at_least=0, below=0.5)
    min_voice_s: float = setting(4.0, at_least=0, at_most=600)
    clear_margin: float = setting(0.1, at_least=0, at_most=2)  # a window this much closer to one voice is clearly theirs
    min_confidence: float = setting(0.8, at_least=0, at_most=1)  # less clear speech than this: roles marked for review


@dataclass(frozen=True)
class AudioOptions:
    # Longer recordings are refused before they are decoded (3 h of stereo is 1.4 GB of samples).
    max_duration_s: float = setting(3 * 3600.0, above=0, at_most=24 * 3600)


@dataclass(frozen=True)
class Options:
    rate: RateOptions = field(default_factory=RateOptions)
    turns: TurnOptions = field(default_factory=TurnOptions)
    silence: SilenceOptions = field(default_factory=SilenceOptions)
    interruption: InterruptionOptions = field(default_factory=InterruptionOptions)
    pitch: PitchOptions = field(default_factory=PitchOptions)
    vad: VadOptions = field(default_factory=VadOptions)
    syllables: SyllableOptions = field(default_factory=SyllableOptions)
    asr: AsrOptions = field(default_factory=AsrOptions)
    audio: AudioOptions = field(default_factory=AudioOptions)
    separation: SeparationOptions = field(default_factory=SeparationOptions)


def load_options(path: str | Path | None) -> Options:
    """Options from a TOML file (sections named like the fields of `Options`)."""
    if path is None:
        return Options()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist: check the path given to --config") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML ({exc}): fix the syntax") from None
    return _build(Options, data, path, "")


def _build(cls: type, data: dict[str, Any], path: Path, prefix: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{path}: unknown setting '{name}': use one of {known}")
        default = getattr(cls(), key)
        if dataclasses.is_dataclass(default):
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: '{name}' must be a [{name}] table")
            values[key] = _build(type(default), value, path, f"{name}.")
            continue
        values[key] = _coerce(value, default, name, path)
        limits = fields[key].metadata["limits"]
        if not limits.accepts(values[key]):
            raise ConfigError(f"{path}: {name} = {_toml(value)} is not valid: give {limits.describe()} "
                              f"(default {_toml(default)}), or delete the line")
    options = cls(**values)
    _check(options, path)
    return options


def _toml(value: Any) -> str:
    """A value as it is written in the file: "xx" in double quotes, nan and inf bare."""
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _coerce(value: Any, default: Any, name: str, path: Path) -> Any:
    if isinstance(default, bool) or isinstance(default, str):
        ok = isinstance(value, type(default))
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:  # float: integers are fine too
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    if not ok:
        raise ConfigError(
            f"{path}: '{name}' = {value!r} should be a {type(default).__name__} like {default!r}"
        )
    return value


def _check(options: Any, path: Path) -> None:
    """The settings that must agree with each other (each one's own range is its `Limits`)."""
    if isinstance(options, RateOptions) and not options.target_min < options.target_max:
        raise ConfigError(
            f"{path}: rate.target_min ({options.target_min}) must be positive and below "
            f"rate.target_max ({options.target_max})"
        )
    if isinstance(options, PitchOptions) and not options.fmin_hz < options.fmax_hz:
        raise ConfigError(f"{path}: pitch.fmin_hz ({options.fmin_hz}) must be below pitch.fmax_hz "
                          f"({options.fmax_hz}): swap them or widen the range")
    if isinstance(options, VadOptions) and not options.neg_threshold <= options.threshold:
        raise ConfigError(f"{path}: vad.neg_threshold ({options.neg_threshold}) must not be above "
                          f"vad.threshold ({options.threshold}): speech ends below where it starts")
