"""Accuracy: coach's metrics against the labelled fixture calls, with the issue's targets.

Renders every scenario of tests/fixtures/calls.py (crosstalk at −15 and −20 dB, line noise,
8 kHz μ-law and A-law, MP3, OGG, FLAC, a mono self-review, a 6.6-minute call, flattened vs
natural pitch …), analyses each with the real pipeline and scores the report against the
labels with tests/fixtures/compare.py.  Prints one row per fixture, then the totals against
the targets, and writes everything to --json.

    .venv/bin/python bench/bench_accuracy.py [--only NAME ...] [--json out/bench_accuracy.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coach.pipeline import Analyzer, Channel  # noqa: E402
from tests.fixtures.calls import SCENARIOS, render  # noqa: E402
from tests.fixtures.compare import Comparison, compare  # noqa: E402

TARGETS = (
    "rate error mean ≤ 3 %, max ≤ 6 %",
    "every silence > 5 s found, none invented, boundaries ≤ 0.3 s",
    "interruption F1 ≥ 0.95",
    "monotone verdict right on every fixture",
    "forbidden recall ≥ 95 %, no false hits on clean calls",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="scenario names (default: all)")
    parser.add_argument("--json", type=Path, default=ROOT / "out" / "bench_accuracy.json")
    args = parser.parse_args()
    names = args.only or list(SCENARIOS)
    work = Path(tempfile.mkdtemp(prefix="coach-accuracy-"))
    analyzer = Analyzer()
    rows: list[Comparison] = []
    print(f"{'fixture':<20}{'rate err':>9}{'silences':>10}{'bound s':>9}{'interr.':>9}"
          f"{'monotone':>10}{'forbidden':>11}{'x RT':>7}  misses")
    for name in names:
        scenario = SCENARIOS[name]
        path = render(scenario, work)
        labels = json.loads(path.with_name(f"{name}.labels.json").read_text(encoding="utf-8"))
        began = time.perf_counter()
        report = analyzer.analyze(path, Channel(scenario.agent_channel))
        speed = (time.perf_counter() - began) / labels["duration_s"]
        row = compare(report, labels)
        rows.append(row)
        rate = f"{row.rate_error:+.1%}" if row.rate_error is not None else "—"
        bound = f"{max(row.silence_boundary_errors):.2f}" if row.silence_boundary_errors else "—"
        interr = (f"{row.interruptions_found}/{row.interruptions_true}"
                  + (f"+{row.interruptions_reported - row.interruptions_found}"
                     if row.interruptions_reported > row.interruptions_found else "")
                  if labels["interruptions_measurable"] else "mono")
        monotone = {None: "—", True: "right", False: "WRONG"}[row.monotone_right]
        forbidden = f"{row.forbidden_found}/{row.forbidden_true}" + (f"+{row.forbidden_false}" if row.forbidden_false else "")
        silences = f"{row.silences_found}/{row.silences_true}" + (f"+{row.silences_invented}" if row.silences_invented else "")
        print(f"{name:<20}{rate:>9}{silences:>10}{bound:>9}{interr:>9}{monotone:>10}{forbidden:>11}{speed:>7.2f}  "
              + "; ".join(row.missed), flush=True)

    summary = summarise(rows)
    print()
    for target, (value, ok) in zip(TARGETS, summary.values()):
        print(f"{'PASS' if ok else 'FAIL'}  {target:<62} measured: {value}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": [asdict(r) for r in rows],
                                     "summary": {k: v[0] for k, v in summary.items()}},
                                    ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"\nwritten: {args.json}")
    return 0 if all(ok for _, ok in summary.values()) else 1


def summarise(rows: list[Comparison]) -> dict[str, tuple[str, bool]]:
    errors = [abs(r.rate_error) for r in rows if r.rate_error is not None]
    mean_err, max_err = statistics.fmean(errors), max(errors)
    silences_true = sum(r.silences_true for r in rows)
    found = sum(r.silences_found for r in rows)
    invented = sum(r.silences_invented for r in rows)
    bounds = [b for r in rows for b in r.silence_boundary_errors]
    worst_bound = max(bounds, default=0.0)
    tp = sum(r.interruptions_found for r in rows)
    fp = sum(r.interruptions_reported - r.interruptions_found for r in rows)
    fn = sum(r.interruptions_true - r.interruptions_found for r in rows)
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    judged = [r for r in rows if r.monotone_right is not None]
    right = sum(bool(r.monotone_right) for r in judged)
    forbidden_true = sum(r.forbidden_true for r in rows)
    recall = sum(r.forbidden_found for r in rows) / forbidden_true if forbidden_true else 1.0
    clean_false = sum(r.forbidden_false for r in rows if r.forbidden_true == 0)
    all_false = sum(r.forbidden_false for r in rows)
    return {
        "rate": (f"mean {mean_err:.1%}, max {max_err:.1%} over {len(errors)} calls",
                 mean_err <= 0.03 and max_err <= 0.06),
        "silences": (f"{found}/{silences_true} found, {invented} invented, worst boundary {worst_bound:.2f} s",
                     found == silences_true and invented == 0 and worst_bound <= 0.3),
        "interruptions": (f"F1 {f1:.3f} (tp {tp}, fp {fp}, fn {fn})", f1 >= 0.95),
        "monotone": (f"{right}/{len(judged)} right", right == len(judged)),
        "forbidden": (f"recall {recall:.1%} ({forbidden_true} labelled), false hits: {clean_false} on clean calls, "
                      f"{all_false} in all", recall >= 0.95 and clean_false == 0),
    }


if __name__ == "__main__":
    sys.exit(main())
