"""Speed: `coach analyze` of a ≥ 5-minute stereo call vs a bare faster-whisper transcription.

Both run as whole processes, alternating (A B A B …) on the same machine in one run, so
drift in the machine's speed hits both alike; the ratio is taken pair by pair and the
median reported.  The bare side is the library's defaults (`WhisperModel(dir)`,
`model.transcribe(path)`: beam 5, no VAD, language detection) on the agent channel alone,
with the same model; a second bare side with int8 weights (what coach uses) is reported
too, so the gain from quantisation is visible separately.

    .venv/bin/python bench/bench_speed.py [--runs 3] [--call FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coach.whisper import DEFAULT_MODEL_DIR  # noqa: E402
from coach.audio import load_audio  # noqa: E402

BARE = """
import sys
from faster_whisper import WhisperModel
model = WhisperModel(sys.argv[1]{compute})
segments, info = model.transcribe(sys.argv[2])
print(sum(len(s.text) for s in segments))
"""


def timed(cmd: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--call", help="a stereo call of ≥ 5 minutes (default: the long_call fixture)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="coach-speed-"))
    if args.call:
        call = Path(args.call)
    else:
        from tests.fixtures.calls import SCENARIOS, render
        call = render(SCENARIOS["long_call"], work)
    audio = load_audio(call)
    agent_wav = work / "agent.wav"
    sf.write(agent_wav, audio.channels[0], 16000)
    report = work / "report.json"
    py = sys.executable
    coach = [str(Path(py).with_name("coach")), "analyze", str(call), "--json", str(report), "--quiet"]
    bare = [py, "-c", BARE.format(compute=""), str(DEFAULT_MODEL_DIR), str(agent_wav)]
    bare_int8 = [py, "-c", BARE.format(compute=", compute_type='int8'"), str(DEFAULT_MODEL_DIR), str(agent_wav)]

    timed(coach)  # warm-up: page cache, numba/jieba caches
    rows = {"coach": [], "bare": [], "bare_int8": []}
    for _ in range(args.runs):
        rows["coach"].append(timed(coach))
        rows["bare"].append(timed(bare))
        rows["bare_int8"].append(timed(bare_int8))
    timings = json.loads(report.read_text())["timings_s"]
    non_asr = sum(v for k, v in timings.items() if not k.startswith("asr"))

    med = {k: statistics.median(v) for k, v in rows.items()}
    ratio = statistics.median(c / b for c, b in zip(rows["coach"], rows["bare"]))
    ratio8 = statistics.median(c / b for c, b in zip(rows["coach"], rows["bare_int8"]))
    print(f"call: {call.name}, {audio.duration_s:.0f} s stereo, {args.runs} alternating runs (+1 warm-up)")
    print(f"{'command':<48}{'median wall s':>14}")
    print(f"{'coach analyze (both channels, full report)':<48}{med['coach']:>14.1f}")
    print(f"{'bare faster-whisper, library defaults, agent ch':<48}{med['bare']:>14.1f}")
    print(f"{'bare faster-whisper, int8, agent channel':<48}{med['bare_int8']:>14.1f}")
    print(f"ratio coach / bare (defaults): {ratio:.2f}   (target ≤ 1.0)")
    print(f"ratio coach / bare (int8):     {ratio8:.2f}")
    print("coach stage times (last run): " + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
    print(f"non-ASR stages: {non_asr:.2f} s = {100 * non_asr / audio.duration_s:.2f} % of audio duration (target ≤ 5 %)")


if __name__ == "__main__":
    main()
