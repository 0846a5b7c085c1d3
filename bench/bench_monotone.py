"""The monotone threshold against real voices: where `PitchOptions.monotone_below_st` comes from.

For every speaker of the real-voice bank (tests/data/realvoice: 41 real people reading and
speaking, SOURCES.md there) coach's pitch spread (``coach.pitch.pitch_stats``: std of the
voiced frames in semitones around the median) is measured on the speaker's natural clips and on
the same clips flattened by Praat at the speaker's median F0 (a monotone voice saying the same
words).  Per speaker (all clips together, as coach sees an agent's whole call) and per clip
(a short utterance with at least `verdict_min_voiced_s` voiced: the least coach gives a verdict on).

A good threshold lies above every flattened figure and below every natural one; the tune and
held-out speakers are shown apart (the threshold was chosen on the tune half).

    .venv/bin/python bench/bench_monotone.py
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coach.config import PitchOptions  # noqa: E402
from coach.pitch import pitch_stats, track_f0  # noqa: E402
from coach.results import Span  # noqa: E402

BANK = ROOT / "tests" / "data" / "realvoice"
GAP_S = 0.5  # between clips of one speaker: separate spans, as separate turns of a call


def spread(clips: list[np.ndarray], options: PitchOptions) -> tuple[float | None, float]:
    """coach's semitone spread over `clips` as one agent's turns, and its voiced seconds."""
    spans, parts, at = [], [], 0.0
    for clip in clips:
        spans.append(Span(at, at + len(clip) / 16000))
        parts += [clip, np.zeros(int(GAP_S * 16000), np.float32)]
        at += len(clip) / 16000 + GAP_S
    stats = pitch_stats(track_f0(np.concatenate(parts), 16000, spans, options), options)
    return stats.semitone_std, stats.voiced_s


def main() -> None:
    options = PitchOptions()
    index = json.loads((BANK / "index.json").read_text(encoding="utf-8"))
    by_speaker: dict[str, dict[bool, list[np.ndarray]]] = defaultdict(lambda: defaultdict(list))
    split = {}
    for meta in index.values():
        audio, rate = sf.read(BANK / meta["file"], dtype="float32")
        if rate != 16000:
            raise SystemExit(f"{meta['file']} is {rate} Hz: rebuild the bank with bench/fixtures/make_realvoice.py")
        by_speaker[meta["speaker"]][meta["flattened"]].append(audio)
        split[meta["speaker"]] = meta["split"]

    threshold = options.monotone_below_st
    print(f"threshold: spread < {threshold} st is flat; a verdict needs ≥ {options.verdict_min_voiced_s} s voiced\n")
    print(f"{'speaker':<16}{'split':<9}{'natural st':>11}{'flat st':>9}{'voiced s':>10}")
    rows = []
    for speaker in sorted(by_speaker):
        natural, natural_s = spread(by_speaker[speaker][False], options)
        flat, _ = spread(by_speaker[speaker][True], options) if by_speaker[speaker][True] else (None, 0.0)
        rows.append((speaker, split[speaker], natural, flat))
        print(f"{speaker:<16}{split[speaker]:<9}{_st(natural):>11}{_st(flat):>9}{natural_s:>10.1f}")

    print()
    for part in ("tune", "heldout"):
        natural = [r[2] for r in rows if r[1] == part and r[2] is not None]
        flat = [r[3] for r in rows if r[1] == part and r[3] is not None]
        print(f"per speaker, {part:<8} natural {min(natural):.2f}–{max(natural):.2f} st "
              f"({sum(n >= threshold for n in natural)}/{len(natural)} lively), "
              f"flattened {min(flat):.2f}–{max(flat):.2f} st ({sum(f < threshold for f in flat)}/{len(flat)} flat)")

    # One clip at a time: the short end, where a spread says more about the sentence than the voice.
    for flattened in (False, True):
        figures = []
        for speaker in by_speaker:
            for clip in by_speaker[speaker][flattened]:
                value, voiced_s = spread([clip], options)
                if value is not None and voiced_s >= options.verdict_min_voiced_s:
                    figures.append(value)
        kind = "flattened" if flattened else "natural"
        right = sum((f < threshold) == flattened for f in figures)
        print(f"per clip with ≥ {options.verdict_min_voiced_s:.0f} s voiced, {kind:<9} "
              f"{min(figures):.2f}–{max(figures):.2f} st, verdict right on {right}/{len(figures)}")


def _st(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    main()
