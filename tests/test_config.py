import pytest

from coach.config import Options, load_options
from coach.errors import ConfigError


def test_defaults_are_the_standard():
    o = load_options(None)
    assert (o.rate.target_min, o.rate.target_max) == (120, 140)
    assert o.silence.min_s == 5.0
    assert o.interruption.min_overlap_s == 1.0
    assert o.pitch.monotone_below_st == 1.0
    assert o.turns.max_pause_s == 1.0


def test_a_file_changes_only_what_it_lists(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[rate]\ntarget_min = 110\n[silence]\nmin_s = 4\n")
    o = load_options(f)
    assert o.rate.target_min == 110.0 and o.rate.target_max == 140
    assert o.silence.min_s == 4.0
    assert o.pitch == Options().pitch


@pytest.mark.parametrize("text, fragment", [
    ("[rate]\ntarget_mn = 1\n", "unknown setting 'rate.target_mn'"),
    ("[rat]\n", "unknown setting 'rat'"),
    ("[rate]\ntarget_min = 'fast'\n", "'rate.target_min' = 'fast' should be a float"),
    ("[rate]\ntarget_min = 150\n", "must be positive and below"),
    ("rate = 3\n", "must be a [rate] table"),
    ("[rate\n", "not valid TOML"),
])
def test_bad_files_name_the_bad_value(tmp_path, text, fragment):
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[").replace("(", r"\(")):
        load_options(f)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_options(tmp_path / "nope.toml")


def test_the_example_file_lists_every_default():
    from pathlib import Path
    example = Path(__file__).resolve().parent.parent / "coach.example.toml"
    assert load_options(example) == Options()
