"""Fault drills for `coach batch`, in one go, and what each leaves behind.

Each drill runs the real `coach batch` (real model, real files, a real SQLite database)
and is judged on the database and the process table afterwards:

- worker killed:   SIGKILL to the worker while it analyses a recording (what the OOM killer
                   does), then a rerun;
- main killed:     SIGKILL to the batch process alone while its worker is busy, then a rerun;
- two batches:     two batch processes over one folder into one database at once;
- moved archive:   the analysed folder moved elsewhere, then a rerun over the new place;
- corrected manifest: a manifest whose agent ids and teams were wrong, rerun corrected.

Columns: recordings in; rows out (at the end of the drill); duplicates (rows beyond one per
recording: content and call id); lost (inputs without a row, or whose row keeps the wrong
agent; for "worker killed" already after the run the worker died in, since that run must
record the failure itself); orphans (processes of a batch still running 5 s after it ended
or was killed); analyses (so that "updated without analysis" shows).  Target: 0 lost,
0 duplicated, 0 orphans.

    .venv/bin/python bench/bench_faults.py [--coach-root DIR]

``--coach-root`` runs another checkout's coach (e.g. `git archive` of an older commit) with
the same drills, for a before/after table.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures import faults  # noqa: E402
from tests.fixtures.faults import busy_folder, busy_with_b_long, coach_processes_under, rows, start_batch  # noqa: E402

ORPHAN_GRACE_S = 5.0


@dataclass
class Drill:
    name: str
    inputs: int = 0
    rows: int = 0
    duplicates: int = 0
    lost: int = 0
    orphans: int = 0
    analyses: int = 0
    note: str = ""


def run(source: Path, db: Path, log: Path, workers: int = 1) -> tuple[subprocess.Popen, set[int]]:
    """A batch to its end; its process and what of its session outlived it."""
    proc = start_batch(source, db, log, workers, _model_args())
    proc.wait(timeout=1800)
    return proc, _orphans(proc)


def _orphans(proc: subprocess.Popen) -> set[int]:
    time.sleep(ORPHAN_GRACE_S)
    left = coach_processes_under(proc.pid)
    for pid in left:  # clean up after the count, so one drill's orphans do not eat the next one's CPU
        os.kill(pid, signal.SIGKILL)
    return left


def judge(drill: Drill, db: Path, inputs: int, expected_agents: dict[str, str] | None = None) -> Drill:
    found = rows(db, "call_id, content_sha, agent_id, status")
    drill.inputs, drill.rows = inputs, len(found)
    drill.duplicates = len(found) - len({(call_id, sha) for call_id, sha, _, _ in found})
    recorded = {call_id for call_id, *_ in found}
    drill.lost = max(0, inputs - len(recorded))
    if expected_agents:
        drill.lost += sum(1 for call_id, _, agent, _ in found if expected_agents.get(call_id) != agent)
    return drill


def analyses(log: Path) -> int:
    """Recordings analysed (or failed) in a run, from its summary line (0 without one)."""
    found = re.search(r"recordings: (\d+) analysed.*?, (\d+) failed", log.read_text())
    return int(found[1]) + int(found[2]) if found else 0


def worker_killed(calls: Path, work: Path) -> Drill:
    folder, db = busy_folder(calls, work / "in"), work / "qa.db"
    proc = start_batch(folder, db, work / "1.log", 1, _model_args())
    drill = Drill("worker killed")
    for worker in busy_with_b_long(proc, db):
        os.kill(worker, signal.SIGKILL)
    proc.wait(timeout=1800)
    first = rows(db)
    output = (work / "1.log").read_text()
    drill.note = (f"run 1: exit {proc.returncode}, {len(first)} rows ({sum(r[1] == 'failed' for r in first)} failed)"
                  + (", BrokenProcessPool traceback" if "BrokenProcessPool" in output else "") + "; rerun after")
    orphans = _orphans(proc)
    _, more = run(folder, db, work / "2.log")
    drill.orphans = len(orphans | more)
    drill.analyses = len(first) + analyses(work / "2.log")
    judge(drill, db, 3)
    drill.lost += 3 - len(first)
    return drill


def main_killed(calls: Path, work: Path) -> Drill:
    folder, db = busy_folder(calls, work / "in"), work / "qa.db"
    proc = start_batch(folder, db, work / "1.log", 1, _model_args())
    busy_with_b_long(proc, db)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    drill = Drill("main killed")
    orphans = _orphans(proc)
    first = rows(db)
    _, more = run(folder, db, work / "2.log")
    drill.orphans = len(orphans | more)
    drill.analyses = len(first) + analyses(work / "2.log")
    drill.note = f"{len(orphans)} of its processes still running 5 s after the kill; rerun after"
    return judge(drill, db, 3)


def two_batches(calls: Path, work: Path) -> Drill:
    folder, db = work / "in", work / "qa.db"
    folder.mkdir()
    for path in calls.glob("call*"):
        shutil.copy(path, folder / path.name)
    procs = [start_batch(folder, db, work / f"{n}.log", 1, _model_args()) for n in (1, 2)]
    for proc in procs:
        proc.wait(timeout=1800)
    drill = Drill("two batches, one database")
    drill.orphans = len(set().union(*(_orphans(p) for p in procs)))
    drill.analyses = analyses(work / "1.log") + analyses(work / "2.log")
    drill.note = f"exit codes {[p.returncode for p in procs]}"
    return judge(drill, db, 4)


def moved_archive(before: Path, work: Path) -> Drill:
    """The folder and database of `two_batches`, the folder moved to a new place."""
    db = work / "qa.db"
    shutil.copy(before / "qa.db", db)
    moved = work / "archive" / "2026-11"
    moved.parent.mkdir()
    shutil.copytree(before / "in", moved)
    shutil.rmtree(before / "in")
    _, orphans = run(moved, db, work / "1.log")
    drill = Drill("moved archive")
    drill.orphans, drill.analyses = len(orphans), analyses(work / "1.log")
    drill.note = next((line for line in (work / "1.log").read_text().splitlines() if " recordings: " in line), "")
    return judge(drill, db, 4)


def corrected_manifest(moved: Path, work: Path) -> Drill:
    """The moved archive again, from a manifest whose agent ids were wrong, then corrected."""
    db = work / "qa.db"
    shutil.copy(moved / "qa.db", db)
    folder = moved / "archive" / "2026-11"
    manifest = work / "m.csv"
    names = sorted(p.name for p in folder.iterdir())
    wrong = {Path(n).stem: "A999" for n in names}
    right = {Path(n).stem: f"A00{i}" for i, n in enumerate(names)}
    orphans: set[int] = set()
    for n, agents in enumerate((wrong, right)):
        manifest.write_text("path,call_id,agent_id,team\n" + "".join(
            f"{folder / name},{Path(name).stem},{agents[Path(name).stem]},一组\n" for name in names), encoding="utf-8")
        orphans |= run(manifest, db, work / f"{n}.log")[1]
    drill = Drill("corrected manifest")
    drill.orphans, drill.analyses = len(orphans), analyses(work / "0.log") + analyses(work / "1.log")
    drill.note = next((line for line in (work / "1.log").read_text().splitlines() if " recordings: " in line), "")
    return judge(drill, db, 4, expected_agents=right)


def _model_args() -> list[str]:
    return ["--model", str(ROOT / "models" / "whisper-base")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coach-root", type=Path, default=ROOT, help="the checkout whose coach runs the drills")
    args = parser.parse_args()
    faults.ROOT = args.coach_root.resolve()  # `coach batch` runs from there
    with tempfile.TemporaryDirectory(prefix="coach-faults-") as tmp:
        work = Path(tmp)
        calls = work / "calls"
        calls.mkdir()
        faults.short_calls(calls)
        drills = []
        for name, drill in (("worker", worker_killed), ("main", main_killed), ("two", two_batches)):
            (work / name).mkdir()
            began = time.perf_counter()
            drills.append(drill(calls, work / name))
            print(f"{drills[-1].name}: {time.perf_counter() - began:.0f} s", file=sys.stderr)
        (work / "moved").mkdir()
        drills.append(moved_archive(work / "two", work / "moved"))
        (work / "manifest").mkdir()
        drills.append(corrected_manifest(work / "moved", work / "manifest"))
    print(f"coach at {faults.ROOT}")
    print("| drill | recordings in | rows out | duplicates | lost | orphaned processes | analyses | notes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for d in drills:
        print(f"| {d.name} | {d.inputs} | {d.rows} | {d.duplicates} | {d.lost} | {d.orphans} | {d.analyses} | {d.note} |")


if __name__ == "__main__":
    main()
