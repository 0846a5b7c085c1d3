"""HTML report of a 10-minute call: file size (without and with the embedded audio), time
to write it, and time to render it in headless Chromium (Debian's, as in the tests).

The call is synthetic (tests/fixtures/reports.py `make_long_report`: ~130 turns, silences,
interruptions, forbidden and courtesy phrases, a 0.2 s pitch contour) and its recording a
10-minute 8 kHz μ-law stereo WAV, what call-centre recorders store.  Render time is read
from the Navigation Timing API (loadEventEnd, and first-contentful-paint) over --runs loads
of the file:// page, fresh each time; the median is reported.

    .venv/bin/python bench/bench_html.py [--minutes 10] [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from coach.writers.html_report import HtmlWriter  # noqa: E402
from tests.browser import chromium, console_errors  # noqa: E402
from tests.fixtures.reports import as_report, make_long_report  # noqa: E402
from tests.test_html import stereo_call  # noqa: E402

LIMIT_BYTES = 2_000_000
LIMIT_MS = 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        call = stereo_call(Path(tmp) / "call.wav", args.minutes * 60)
        report = as_report(make_long_report(str(call), minutes=args.minutes))
        out = Path(tmp) / "call.html"
        began = time.perf_counter()
        HtmlWriter().write(report, out)
        write_s = time.perf_counter() - began
        total = out.stat().st_size
        audio = len(re.search(rb'src="(data:audio[^"]+)"', out.read_bytes()).group(1))
        loads, paints = [], []
        with chromium() as browser:
            for _ in range(args.runs):
                browser.get("about:blank")
                browser.get(out.as_uri())
                timing = browser.execute_script(
                    "const n = performance.getEntriesByType('navigation')[0];"
                    "const p = performance.getEntriesByName('first-contentful-paint')[0];"
                    "return [n.loadEventEnd - n.startTime, p ? p.startTime : null]")
                loads.append(timing[0])
                paints.append(timing[1])
            errors = console_errors(browser)
    result = {
        "minutes": args.minutes, "utterances": len(report.utterances), "wav_bytes": call_size(args.minutes),
        "html_bytes": total, "audio_data_uri_bytes": audio, "html_without_audio_bytes": total - audio,
        "write_s": round(write_s, 2), "load_ms_median": round(statistics.median(loads), 1),
        "load_ms_max": round(max(loads), 1),
        "first_paint_ms_median": round(statistics.median(p for p in paints if p is not None), 1),
        "console_errors": errors,
    }
    Path(ROOT / "out").mkdir(exist_ok=True)
    (ROOT / "out" / "bench_html.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"{args.minutes:g}-minute call, {result['utterances']} utterances")
    print(f"  HTML without audio  {result['html_without_audio_bytes'] / 1e6:6.2f} MB   (limit {LIMIT_BYTES / 1e6:.0f} MB)")
    print(f"  embedded audio      {audio / 1e6:6.2f} MB   (Ogg Opus as base64; the WAV is "
          f"{result['wav_bytes'] / 1e6:.1f} MB)")
    print(f"  HTML in all         {total / 1e6:6.2f} MB   written in {write_s:.1f} s")
    print(f"  render (load event) {result['load_ms_median']:6.0f} ms median, {result['load_ms_max']:.0f} ms max "
          f"of {args.runs} (limit {LIMIT_MS:.0f} ms); first paint {result['first_paint_ms_median']:.0f} ms")
    print(f"  console errors      {len(errors)}")


def call_size(minutes: float) -> int:
    return int(minutes * 60 * 8000 * 2)  # 8-bit μ-law, two channels


if __name__ == "__main__":
    main()
