"""Mixed mono calls: telling the agent from the customer on one channel, against the targets.

Built from real voices (tests/fixtures/mixedcalls.py; tune and held-out speakers reported apart,
anything set was set on the tune half):

1. separation — the real-voice stereo calls summed onto one channel without bleed (two real
   people, barge-ins and lead-ins where both talk at once), clean 16 kHz, 8 kHz μ-law and
   pink noise with hum at −38 dBFS; and every real speaker alone (a self-review) in the same
   variants.  Per recording: one voice or two (`coach.diarize`), the contrast that decides it,
   and for the mixed calls the speaker error: the share of the frames where exactly one person
   speaks and coach heard speech that went to the wrong voice, after mapping coach's two voices
   onto the two people the way that fits best.  Frames where both talk are not scored (coach
   gives each frame to one voice).  Costs: the separation's seconds, CAM++ on all cores.
2. calls with a greeting — the voice bank's synthetic agent (greeting with 工号, replies, the
   closing) against each real speaker as the customer, every other call opened by the
   customer: analysed whole as a mixed call (`coach analyze`), and again as the same call in
   stereo.  Whether the agent was chosen right, and why; the agent's rate on the mixed call
   against the stereo one; the separation's time against the recogniser's in the same run.

    .venv/bin/python bench/bench_mixed.py [--set tune heldout] [--part separation greeting]
                                          [--json out/bench_mixed.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coach.audio import load_audio  # noqa: E402
from coach.diarize import assign, windows  # noqa: E402
from coach.models import Models  # noqa: E402
from coach.pipeline import analyze  # noqa: E402
from coach.results import Speaker  # noqa: E402
from coach.vad import mask_to_spans  # noqa: E402
from tests.fixtures import mixedcalls  # noqa: E402
from tests.fixtures.calls import bank_index, render  # noqa: E402

TARGETS = {"speaker_error": 0.05, "agent_right": 0.95, "alone_kept": 1.0, "rate_gap": 0.08, "cost": 0.15}


def speaker_error(voices, truth: np.ndarray) -> float:
    """Frames with one person speaking and coach hearing speech, given to the wrong voice (best mapping)."""
    heard = np.zeros(len(truth) + 64, np.int8)
    for k, spans in enumerate(voices.spans):
        for span in spans:
            heard[int(round(span.start / mixedcalls.FRAME_S)):int(round(span.end / mixedcalls.FRAME_S))] = k + 1
    heard = heard[:len(truth)]
    scored = ((truth == 1) | (truth == 2)) & (heard > 0)
    if not scored.any():
        return 0.0
    return float(min(np.mean(heard[scored] != truth[scored]), np.mean((3 - heard[scored]) != truth[scored])))


def separation(models: Models, split: str, work: Path) -> dict:
    options = models.options.separation
    rows = []
    window_cosines: dict[str, list[float]] = {"same": [], "other": []}
    recordings = {**mixedcalls.mixed_calls(split), **mixedcalls.one_speaker_recordings(split)}
    print(f"\n== separation, {split} half: {len(recordings)} recordings")
    print(f"{'recording':<34}{'voices':>7}{'contrast':>9}{'conf.':>7}{'spk err':>9}{'sep s':>7}{'x RT':>7}")
    for name, scenario in recordings.items():
        audio = load_audio(mixedcalls.render_mono(scenario, work))
        samples = audio.channels[0]
        speech = mask_to_spans(models.detector.activity((samples,))[0], audio.duration_s)
        began = time.perf_counter()
        cut = windows(speech, options)  # what VoiceSeparator.separate does, keeping the prints
        prints = models.separator.embed(samples, cut)
        found = assign(prints, cut, speech, audio.duration_s, options)
        seconds = time.perf_counter() - began
        two = name.startswith("mixed_")
        if two:
            same, other = _window_cosines(prints, cut, mixedcalls.truth_frames(scenario))
            window_cosines["same"] += same
            window_cosines["other"] += other
        # the speaker error of the split itself, also where the decision said one voice
        split_two = found if found.count == 2 or not two else \
            models.separator.separate(samples, speech, options, voices=2)
        error = speaker_error(split_two, mixedcalls.truth_frames(scenario)) if two else None
        rows.append({"name": name, "two": two, "voices": found.count, "contrast": found.contrast,
                     "confidence": found.confidence, "speaker_error": error, "seconds": round(seconds, 2),
                     "duration_s": round(audio.duration_s, 1),
                     "both_talking_s": round(float(np.sum(mixedcalls.truth_frames(scenario) == 3)) * mixedcalls.FRAME_S, 1)})
        print(f"{name:<34}{found.count:>7}{found.contrast if found.contrast is not None else float('nan'):>9.3f}"
              f"{found.confidence:>7.2f}{'' if error is None else f'{100 * error:.1f}%':>9}{seconds:>7.2f}"
              f"{seconds / audio.duration_s:>7.3f}", flush=True)
    mixed = [r for r in rows if r["two"]]
    alone = [r for r in rows if not r["two"]]
    two_contrasts = [r["contrast"] for r in mixed]
    one_contrasts = [r["contrast"] for r in alone if r["contrast"] is not None]
    summary = {
        "mixed_calls": len(mixed), "alone": len(alone),
        "two_found": sum(r["voices"] == 2 for r in mixed),
        "alone_kept": sum(r["voices"] == 1 for r in alone),
        "speaker_error_mean": statistics.mean(r["speaker_error"] for r in mixed),
        "speaker_error_max": max(r["speaker_error"] for r in mixed),
        "two_voices_min_contrast": min(two_contrasts), "one_voice_max_contrast": max(one_contrasts),
        "threshold": options.two_voices_contrast,
        "margin": round(min(two_contrasts) - max(one_contrasts), 3),
        "both_talking_s": round(sum(r["both_talking_s"] for r in mixed), 1),
        "separation_x_rt": round(sum(r["seconds"] for r in rows) / sum(r["duration_s"] for r in rows), 4),
        "speakers": sorted({s for name in recordings for s in _speakers(recordings[name])}),
    }
    summary["women"] = sum(sex == "f" for _, sex in summary["speakers"])
    # cosine between two windows' prints of one person, and of the two people (5th–95th percentile)
    for kind, values in window_cosines.items():
        summary[f"window_cosine_{kind}"] = [round(float(np.percentile(values, q)), 3) for q in (5, 50, 95)]
    return {"rows": rows, "summary": summary}


def _window_cosines(prints: np.ndarray, cut, truth: np.ndarray) -> tuple[list[float], list[float]]:
    """Cosines between pairs of windows of one person, and of the two people (windows where one
    person speaks for 90 % of the frames or more)."""
    owner = []
    for window in cut:
        frames = truth[int(window.start / mixedcalls.FRAME_S):int(window.end / mixedcalls.FRAME_S)]
        spoken = frames[frames > 0]
        share = [np.mean(spoken == k) if spoken.size else 0.0 for k in (1, 2)]
        owner.append(1 if share[0] >= 0.9 else 2 if share[1] >= 0.9 else 0)
    owner = np.array(owner)
    cosines = prints @ prints.T
    upper = np.triu(np.ones_like(cosines, bool), 1) & (owner[:, None] > 0) & (owner[None, :] > 0)
    same = upper & (owner[:, None] == owner[None, :])
    return cosines[same].tolist(), cosines[upper & ~same].tolist()


def _speakers(scenario) -> set[tuple[str, str]]:
    """The real speakers of a recording, with their sex (f/m)."""
    clips = [bank_index()[t.clip] for t in scenario.turns]
    return {(clip["speaker"], clip.get("sex", "?")) for clip in clips if clip.get("speaker")}


def greeting(models: Models, split: str, work: Path) -> dict:
    calls = mixedcalls.greeting_calls(split)
    rows = []
    print(f"\n== calls with a greeting, {split} half: {len(calls)} calls (synthetic agent, real customer)")
    print(f"{'call':<36}{'agent':>7}{'review':>7}{'rate mixed':>11}{'stereo':>8}{'gap':>7}{'sep s':>7}{'asr s':>7}"
          "  why")
    for name, scenario in calls.items():
        mixed = analyze(models, mixedcalls.render_mono(scenario, work))
        stereo = analyze(models, render(scenario, work / "stereo"))
        truth = mixedcalls.truth_frames(scenario)
        right = _agent_right(mixed, truth)
        timings = dict(mixed.timings)
        asr = timings.get("asr_agent", 0.0) + timings.get("asr_customer", 0.0)
        sep = timings.get("separate", 0.0)
        mixed_rate, stereo_rate = mixed.rate.chars_per_min, stereo.rate.chars_per_min
        gap = abs(mixed_rate - stereo_rate) / stereo_rate if mixed_rate and stereo_rate else None
        separated = mixed.separation
        rows.append({"name": name, "agent_right": right, "review": bool(separated and separated.uncertain),
                     "cues": list(separated.agent_cues) if separated else [], "rate_mixed": mixed_rate,
                     "rate_stereo": stereo_rate, "rate_gap": gap, "separate_s": round(sep, 2), "asr_s": round(asr, 2),
                     "layout": mixed.layout.value})
        print(f"{name:<36}{'right' if right else 'WRONG':>7}{'yes' if rows[-1]['review'] else '':>7}"
              f"{mixed_rate or 0:>11.1f}{stereo_rate or 0:>8.1f}{'' if gap is None else f'{100 * gap:.1f}%':>7}"
              f"{sep:>7.2f}{asr:>7.2f}  {','.join(rows[-1]['cues'])}", flush=True)
    gaps = [r["rate_gap"] for r in rows if r["rate_gap"] is not None]
    summary = {"calls": len(rows), "agent_right": sum(r["agent_right"] for r in rows),
               "review": sum(r["review"] for r in rows),
               "rate_gap_mean": statistics.mean(gaps), "rate_gap_max": max(gaps),
               "separate_s": round(sum(r["separate_s"] for r in rows), 1), "asr_s": round(sum(r["asr_s"] for r in rows), 1)}
    summary["cost"] = round(summary["separate_s"] / summary["asr_s"], 3)
    return {"rows": rows, "summary": summary}


def _agent_right(report, truth: np.ndarray) -> bool:
    """The voice coach called the agent is mostly where the true agent speaks."""
    frames = [0, 0]
    for u in report.utterances:
        if u.speaker is not Speaker.AGENT:
            continue
        part = truth[int(u.start / mixedcalls.FRAME_S):int(u.end / mixedcalls.FRAME_S)]
        frames[0] += int(np.sum(part == 1))
        frames[1] += int(np.sum(part == 2))
    return report.layout.value == "mixed" and frames[0] > frames[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", nargs="*", choices=["tune", "heldout"], default=["tune", "heldout"], dest="sets")
    parser.add_argument("--part", nargs="*", choices=["separation", "greeting"], default=["separation", "greeting"])
    parser.add_argument("--json", type=Path, default=ROOT / "out" / "bench_mixed.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="coach-mixed-"))
    models = Models.load()
    results: dict = {}
    for split in args.sets:
        if "separation" in args.part:
            results[f"separation_{split}"] = separation(models, split, work)
        if "greeting" in args.part:
            results[f"greeting_{split}"] = greeting(models, split, work)
    ok = True
    print()
    for split in args.sets:
        if "separation" in args.part:
            s = results[f"separation_{split}"]["summary"]
            ok &= _verdict(f"{split}: speaker error ≤ 5 % (frame level, after label mapping)",
                           s["speaker_error_max"] <= TARGETS["speaker_error"],
                           f"mean {100 * s['speaker_error_mean']:.2f}%, max {100 * s['speaker_error_max']:.2f}% "
                           f"over {s['mixed_calls']} mixed calls ({len(s['speakers'])} speakers, {s['women']} women); "
                           f"two voices found in {s['two_found']}/{s['mixed_calls']}")
            ok &= _verdict(f"{split}: one-speaker recordings kept 'agent alone' 100 %",
                           s["alone_kept"] == s["alone"], f"{s['alone_kept']}/{s['alone']}")
            print(f"      {split}: one-vs-two contrast: two voices ≥ {s['two_voices_min_contrast']:.3f}, one voice ≤ "
                  f"{s['one_voice_max_contrast']:.3f}, line {s['threshold']}: margin {s['margin']:.3f}; "
                  f"separation {s['separation_x_rt']:.3f} x real time")
            print(f"      {split}: window cosines (5th/50th/95th pct): one person {s['window_cosine_same']}, "
                  f"two people {s['window_cosine_other']}")
        if "greeting" in args.part:
            g = results[f"greeting_{split}"]["summary"]
            ok &= _verdict(f"{split}: agent chosen right ≥ 95 % of calls with a greeting",
                           g["agent_right"] >= TARGETS["agent_right"] * g["calls"],
                           f"{g['agent_right']}/{g['calls']} ({g['review']} marked for review)")
            ok &= _verdict(f"{split}: agent's rate mixed vs stereo within 8 %", g["rate_gap_max"] <= TARGETS["rate_gap"],
                           f"mean {100 * g['rate_gap_mean']:.1f}%, max {100 * g['rate_gap_max']:.1f}%")
            ok &= _verdict(f"{split}: separation ≤ 15 % of the recogniser's time", g["cost"] <= TARGETS["cost"],
                           f"{g['separate_s']} s vs {g['asr_s']} s: {100 * g['cost']:.1f}%")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1, default=float) + "\n", encoding="utf-8")
    return 0 if ok else 1


def _verdict(what: str, passed: bool, measured: str) -> bool:
    print(f"{'PASS' if passed else 'FAIL'}  {what:<62} measured: {measured}")
    return passed


if __name__ == "__main__":
    sys.exit(main())
