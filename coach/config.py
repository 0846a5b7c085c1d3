"""Analysis options: the centre's standard as frozen dataclasses, loadable from TOML.

Every threshold docs/design.md names lives here with its default; a config file only
lists what it changes.  Unknown keys are errors (a typo must not silently fall
back to a default).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coach.errors import ConfigError


@dataclass(frozen=True)
class RateOptions:
    target_min: float = 120.0  # 字/分钟
    target_max: float = 140.0
    min_utterance_chars: int = 4  # per-utterance rates skip shorter utterances
    # The audio's syllables replace the transcript's characters in an utterance only when they
    # exceed them by more than this share (the syllable counter's own spread): the recogniser
    # dropped words there.
    syllable_margin: float = 0.25


@dataclass(frozen=True)
class TurnOptions:
    max_pause_s: float = 1.0  # pauses shorter than this stay inside one utterance


@dataclass(frozen=True)
class SilenceOptions:
    min_s: float = 5.0  # 冷场: longer than this with neither party speaking


@dataclass(frozen=True)
class InterruptionOptions:
    min_overlap_s: float = 1.0
    backchannel_max_s: float = 1.0  # agent utterances shorter than this are backchannels
    backchannel_max_chars: int = 4  # … or with fewer characters (嗯、对、好的)


@dataclass(frozen=True)
class PitchOptions:
    """The pitch stage (`coach.pitch`): its tracker's settings and the flat-voice verdict."""

    fmin_hz: float = 75.0
    fmax_hz: float = 500.0
    # A semitone spread below this is a flat voice.  Calibrated on real speakers (bench/README.md):
    # natural read speech of 41 real speakers measured 0.97–4.7 st (1.37 and up with ≥ 3 s of
    # voiced speech), the same speakers flattened by Praat 0.06–0.7 st; conversation runs higher.
    monotone_below_st: float = 1.0
    verdict_min_voiced_s: float = 3.0  # less voiced agent speech than this: no flat/lively verdict
    hop_s: float = 0.01
    min_periodicity: float = 0.6  # normalised autocorrelation at the period
    silence_db: float = 35.0  # below the loudest agent frame → not voiced
    jump_st: float = 8.0  # from the running median → tracking error
    median_window_s: float = 0.31
    octave_st: float = 10.0  # from the overall median → tracking error
    min_run_s: float = 0.03
    min_voiced_s: float = 0.5  # less voiced speech than this → no figure (per utterance too)


@dataclass(frozen=True)
class SyllableOptions:
    """The syllable counter (`coach.syllables`): how a nucleus stands out of the voice envelope."""

    prominence_db: float = 2.5  # above the dips on either side
    floor_db: float = 25.0  # at most this far under the span's loudest frame
    min_distance_s: float = 0.08  # from the next nucleus
    min_periodicity: float = 0.15  # voiced: autocorrelation at a speaking pitch
    # Nuclei × this = syllables: connected speech merges some syllables into one hump.  Measured
    # on the tune half of the real-voice bank (exact transcripts): 0.90 nuclei per character.
    scale: float = 1.11


@dataclass(frozen=True)
class VadOptions:
    threshold: float = 0.5  # silero speech probability that starts speech
    neg_threshold: float = 0.35  # … and below which speech ends
    min_speech_s: float = 0.15  # shorter blips are clicks or bleed residue
    min_gap_s: float = 0.2  # shorter gaps inside speech are closed
    crosstalk_margin_db: float = 6.0  # own speech must beat the bleed estimate by this
    edge_drop_db: float = 30.0  # a span's edges move out while the level is within this of its peak
    noise_margin_db: float = 6.0  # … and stands this far above the line's noise floor
    max_edge_s: float = 0.8  # … by at most this much each side


@dataclass(frozen=True)
class AsrOptions:
    language: str = "zh"
    beam_size: int = 1
    compute_type: str = "int8"
    cpu_threads: int = 0  # 0: CTranslate2 decides
    # Whisper writes traditional characters and skips punctuation without a prompt
    # in the target style; a short simplified sentence with punctuation fixes both.
    initial_prompt: str = "以下是普通话客服电话的录音，请用简体中文。"
    # Words Whisper is nudged towards in every 30 s window (faster-whisper `hotwords`); "" = none.
    # Off on purpose: with the lexicon's courtesy phrases here, bench/bench_phrases.py measured
    # decoding ~10x slower, invented 请 and worse precision, recall and character error rate.
    hotwords: str = ""
    pad_s: float = 0.2  # context kept around each speech span fed to the model
    gap_s: float = 0.5  # silence put between spans, so Whisper hears where a turn starts
    piece_s: float = 20.0  # turns longer than this are cut at their longest pauses for decoding
    window_s: float = 28.0  # pieces are packed into model windows of at most this much audio
    batch_size: int = 8  # windows decoded together
    # A piece whose transcript holds fewer characters than this share of the syllables the
    # audio shows (and at least retry_min_syllables of them) is decoded again, carefully.
    min_coverage: float = 0.6
    retry_min_syllables: int = 3


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
        else:
            values[key] = _coerce(value, default, name, path)
    options = cls(**values)
    _check(options, path)
    return options


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
    if isinstance(options, RateOptions) and not 0 < options.target_min < options.target_max:
        raise ConfigError(
            f"{path}: rate.target_min ({options.target_min}) must be positive and below "
            f"rate.target_max ({options.target_max})"
        )
    if isinstance(options, PitchOptions) and not 0 < options.fmin_hz < options.fmax_hz:
        raise ConfigError(f"{path}: pitch.fmin_hz must be positive and below pitch.fmax_hz")
    if isinstance(options, AsrOptions) and options.beam_size < 1:
        raise ConfigError(f"{path}: asr.beam_size must be 1 or more, not {options.beam_size}")
