"""`coach` command line: analyze recordings, check and validate lexicons.

Every failure coach anticipates is a `CoachError`; here it becomes one line
`error: …` on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from coach.errors import CoachError

EXIT_FAILED = 1
EXIT_USAGE = 2

_STAGE_LABELS = {
    "load": "读取音频", "vad": "检测语音", "asr_agent": "识别坐席语音", "asr_customer": "识别客户语音",
    "metrics": "计算指标", "pitch": "分析语调", "phrases": "匹配用语",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s", stream=sys.stderr)
    try:
        return args.run(args)
    except CoachError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coach", description="Speech-quality coaching for Mandarin call-centre agents.")
    sub = parser.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="analyse recorded calls and print a coaching report")
    a.add_argument("calls", nargs="+", metavar="CALL", help="audio file(s): WAV, FLAC, MP3, M4A, OGG")
    a.add_argument("--agent-channel", choices=["left", "right"], default="left",
                   help="which stereo channel is the agent (default: left)")
    a.add_argument("--json", metavar="OUT", help="write the coach.report/1 JSON here (a folder when several calls)")
    a.add_argument("--model", metavar="DIR", help="CTranslate2 Whisper model folder (default: models/whisper-base)")
    a.add_argument("--config", metavar="FILE", help="TOML file with thresholds (see coach.example.toml)")
    a.add_argument("--lexicon", metavar="DIR", action="append", default=[],
                   help="extra lexicon folder merged over the bundled one (repeatable)")
    a.add_argument("--quiet", action="store_true", help="no terminal report (with --json)")
    a.set_defaults(run=_analyze)

    lx = sub.add_parser("lexicon", help="check a sentence against the lexicons, or validate lexicon files")
    lsub = lx.add_subparsers(dest="lexicon_command", required=True)
    c = lsub.add_parser("check", help="show the phrase hits in a sentence")
    c.add_argument("text")
    c.add_argument("--lexicon", metavar="DIR", action="append", default=[])
    c.add_argument("--speaker", choices=["agent", "customer"], default="agent")
    c.set_defaults(run=_lexicon_check)
    v = lsub.add_parser("validate", help="report malformed lexicon entries with file and line")
    v.add_argument("dir", nargs="?", help="lexicon folder (default: the bundled one)")
    v.set_defaults(run=_lexicon_validate)
    return parser


def _analyze(args: argparse.Namespace) -> int:
    from coach.config import load_options
    from coach.pipeline import Analyzer, Channel
    from coach.writers import WRITERS

    options = load_options(args.config)
    if args.json and len(args.calls) > 1 and Path(args.json).is_file():
        raise CoachError(f"--json {args.json} is a file but {len(args.calls)} calls were given: pass a folder")
    analyzer = Analyzer(options, model_dir=args.model, lexicon_dirs=args.lexicon)
    report_names = _report_names(args.calls)
    failed = 0
    for call in args.calls:
        try:
            with _progress(call) as progress:
                report = analyzer.analyze(call, Channel(args.agent_channel), progress)
        except CoachError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        if not args.quiet:
            WRITERS["terminal"](report, sys.stdout)
            print()
        if args.json:
            out = Path(args.json)
            if len(args.calls) > 1:
                out = out / report_names[call]
            WRITERS["json"](report, out)
    if failed and len(args.calls) > 1:
        print(f"error: {failed} of {len(args.calls)} recordings could not be analysed (see above)", file=sys.stderr)
    return EXIT_FAILED if failed else 0


def _report_names(calls: Sequence[str]) -> dict[str, str]:
    """One JSON file name per call: its stem, numbered when two calls share one (a/x.wav, b/x.wav)."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for call in dict.fromkeys(calls):
        stem, n = Path(call).stem, 1
        name = f"{stem}.json"
        while name in taken:
            n += 1
            name = f"{stem}-{n}.json"
        names[call] = name
        taken.add(name)
    return names


class _progress:
    """Shows the running stage on stderr when it is a terminal; silent otherwise."""

    def __init__(self, call: str):
        self.call = call
        self.status = None

    def __enter__(self):
        if not sys.stderr.isatty():
            return None
        from rich.console import Console

        self.status = Console(stderr=True).status(f"{self.call}")
        self.status.start()
        return lambda stage: self.status.update(f"{self.call}: {_STAGE_LABELS.get(stage.value, stage.value)}…")

    def __exit__(self, *exc) -> None:
        if self.status:
            self.status.stop()


def _lexicon_check(args: argparse.Namespace) -> int:
    from coach.lexicon import load_lexicon
    from coach.phrases import PhraseMatcher
    from coach.results import Speaker

    matcher = PhraseMatcher(load_lexicon(args.lexicon))
    hits = matcher.match_text(args.text, speaker=Speaker(args.speaker))
    if not hits:
        print("no hits")
    for h in hits:
        heard = f" (heard {h.heard}, confidence {h.confidence:.2f})" if h.heard and h.heard != h.phrase else ""
        extra = f" [{h.severity}] → {h.suggestion}" if h.suggestion else ""
        print(f"{h.category}: {h.phrase}{heard}{extra}")
    return 0


def _lexicon_validate(args: argparse.Namespace) -> int:
    from coach.lexicon import validate_lexicon_dir, DEFAULT_LEXICON_DIR

    folder = Path(args.dir) if args.dir else DEFAULT_LEXICON_DIR
    problems = validate_lexicon_dir(folder)
    for p in problems:
        print(p)
    print(f"{folder}: {len(problems)} problem(s)" if problems else f"{folder}: ok")
    return EXIT_FAILED if problems else 0


if __name__ == "__main__":
    sys.exit(main())
