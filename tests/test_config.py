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
    # Out of range: these passed (and quietly changed the analysis) or crashed later with a traceback.
    ('[asr]\nlanguage = "xx"\n', 'asr.language = "xx" is not valid: give one of'),
    ('[asr]\ncompute_type = "int4"\n', 'asr.compute_type = "int4" is not valid: give one of'),
    ("[asr]\ncpu_threads = -4\n", "asr.cpu_threads = -4 is not valid: give a number 0 or more"),
    ("[asr]\nbeam_size = 0\n", "asr.beam_size = 0 is not valid: give a number 1 or more"),
    ("[silence]\nmin_s = nan\n", "silence.min_s = nan is not valid: give a number above 0"),
    ("[silence]\nmin_s = -3\n", "silence.min_s = -3 is not valid"),
    ("[silence]\nmin_s = inf\n", "silence.min_s = inf is not valid"),
    ("[vad]\nthreshold = 7\n", "vad.threshold = 7 is not valid: give a number above 0 and below 1 (default 0.5)"),
    ("[vad]\nthreshold = 0.3\n", "vad.neg_threshold (0.35) must not be above vad.threshold (0.3)"),
    ("[turns]\nmax_pause_s = -1.0\n", "turns.max_pause_s = -1.0 is not valid"),
    ("[interruption]\nmin_overlap_s = -0.5\n", "interruption.min_overlap_s = -0.5 is not valid"),
    ("[pitch]\nfmin_hz = 0\n", "pitch.fmin_hz = 0 is not valid"),
    ("[pitch]\nfmin_hz = 400\nfmax_hz = 300\n", "pitch.fmin_hz (400.0) must be below pitch.fmax_hz (300.0)"),
    ("[rate]\ntarget_max = nan\n", "rate.target_max = nan is not valid"),
    ("[audio]\nmax_duration_s = 0\n", "audio.max_duration_s = 0 is not valid"),
])
def test_bad_files_name_the_file_key_value_and_fix(tmp_path, text, fragment):
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_options(f)
    message = str(caught.value)
    assert str(f) in message and fragment in message and "\n" not in message


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_options(tmp_path / "nope.toml")


def test_the_example_file_lists_every_default():
    from pathlib import Path
    example = Path(__file__).resolve().parent.parent / "coach.example.toml"
    assert load_options(example) == Options()


def test_every_setting_declares_the_values_it_accepts_and_its_default_is_one():
    import dataclasses

    for section in dataclasses.fields(Options):
        cls = section.default_factory
        for f in dataclasses.fields(cls):
            limits = f.metadata.get("limits")
            assert limits is not None, f"{section.name}.{f.name} has no range: declare it with setting()"
            assert limits.accepts(getattr(cls(), f.name)), f"{section.name}.{f.name}'s default is out of its range"


def test_the_edges_of_a_range_are_accepted(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[vad]\nthreshold = 0.99\nneg_threshold = 0.01\n[asr]\nlanguage = "yue"\ncpu_threads = 0\n'
                 "[audio]\nmax_duration_s = 60\n")
    o = load_options(f)
    assert (o.vad.threshold, o.asr.language, o.audio.max_duration_s) == (0.99, "yue", 60.0)
