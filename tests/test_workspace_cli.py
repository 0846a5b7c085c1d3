"""The workspace from the command line: `coach users`, `coach lexicon report`, `coach export --audit`."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from coach.qa import callindex, review
from coach.qa.review import Decision
from coach.qa.workspace import Workspace, recordings
from coach.scorecard import load_scorecard
from tests.fixtures.teamdb import build_team_db

ROOT = Path(__file__).resolve().parent.parent


def coach(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coach.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          input=stdin, timeout=120)


def test_users_are_added_listed_changed_and_bad_input_is_one_line(tmp_path):
    db = str(tmp_path / "qa.db")
    build_team_db(db, tmp_path)
    added = coach("users", "add", "A001", "--role", "agent", "--db", db, "--password-stdin", stdin="agent-pw-0001\n")
    assert added.returncode == 0 and "added A001 (agent, agent id A001)" in added.stdout
    assert coach("users", "add", "zhang", "--role", "reviewer", "--db", db, "--password-stdin",
                 stdin="reviewer-pw-1\n").returncode == 0
    listed = coach("users", "list", "--db", db).stdout.splitlines()
    assert listed == ["A001\tagent (agent id A001)", "zhang\treviewer"]
    changed = coach("users", "set", "zhang", "--role", "admin", "--disable", "--db", db)
    assert changed.returncode == 0 and "zhang: admin, disabled" in changed.stdout
    assert coach("users", "passwd", "A001", "--db", db, "--password-stdin", stdin="a-new-pw-0002\n").returncode == 0
    for args, stdin, message in (
            (("users", "add", "A002", "--role", "agent"), "short\n", "too short"),
            (("users", "add", "A001", "--role", "agent"), "long-enough-pw\n", "already exists"),
            (("users", "set", "nobody", "--role", "agent"), None, "no user 'nobody'"),
            (("users", "add", "x y", "--role", "agent"), "long-enough-pw\n", "not usable")):
        result = coach(*args, "--db", db, *(["--password-stdin"] if stdin else []), stdin=stdin)
        assert result.returncode == 1 and result.stderr.startswith("error: ") and message in result.stderr, result
        assert "Traceback" not in result.stderr
    assert coach("users", "list", "--db", str(tmp_path / "none.db")).stderr.startswith("error: cannot open")


def test_lexicon_report_and_the_audit_export_after_a_review(tmp_path):
    db = str(tmp_path / "qa.db")
    build_team_db(db, tmp_path)
    card = load_scorecard()
    with Workspace(db) as ws:
        callindex.sync(ws, card)
        with ws.reading() as conn:
            call, report = conn.execute(sa.select(recordings.c.id, recordings.c.report)
                                        .where(recordings.c.call_id == "a001-1102")).one()
        review.decide(ws, card, call, json.loads(report), "forbidden@50.00", Decision.REJECT, "=1+1 客户原话", "王质检")
    report = coach("lexicon", "report", "--db", db)
    assert report.returncode == 0, report.stderr
    first = next(line for line in report.stdout.splitlines() if "不知道" in line)
    assert [c for c in first.replace("│", " ").split()][-4:] == ["4", "1", "1", "100%"]  # found, reviewed, rejected
    assert report.stdout.index("不知道") < report.stdout.index("你到XX问问")
    out = tmp_path / "audit.csv"
    assert coach("export", "--db", db, "--audit", str(out)).returncode == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [(r["actor"], r["action"], r["call_id"], r["agent_id"]) for r in rows] == [
        ("王质检", "驳回发现", "a001-1102", "A001")]
    assert "60.7 → 65.7" in rows[0]["what"] and rows[0]["why"] == "'=1+1 客户原话"  # no formula for a spreadsheet
