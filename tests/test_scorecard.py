"""The scorecard file: the default's contents, validation messages with file and line."""

from __future__ import annotations

import pytest

from coach.config import Options
from coach.errors import ScorecardError
from coach.scorecard import DEFAULT_SCORECARD, Measure, item_keys, load_scorecard, parse_scorecard

GOOD_ITEM = '[[item]]\nmeasure = "rate"\nlabel = "语速"\npoints = 100\n'


def test_the_default_scorecard_covers_the_standard_and_adds_up_to_100():
    card = load_scorecard()
    assert sum(i.points for i in card.items) == 100
    assert {i.measure for i in card.items} == set(Measure)
    critical = [i for i in card.items if i.critical]
    assert [(i.measure, i.severities) for i in critical] == [(Measure.FORBIDDEN, ("critical",))]
    forbidden = next(i for i in card.items if i.label == "服务禁语")
    assert (forbidden.deduction("minor"), forbidden.deduction("major"), forbidden.deduction("critical")) == (5, 10, 15)


def test_the_default_file_documents_every_key():
    text = DEFAULT_SCORECARD.read_text(encoding="utf-8")
    for key in item_keys():
        assert f"#   {key}" in text, f"{key} is not explained in {DEFAULT_SCORECARD.name}"


@pytest.mark.parametrize("text, line, message", [
    ('name = "x"\n[[item]]\nmeasure = "rate"\nlabel = "语速"\npoints = 100\nzero_at = "a lot"\n', 6, "zero_at"),
    (GOOD_ITEM + '[[item]]\nmeasure = "loudness"\nlabel = "音量"\npoints = 0\n', 6, "use one of rate"),
    (GOOD_ITEM.replace("100", "90") + '[[item]]\nmeasure = "silence"\nlabel = "冷场"\npoints = 10\n', 5,
     "needs deduct"),
    (GOOD_ITEM.replace("100", "90") + '[[item]]\nmeasure = "pitch"\nlabel = "语调"\npoints = 10\ndeduct = 3\n', 9,
     "'deduct' does not apply to a pitch item"),
    (GOOD_ITEM.replace("100", "90") + '[[item]]\nmeasure = "filler"\nlabel = "口头禅"\npoints = 10\n'
     'deduct = { major = 2, huge = 5 }\n', 9, "severity 'huge'"),
    ('[[item]]\nmeasure = "rate"\nlabel = "语速"\npoints = 100\ncritical = "yes"\n', 5, "should be a bool"),
    ('[[item]\nmeasure = "rate"\n', 1, "not valid TOML"),
])
def test_mistakes_name_the_file_and_line(text, line, message):
    with pytest.raises(ScorecardError) as error:
        parse_scorecard(text, "my.toml")
    assert str(error.value).startswith(f"my.toml:{line}:"), str(error.value)
    assert message in str(error.value)


@pytest.mark.parametrize("text, message", [
    (GOOD_ITEM.replace("100", "90"), "add up to 90, not 100"),
    (GOOD_ITEM + GOOD_ITEM.replace("100", "0"), "0 points and is not critical"),
    ('title = "x"\n' + GOOD_ITEM, "unknown top-level key 'title'"),
    ('name = "x"\n', "no [[item]] tables"),
    (GOOD_ITEM.replace("100", "50") * 2, "two items are labelled '语速'"),
])
def test_inconsistent_scorecards_are_refused_with_the_fix(text, message):
    with pytest.raises(ScorecardError) as error:
        parse_scorecard(text, "my.toml")
    assert message in str(error.value)


def test_a_missing_file_names_the_option(tmp_path):
    with pytest.raises(ScorecardError, match="--scorecard"):
        load_scorecard(tmp_path / "none.toml")


