"""`coach` command line: analyze recordings, batch, export, stats, live coaching, lexicon tools.

Every failure coach anticipates is a `CoachError`; here it becomes one line
`error: …` on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from coach.errors import CoachError

EXIT_FAILED = 1
EXIT_USAGE = 2

_STAGE_LABELS = {
    "load": "读取音频", "vad": "检测语音", "asr_agent": "识别坐席语音", "asr_customer": "识别客户语音",
    "metrics": "计算指标", "pitch": "分析语调", "phrases": "匹配用语", "separate": "区分坐席与客户的声音",
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
    # What every analysing command takes: the models, the thresholds, the lexicons, the scorecard.
    analysing = argparse.ArgumentParser(add_help=False)
    analysing.add_argument("--model", metavar="DIR", help="CTranslate2 Whisper model folder (default: models/whisper-base)")
    analysing.add_argument("--config", metavar="FILE", help="TOML file with thresholds (see coach.example.toml)")
    analysing.add_argument("--lexicon", metavar="DIR", action="append", default=[],
                           help="extra lexicon folder merged over the bundled one (repeatable)")
    analysing.add_argument("--scorecard", metavar="FILE", help="scorecard TOML (default: scorecards/default.toml)")
    analysing.add_argument("--layout", choices=["auto", "stereo", "mixed", "agent-only"], default="auto",
                           help="auto (default): stereo is one party per channel, and a mono recording is the "
                                "agent alone or both parties mixed, decided by voice; stereo, mixed or agent-only "
                                "say which it is")

    a = sub.add_parser("analyze", parents=[analysing], help="analyse recorded calls and print a coaching report")
    a.add_argument("calls", nargs="+", metavar="CALL", help="audio file(s): WAV, FLAC, MP3, M4A, OGG")
    a.add_argument("--agent-channel", choices=["left", "right"], default="left",
                   help="which stereo channel is the agent (default: left)")
    a.add_argument("--json", metavar="OUT", help="write the coach.report/1 JSON here (a folder when several calls)")
    a.add_argument("--html", metavar="OUT", help="write a self-contained HTML report with the recording "
                   "(a folder when several calls)")
    a.add_argument("--no-mask", action="store_true",
                   help="show phone, ID-card and bank-card numbers in reports (masked by default)")
    a.add_argument("--quiet", action="store_true", help="no terminal report (with --json or --html)")
    a.set_defaults(run=_analyze)

    b = sub.add_parser("batch", parents=[analysing],
                       help="analyse a folder or manifest of recordings into a results database")
    b.add_argument("input", metavar="DIR|MANIFEST.csv",
                   help="folder searched for audio files, or a CSV with columns "
                        "path,call_id,agent_id,agent_channel,team,date (only path is required)")
    b.add_argument("--db", required=True, metavar="PATH|URL",
                   help="SQLite file (created if missing) or postgresql://user@host/db")
    b.add_argument("--workers", type=int, default=None,
                   help="analysis processes, each loading the model once (default: one per core)")
    b.add_argument("--ray", metavar="ADDRESS", help="run the workers on this Ray cluster (host:port or 'auto')")
    b.add_argument("--agent-channel", choices=["left", "right"], default="left",
                   help="agent channel for recordings the manifest does not say (default: left)")
    b.set_defaults(run=_batch)

    e = sub.add_parser("export", help="write a results database out as JSON or CSV")
    e.add_argument("--db", required=True, metavar="PATH|URL")
    e.add_argument("--json", metavar="OUT", help='{"recordings": [{"source", "status", "error", "report"}, …]}')
    e.add_argument("--csv", metavar="OUT", help="one flat row per recording")
    e.add_argument("--audit", metavar="OUT.csv", help="the review audit trail of coach serve (who, when, what, why)")
    e.set_defaults(run=_export)

    st = sub.add_parser("stats", help="per-agent, per-day or per-team figures from a results database")
    st.add_argument("--db", required=True, metavar="PATH|URL")
    st.add_argument("--by", choices=["agent", "day", "team"], default="agent")
    st.set_defaults(run=_stats)

    lv = sub.add_parser("live", parents=[analysing],
                        help="coach during the call, from the headset (or a recording fed as if live)")
    lv.add_argument("--device", metavar="N|NAME", help="input device index or (part of its) name (default: the system's)")
    lv.add_argument("--list-devices", action="store_true", help="list the input devices and exit")
    lv.add_argument("--channels", type=int, choices=[1, 2], default=1,
                    help="1: a headset microphone, the agent alone (default); 2: agent and customer")
    lv.add_argument("--agent-channel", choices=["left", "right"], default="left",
                    help="with two channels, which is the agent (default: left)")
    lv.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: at Ctrl-C)")
    lv.add_argument("--from-file", metavar="CALL", help="feed this recording through the live path instead of a device")
    lv.add_argument("--speed", type=float, default=1.0, metavar="X", help="with --from-file: X times real time (default 1)")
    lv.add_argument("--dir", metavar="DIR", help="folder for this session's recording, report and events "
                    "(default: a new folder ~/coach-live/DATE-TIME)")
    lv.add_argument("--events", metavar="OUT.jsonl", help="one JSON object per event (default: events.jsonl in the folder)")
    lv.add_argument("--wav", metavar="OUT.wav", help="where to save the recording (default: call.wav in the folder)")
    lv.add_argument("--json", metavar="OUT", help="where to write the report (default: report.json in the folder)")
    lv.add_argument("--no-mask", action="store_true",
                    help="show phone, ID-card and bank-card numbers in the events and the report (masked by default)")
    lv.add_argument("--quiet", action="store_true", help="no live view and no terminal report")
    lv.set_defaults(run=_live)

    sv = sub.add_parser("serve", help="the trainers' web app over a results database: calls, review, appeals")
    sv.add_argument("--db", required=True, metavar="PATH|URL")
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default: 127.0.0.1, this machine only, no login); any other "
                         "address needs accounts (coach users add) and --certfile/--keyfile")
    sv.add_argument("--port", type=int, default=8765, help="port (default: 8765; 0 picks a free one)")
    sv.add_argument("--certfile", metavar="CERT.pem", help="HTTPS certificate (needed for a non-loopback --host)")
    sv.add_argument("--keyfile", metavar="KEY.pem", help="the certificate's private key")
    sv.add_argument("--login", action="store_true",
                    help="ask for the team accounts on 127.0.0.1 too (behind an HTTPS proxy)")
    sv.add_argument("--allowed-host", metavar="NAME", action="append", default=[],
                    help="another name browsers use for this server (e.g. qa.example.com; repeatable)")
    sv.add_argument("--scorecard", metavar="FILE",
                    help="scorecard the reviewed scores are computed on (default: scorecards/default.toml)")
    sv.add_argument("--no-mask", action="store_true", help="show phone, ID-card and bank-card numbers")
    sv.set_defaults(run=_serve)

    us = sub.add_parser("users", help="team accounts of coach serve: add, list, change")
    usub = us.add_subparsers(dest="users_command", required=True)
    ua = usub.add_parser("add", help="add an account (the password is asked for, or read from stdin)")
    ua.add_argument("name")
    ua.add_argument("--role", required=True, choices=["agent", "reviewer", "admin"],
                    help="agent: own calls, appeals; reviewer: all calls, review; admin: also users")
    ua.add_argument("--agent-id", metavar="ID", help="for an agent: the agent id of their calls (default: NAME)")
    ul = usub.add_parser("list", help="list the accounts")
    up = usub.add_parser("passwd", help="set a new password")
    up.add_argument("name")
    ur = usub.add_parser("set", help="change an account's role or agent id, or switch it off and on")
    ur.add_argument("name")
    ur.add_argument("--role", choices=["agent", "reviewer", "admin"])
    ur.add_argument("--agent-id", metavar="ID")
    state = ur.add_mutually_exclusive_group()
    state.add_argument("--disable", action="store_true", help="the account can no longer log in")
    state.add_argument("--enable", action="store_true")
    for command in (ua, ul, up, ur):
        command.add_argument("--db", required=True, metavar="PATH|URL")
    for command in (ua, up):
        command.add_argument("--password-stdin", action="store_true",
                             help="read the password from the first line of stdin (for scripts)")
    us.set_defaults(run=_users)

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
    rp = lsub.add_parser("report", help="per phrase and rule: how often reviewers rejected its findings")
    rp.add_argument("--db", required=True, metavar="PATH|URL")
    rp.add_argument("--scorecard", metavar="FILE", help="the scorecard coach serve uses (default: the bundled one)")
    rp.set_defaults(run=_lexicon_report)
    return parser


def _analyze(args: argparse.Namespace) -> int:
    from coach.config import load_options
    from coach.masking import mask_report
    from coach.models import Models
    from coach.pipeline import Channel, LayoutChoice, analyze
    from coach.scorecard import load_scorecard
    from coach.writers import FILE_WRITERS, write_terminal

    options = load_options(args.config)
    scorecard = load_scorecard(args.scorecard, args.lexicon)
    # Where every report will go, checked before any analysis: a bad path must not cost the work.
    outputs = {kind: FILE_WRITERS[kind].destinations(args.calls, getattr(args, kind))
               for kind in FILE_WRITERS if getattr(args, kind, None)}
    models = Models.load(options, model_dir=args.model, lexicon_dirs=args.lexicon, scorecard=scorecard)
    failed = 0
    for call in args.calls:
        try:
            with _progress(call) as progress:
                report = analyze(models, call, Channel(args.agent_channel), progress, layout=LayoutChoice(args.layout))
        except CoachError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        if not args.no_mask:
            report = mask_report(report)
        if not args.quiet:
            write_terminal(report, sys.stdout)
            print()
        for kind, destinations in outputs.items():
            try:
                FILE_WRITERS[kind].write(report, destinations[call])
            except CoachError as exc:  # the disk filled up or the folder went away: the other calls go on
                print(f"error: {exc}", file=sys.stderr)
                failed += 1
    if failed and len(args.calls) > 1:
        print(f"error: {failed} of {len(args.calls)} recordings could not be analysed or written (see above)",
              file=sys.stderr)
    return EXIT_FAILED if failed else 0


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


def _batch(args: argparse.Namespace) -> int:
    from coach.qa.batch import Settings, discover, run_batch
    from coach.config import load_options
    from coach.scorecard import load_scorecard
    from coach.qa.store import Store

    settings = Settings(load_options(args.config), args.model, tuple(args.lexicon),
                        load_scorecard(args.scorecard, args.lexicon), layout=args.layout)
    recordings = discover(args.input, args.agent_channel)
    if not recordings:
        raise CoachError(f"{args.input}: no audio files found (looked for .wav .mp3 .flac .ogg .m4a …)")
    # One single-threaded worker per core beat one two-threaded worker by ×1.45 (bench_batch.py).
    workers = args.workers or os.cpu_count() or 1
    with Store(args.db) as store, _BatchBar() as bar:
        summary = run_batch(recordings, store, settings, workers, args.ray, bar.update)
    before = f" ({summary.failed_before} of them failed)" if summary.failed_before else ""
    also = "".join(f", {n} {what}" for n, what in ((summary.updated, "updated (metadata or path)"),
                                                   (summary.duplicates, "duplicate(s) counted once"),
                                                   (summary.review, "marked for review (roles uncertain, not scored)"))
                   if n)
    speed = (f"; {summary.audio_s / 3600:.2f} h of audio in {summary.wall_s:.0f} s ({summary.speed:.1f}× real time)"
             if summary.audio_s else "")
    # store.where, not args.db: a PostgreSQL URL's password is never printed.
    print(f"{summary.found} recordings: {summary.analysed} analysed, {summary.skipped} already done{before}, "
          f"{summary.failed} failed{also}{speed} → {store.where}")
    failed = summary.failed + summary.failed_before
    if failed:
        print(f"error: {failed} recording(s) could not be analysed; the reasons are in the database "
              f"(coach export --db {store.where} --csv OUT.csv)", file=sys.stderr)
    return EXIT_FAILED if failed else 0


class _BatchBar:
    """A progress bar with ETA and throughput on a terminal; one line per failure either way."""

    def __init__(self):
        self.bar = self.task = None

    def __enter__(self):
        if sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("batch"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[speed]}"), TimeRemainingColumn(), transient=True)
            self.bar.start()
        return self

    def update(self, p) -> None:
        if p.outcome and p.outcome.error:
            (self.bar.console.print if self.bar else functools.partial(print, file=sys.stderr))(
                f"failed: {p.outcome.recording.source}: {p.outcome.error}")
        if not self.bar:
            return
        speed = f"{p.audio_s / p.elapsed_s:.1f}× real time" if p.elapsed_s and p.audio_s else ""
        if self.task is None:
            self.task = self.bar.add_task("batch", total=p.total, speed=speed)
        self.bar.update(self.task, completed=p.done, speed=speed)

    def __exit__(self, *exc) -> None:
        if self.bar:
            self.bar.stop()


def _export(args: argparse.Namespace) -> int:
    from coach.qa.export import export_csv, export_json
    from coach.qa.store import Store

    if not args.json and not args.csv and not args.audit:
        raise CoachError("nothing to export: pass --json OUT, --csv OUT and/or --audit OUT.csv")
    if args.json or args.csv:
        with Store(args.db, read_only=True) as store:
            if args.json:
                export_json(store, args.json)
            if args.csv:
                export_csv(store, args.csv)
    if args.audit:
        from coach.qa.review import export_audit
        from coach.qa.workspace import Workspace

        with Workspace(args.db, read_only=True) as ws:
            export_audit(ws, args.audit)
    return 0


def _stats(args: argparse.Namespace) -> int:
    from rich.console import Console

    from coach.qa.stats import GroupBy, aggregate, rows_to_table
    from coach.qa.store import Store

    with Store(args.db, read_only=True) as store:
        groups = aggregate(list(store.recordings()), GroupBy(args.by))
    if not groups:
        print(f"{store.where}: no recordings yet (run coach batch first)")
        return 0
    # A pipe or file gets the whole table, not rich's 80-column default squeezed into "…".
    Console(width=None if sys.stdout.isatty() else 200).print(rows_to_table(groups, GroupBy(args.by)))
    return 0


def _live(args: argparse.Namespace) -> int:
    import json

    from coach.config import load_options
    from coach.live.capture import DeviceSource, FileSource, Recorder, list_devices, session_folder
    from coach.live.session import LiveSession, run
    from coach.live.view import LineView, PanelView
    from coach.masking import mask_event, mask_report
    from coach.models import Models
    from coach.pipeline import Channel, LayoutChoice, analyze
    from coach.scorecard import load_scorecard
    from coach.writers import FILE_WRITERS, write_terminal

    if args.list_devices:
        for d in list_devices():
            print(f"{d.index}: {d.name} ({d.max_channels} input channel(s), {d.default_rate} Hz)")
        return 0
    if args.duration is not None and args.duration <= 0:
        raise CoachError(f"--duration {args.duration} is not a length: give seconds above 0")
    options = load_options(args.config)
    folder = None if args.wav and args.json and args.events else session_folder(args.dir)
    wav = Path(args.wav) if args.wav else folder / "call.wav"
    report_path = Path(args.json) if args.json else folder / "report.json"
    events_path = Path(args.events) if args.events else folder / "events.jsonl"
    source = FileSource(args.from_file, args.speed) if args.from_file else DeviceSource(args.device, args.channels)
    try:
        recorder = Recorder(wav, source.channels)
        events = open(events_path, "w", encoding="utf-8")
    except BaseException:
        source.stop()
        raise
    agent_index = 1 if args.agent_channel == "right" and source.channels == 2 else 0
    band = (options.rate.target_min, options.rate.target_max)
    view = LineView(open(os.devnull, "w"), open(os.devnull, "w")) if args.quiet else \
        PanelView(options.silence.min_s, band, mask=not args.no_mask) if sys.stdout.isatty() else LineView()

    def on_event(event) -> None:
        if not args.no_mask:
            event = mask_event(event)
        events.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
        events.flush()  # an event written is an event kept, whatever happens next
        view.event(event)

    with view:
        try:
            view.status("正在加载模型…")
            models = Models.load(options, model_dir=args.model, lexicon_dirs=args.lexicon,
                                 scorecard=load_scorecard(args.scorecard, args.lexicon))
            # one channel, unless the user says it is the agent alone, may carry both parties
            mixed = source.channels == 1 and args.layout in ("auto", "mixed")
            session = LiveSession(models, source.channels, agent_index, on_event=on_event, clock=source.arrived_s,
                                  mixed=mixed)
            view.status("正在监听（Ctrl-C 结束）")
            run(source, session, recorder, args.duration, on_state=view.state)
        except BaseException:
            source.stop()
            recorder.close()
            raise
        finally:
            events.close()
    print(f"recording saved: {wav} ({session.received_s:.1f} s); analysing the whole call…", file=sys.stderr)
    report = analyze(models, wav, Channel(args.agent_channel), layout=LayoutChoice(args.layout))
    if not args.no_mask:
        report = mask_report(report)
    if not args.quiet:
        write_terminal(report, sys.stdout)
    FILE_WRITERS["json"].write(report, report_path)
    saved = [wav, report_path, events_path]
    if folder is not None and all(p.parent == folder for p in saved):
        print(f"saved in {folder}/: {', '.join(p.name for p in saved)}", file=sys.stderr)
    else:
        print("saved: " + ", ".join(str(p) for p in saved), file=sys.stderr)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from coach.qa.serve import ServeOptions, serve

    serve(ServeOptions(args.db, args.host, args.port, mask=not args.no_mask, login=args.login,
                       certfile=args.certfile, keyfile=args.keyfile, allowed_hosts=tuple(args.allowed_host),
                       scorecard=args.scorecard))
    return 0


def _users(args: argparse.Namespace) -> int:
    import getpass

    from coach.qa import accounts
    from coach.qa.workspace import Workspace

    actor = f"{getpass.getuser()}（命令行）"

    def password() -> str:
        if args.password_stdin:
            return sys.stdin.readline().rstrip("\r\n")
        first = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != first:
            raise CoachError("the two passwords differ: run the command again")
        return first

    with Workspace(args.db) as ws:
        if args.users_command == "list":
            for user in accounts.list_users(ws):
                agent = f" (agent id {user.agent_id})" if user.agent_id else ""
                print(f"{user.name}\t{user.role.value}{agent}{' disabled' if user.disabled else ''}")
            return 0
        if not ws.writable:
            raise CoachError(f"cannot change the accounts in {ws.where} ({ws.read_only_reason}): "
                             "run this where the database can be written")
        if args.users_command == "add":
            user = accounts.add_user(ws, args.name, accounts.Role(args.role), password(), agent_id=args.agent_id,
                                     actor=actor)
            print(f"added {user.name} ({user.role.value}{', agent id ' + user.agent_id if user.agent_id else ''})")
        elif args.users_command == "passwd":
            accounts.set_password(ws, args.name, password(), actor=actor)
            print(f"new password set for {args.name}")
        else:
            disabled = True if args.disable else False if args.enable else None
            user = accounts.change_user(ws, args.name, actor=actor, role=accounts.Role(args.role) if args.role else None,
                                        agent_id=args.agent_id, disabled=disabled)
            print(f"{user.name}: {user.role.value}{', agent id ' + user.agent_id if user.agent_id else ''}"
                  f"{', disabled' if user.disabled else ''}")
    return 0


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


def _lexicon_report(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from coach.qa.callindex import misfires, sync
    from coach.qa.findings import KIND_LABELS
    from coach.qa.workspace import Workspace
    from coach.scorecard import load_scorecard

    with Workspace(args.db) as ws:
        sync(ws, load_scorecard(args.scorecard))
        rows = misfires(ws)
    table = Table(title="coach lexicon report（按驳回次数）")
    for header in ("类别", "用语/规则"):
        table.add_column(header)
    for header in ("检出", "已复核", "驳回", "驳回率"):
        table.add_column(header, justify="right")
    for m in rows:
        share = "—" if m.rejected_share is None else f"{m.rejected_share:.0%}"
        table.add_row(KIND_LABELS[m.measure], m.rule, str(m.found), str(m.reviewed), str(m.rejected), share)
    if not rows:
        print(f"{args.db}: no findings yet (run coach batch first)")
        return 0
    Console(width=None if sys.stdout.isatty() else 200).print(table)
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
