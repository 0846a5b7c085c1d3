"""CAM++ loaded from the real checkpoint (installed by `make setup`) and run in numpy, against
known answers measured with reference implementations (tests/data/campplus_reference.json)."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from coach.campplus import EMBEDDING_DIM, CamPlusPlus, fbank, read_state_dict
from coach.errors import ModelError

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "campplus_reference.json").read_text(encoding="utf-8"))

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def model() -> CamPlusPlus:
    return CamPlusPlus()


def window(clip: str) -> np.ndarray:
    samples, _ = sf.read(DATA / "realvoice" / clip, dtype="float32")
    features = fbank(samples[:24000])
    return features - features.mean(axis=0)


def test_the_checkpoint_reads_bit_for_bit_as_a_state_dict():
    state = read_state_dict(CamPlusPlus().path)
    assert len(state) == 937
    assert state["head.conv1.weight"].shape == (32, 1, 3, 3) and state["head.conv1.weight"].dtype == np.float32
    assert state["xvector.dense.linear.weight"].shape == (192, 1024, 1)
    assert state["xvector.block3.tdnnd16.linear1.weight"].shape == (128, 992, 1)
    assert int(state["head.bn1.num_batches_tracked"]) > 0  # a trained model, not a fresh one


def test_features_match_kaldis_fbank():
    features = window(REFERENCE["clips"][0])
    assert features.shape == (148, 80)  # 1.5 s: 25 ms frames every 10 ms, wholly inside
    for frame, expected in zip(REFERENCE["fbank_frames"], REFERENCE["fbank"]):
        np.testing.assert_allclose(features[frame], expected, atol=2e-3)


def test_a_tone_lands_in_its_mel_band():
    tone = 0.3 * np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000).astype(np.float32)
    loudest = fbank(tone).mean(axis=0).argmax()
    # Kaldi's mel scale from 20 Hz to 8 kHz in 80 bands: 1 kHz falls in band 26 or 27
    assert loudest in (26, 27)


def test_embeddings_match_the_reference_network(model):
    got = model.embed(np.stack([window(clip) for clip in REFERENCE["clips"]]))
    expected = np.asarray(REFERENCE["embeddings"])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert got.shape == (2, EMBEDDING_DIM)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_one_voice_is_closer_to_itself_than_to_another(model):
    same_a = window("th-A2_1.flac"), window("th-A2_2.flac")
    other = window("th-D12_1.flac")
    a1, a2, b = model.embed(np.stack([*same_a, other]))
    assert a1 @ a2 > 0.5 > max(a1 @ b, a2 @ b)


def test_a_batch_gives_what_each_window_gives_alone(model):
    windows = np.stack([window(c) for c in ("th-A2_1.flac", "th-D12_1.flac", "a1-S0901_1.flac")] * 7)
    together = model.embed(windows)  # 21 windows: more than one internal batch
    np.testing.assert_allclose(together[-1], model.embed(windows[-1:])[0], atol=1e-5)


def test_a_missing_checkpoint_says_how_to_install_it(tmp_path):
    with pytest.raises(ModelError, match="make setup"):
        CamPlusPlus(tmp_path / "nothing.pt")


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a PyTorch checkpoint"):
        CamPlusPlus(bad)


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(Evil()))
    with pytest.raises(ModelError, match="unexpected object builtins.print"):
        read_state_dict(evil)


def test_a_checkpoint_of_another_network_is_refused(tmp_path):
    other = tmp_path / "other.pt"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({}, protocol=2))
    with pytest.raises(ModelError, match="lacks the tensor"):
        CamPlusPlus(other)