def test_batch_redoes_calls_when_the_scorecard_changes_but_not_for_a_comment(tmp_path):
    from coach.qa.batch import Settings

    text = DEFAULT_SCORECARD.read_text(encoding="utf-8")
    commented = tmp_path / "commented.toml"
    commented.write_text("# our centre's copy\n" + text, encoding="utf-8")
    stricter = tmp_path / "stricter.toml"
    stricter.write_text(text.replace("deduct = 7.5             # two", "deduct = 15             # one"),
                        encoding="utf-8")
    base = Settings(Options()).fingerprint()
    assert Settings(Options(), scorecard=load_scorecard(commented)).fingerprint() == base
    assert Settings(Options(), scorecard=load_scorecard(stricter)).fingerprint() != base


def test_the_cli_reports_a_bad_scorecard_in_one_line_before_loading_anything(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD_ITEM + 'zero_at = 0\n', encoding="utf-8")
    for command in (["analyze", str(tmp_path / "call.wav")], ["batch", str(tmp_path), "--db", str(tmp_path / "x.db")]):
        result = subprocess.run([sys.executable, "-m", "coach.cli", *command, "--scorecard", str(bad)],
                                cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=120)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.strip() == f"error: {bad}:5: item 1: zero_at = 0.0: give a fraction above 0, e.g. 0.25"


# Each of these passed before and quietly changed the score: a step label that selects no step
# scores the item full marks on every call, a severity left out of a deduction table made those
# hits free, NaN passed the "≥ 0" check and infinity made one hit cost everything.
FORBIDDEN = '[[item]]\nmeasure = "forbidden"\nlabel = "禁语"\npoints = 10\n'
SCRIPT = '[[item]]\nmeasure = "script"\nlabel = "流程"\npoints = 10\n'


@pytest.mark.parametrize("item, line, message", [
    (SCRIPT + 'steps = ["开场白"]\n', 9, "steps names '开场白', which is no step of the lexicon's script.txt: "
                                          "use the labels 开场问候并报工号"),
    (FORBIDDEN + "deduct = { minor = 5 }\n", 9, "deduct has no deduction for 'major' hits, which this item "
                                                 "counts: add major = … to deduct"),
    (FORBIDDEN + 'severities = ["minor"]\ndeduct = { minor = 5, major = 10 }\n', 10,
     "deduct prices 'major' hits but severities leaves them out"),
    (FORBIDDEN + "deduct = nan\n", 9, "deduct = nan should be a number ≥ 0"),
    (FORBIDDEN + "deduct = { minor = 5, major = inf, critical = 1 }\n", 9, "deduct = inf should be a number ≥ 0"),
    (SCRIPT + "deduct = -2\n", 9, "deduct = -2 should be a number ≥ 0"),
    (SCRIPT.replace("points = 10", "points = nan"), 8, "points = nan should be a number ≥ 0"),
])
def test_quiet_score_changers_are_errors_with_file_line_and_fix(tmp_path, item, line, message):
    card = tmp_path / "my.toml"
    card.write_text(GOOD_ITEM.replace("100", "90") + item, encoding="utf-8")
    with pytest.raises(ScorecardError) as error:
        load_scorecard(card)
    assert str(error.value).startswith(f"{card}:{line}: item 2: "), str(error.value)
    assert message in str(error.value)


def test_steps_are_checked_against_the_lexicon_the_analysis_uses(tmp_path):
    (tmp_path / "lexicon").mkdir()
    (tmp_path / "lexicon" / "script.txt").write_text(
        "verify | label: 核实身份 | where: anywhere | need: 身份证后四位 | hint: 先核实身份\n", encoding="utf-8")
    card = tmp_path / "my.toml"
    card.write_text(GOOD_ITEM.replace("100", "90") + SCRIPT + 'steps = ["核实身份", "开场问候并报工号"]\n',
                    encoding="utf-8")
    with pytest.raises(ScorecardError, match="'核实身份', which is no step"):
        load_scorecard(card)
    assert load_scorecard(card, [tmp_path / "lexicon"]).items[1].steps == ("核实身份", "开场问候并报工号")
