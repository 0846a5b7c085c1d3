"""Batch throughput: × real time for a folder of calls with 1 and 2 workers, and the scaling.

The folder is the fixture calls of tests/fixtures/calls.py rendered as a call-centre
recorder stores them (8 kHz μ-law stereo, crosstalk −18 dB, line noise), --copies times
over.  Each configuration runs `coach batch` from scratch (new SQLite database, workers
started and the model loaded inside the timing) and the configurations alternate over
--runs rounds, so a noisy neighbour hurts them alike.

    .venv/bin/python bench/bench_batch.py [--runs 2] [--copies 1] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.calls import SCENARIOS, render  # noqa: E402

TARGET_X_REALTIME = 12.0


def make_folder(folder: Path, copies: int) -> float:
    """Render the fixture calls as 8 kHz μ-law stereo recordings; returns the audio seconds."""
    total = 0.0
    for copy in range(copies):
        for name, scenario in SCENARIOS.items():
            if scenario.layout != "stereo":
                continue
            recorded = replace(scenario, name=f"{name}_{copy}", fmt="wav_ulaw8k",
                               bleed_db=scenario.bleed_db or -18, noise_snr_db=scenario.noise_snr_db or 35)
            path = render(recorded, folder)
            path.with_name(f"{recorded.name}.labels.json").unlink()
            total += sf.info(path).duration
    return total


def run_batch(folder: Path, workers: int, work: Path) -> float:
    db = work / f"bench-{workers}-{time.monotonic_ns()}.db"
    began = time.perf_counter()
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "coach"), "batch", str(folder), "--db", str(db),
                             "--workers", str(workers)], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - began
    if result.returncode != 0:
        raise SystemExit(f"coach batch failed ({result.returncode}): {result.stderr.strip()}")
    print(f"    {workers} worker(s): {wall:6.1f} s   {result.stdout.strip()}", flush=True)
    db.unlink()
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--copies", type=int, default=1, help="how many times the fixture set is repeated")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", type=Path, default=ROOT / "out" / "bench_batch.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="coach-batch-"))
    folder = work / "calls"
    folder.mkdir()
    audio_s = make_folder(folder, args.copies)
    files = len(list(folder.glob("*.wav")))
    print(f"{files} calls, {audio_s / 60:.1f} min of 8 kHz stereo audio; {os.cpu_count()} cores; "
          f"{args.runs} alternating rounds", flush=True)
    walls: dict[int, list[float]] = {w: [] for w in args.workers}
    for round_ in range(args.runs):
        print(f"  round {round_ + 1}", flush=True)
        for workers in args.workers:
            walls[workers].append(run_batch(folder, workers, work))
    print()
    speeds = {w: audio_s / statistics.median(t) for w, t in walls.items()}
    for w, speed in speeds.items():
        print(f"{w} worker(s): median {statistics.median(walls[w]):6.1f} s wall  →  {speed:5.1f}× real time")
    base = min(args.workers)
    for w in args.workers:
        if w != base:
            efficiency = speeds[w] / speeds[base] / (w / base)
            print(f"scaling {base} → {w} workers: ×{speeds[w] / speeds[base]:.2f} (efficiency {efficiency:.0%})")
    best = max(speeds.values())
    print(f"{'PASS' if best >= TARGET_X_REALTIME else 'FAIL'}  ≥ {TARGET_X_REALTIME:.0f}× real time on "
          f"{os.cpu_count()} cores: best {best:.1f}×")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"calls": files, "audio_s": audio_s, "cores": os.cpu_count(),
                                     "wall_s": walls, "x_realtime": speeds}, indent=1))
    return 0 if best >= TARGET_X_REALTIME else 1


if __name__ == "__main__":
    sys.exit(main())
