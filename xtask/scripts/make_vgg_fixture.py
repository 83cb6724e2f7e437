#!/usr/bin/env python3
"""Write the small VGG-19 test fixture used by `cimle_trainer::perceptual`, and its reference numbers.

What it writes (paths relative to the workspace root):

* `trainer/tests/fixtures/vgg19_div16.safetensors`: a torchvision `vgg19` state dict in the
  torchvision key layout (`features.{idx}.weight` / `features.{idx}.bias` for the 16 convolutions
  at idx 0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34, plus a tiny `classifier.*`
  head that the loader must ignore), every width divided by 16: channels 4, 4, 8, 8, 16 x 4, 32 x 8.
* `trainer/tests/fixtures/vgg19_div16.pth`: the same tensors as a real PyTorch >= 1.6 zip
  checkpoint, written WITHOUT torch (it cannot be installed here): `archive/data.pkl` is a
  protocol-2 pickle of an `OrderedDict` whose values are `torch._utils._rebuild_tensor_v2(storage,
  offset, size, stride, requires_grad, backward_hooks)` calls, each storage a persistent id
  `("storage", torch.HalfStorage | torch.FloatStorage, key, "cpu", numel)`; `archive/data/<key>`
  holds the raw little-endian storage bytes; `archive/version` is "3", `archive/byteorder` is
  "little". The pickle is made by the standard `pickle` module against stand-in `torch` and
  `torch._utils` modules, so the opcodes are the ones `torch.save` emits.

Weights are He-normal (std sqrt(2 / fan_in)) with small random biases, from numpy's PCG64 seeded
with `--seed`. They are stored as float16 by default (`--dtype f16`): at float32 the 16 convs of a
width-16 VGG-19 are 315 KB per file, over the 200 KB fixture budget; float16 halves that, and the
loader's dtype conversion is exercised on the way. `--dtype f32` writes `torch.FloatStorage` /
F32 instead (what a real torchvision checkpoint holds).

Then it prints the reference numbers that `trainer/tests/vgg.rs` pastes in: the five VGG
features (after ReLU at conv1_2, conv2_2, conv3_2, conv4_2, conv5_2) of a fixed 1x3x32x32 input,
computed by the plain numpy reference below in float64 (conv3x3 pad 1 + bias, ReLU, 2x2 average
pooling; input in [-1, 1] mapped to [0, 1] then torchvision-normalised), and the six per-layer
distance terms between two fixed inputs. The stored float16 weights are what the reference uses.

Usage: python3 xtask/scripts/make_vgg_fixture.py [--out-dir trainer/tests/fixtures] [--seed 1811]
Needs numpy and the `safetensors` PyPI package (`pip install numpy safetensors`).
"""

import argparse
import collections
import io
import os
import pickle
import sys
import types
import zipfile

import numpy as np
from safetensors.numpy import save_file

# torchvision vgg19().features: conv indices and full-size output channels.
CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
CHANNELS = [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512]
# A 2x2 pool follows these torchvision indices (conv1_2, conv2_2, conv3_4, conv4_4).
POOL_AFTER = {2, 7, 16, 25}
# The five feature layers: conv1_2, conv2_2, conv3_2, conv4_2, conv5_2.
FEATURE_INDICES = [2, 7, 12, 21, 30]
# torchvision / ImageNet normalisation on [0, 1] images, as float32 (what the Rust code uses).
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).astype(np.float64)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).astype(np.float64)


def make_state_dict(width_div, seed, dtype):
    rng = np.random.default_rng(seed)
    sd = collections.OrderedDict()
    cin = 3
    for idx, cout in zip(CONV_INDICES, CHANNELS):
        cout //= width_div
        std = np.sqrt(2.0 / (cin * 9))
        sd[f"features.{idx}.weight"] = (rng.standard_normal((cout, cin, 3, 3)) * std).astype(dtype)
        sd[f"features.{idx}.bias"] = (rng.standard_normal(cout) * 0.05).astype(dtype)
        cin = cout
    # A tiny stand-in for torchvision's classifier: present in real checkpoints, must be ignored.
    sd["classifier.0.weight"] = (rng.standard_normal((4, cin)) * 0.1).astype(dtype)
    sd["classifier.0.bias"] = np.zeros(4, dtype=dtype)
    return sd


# ---------------------------------------------------------------- torch zip writer, without torch
def _install_torch_stand_ins():
    """Stand-in `torch` / `torch._utils` modules so `pickle` emits torch's GLOBAL opcodes."""
    torch_mod = types.ModuleType("torch")
    utils_mod = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # never called: we only pickle references to it
        raise RuntimeError("stand-in")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils_mod._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch_mod._utils = utils_mod
    for name in ("FloatStorage", "HalfStorage"):
        cls = type(name, (), {})
        cls.__module__ = "torch"
        setattr(torch_mod, name, cls)
    sys.modules.setdefault("torch", torch_mod)
    sys.modules.setdefault("torch._utils", utils_mod)
    return sys.modules["torch"], sys.modules["torch._utils"]


class _StorageRef:
    def __init__(self, key, storage_cls, numel):
        self.key, self.storage_cls, self.numel = key, storage_cls, numel


class _TensorRef:
    def __init__(self, rebuild, storage, shape):
        self.rebuild, self.storage, self.shape = rebuild, storage, tuple(shape)

    def __reduce__(self):
        # Contiguous strides, as torch writes them.
        stride, acc = [], 1
        for d in reversed(self.shape):
            stride.append(acc)
            acc *= d
        stride = tuple(reversed(stride))
        return (self.rebuild, (self.storage, 0, self.shape, stride, False, collections.OrderedDict()))


class _TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _StorageRef):
            return ("storage", obj.storage_cls, obj.key, "cpu", obj.numel)
        return None


def write_pth(path, sd):
    torch_mod, utils_mod = _install_torch_stand_ins()
    refs = collections.OrderedDict()
    blobs = []
    for i, (name, arr) in enumerate(sd.items()):
        storage_cls = {np.float16: torch_mod.HalfStorage, np.float32: torch_mod.FloatStorage}[arr.dtype.type]
        key = str(i)
        refs[name] = _TensorRef(utils_mod._rebuild_tensor_v2, _StorageRef(key, storage_cls, arr.size), arr.shape)
        blobs.append((key, np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()))
    buf = io.BytesIO()
    _TorchPickler(buf, protocol=2).dump(refs)
    # torch.save stores every entry uncompressed. A fixed timestamp keeps the file reproducible.
    def entry(z, name, data):
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED
        z.writestr(info, data)

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        entry(z, "archive/data.pkl", buf.getvalue())
        entry(z, "archive/byteorder", "little")
        for key, data in blobs:
            entry(z, f"archive/data/{key}", data)
        entry(z, "archive/version", "3\n")


# ---------------------------------------------------------------- numpy reference VGG
def conv3x3(x, w, b):
    """conv3x3, stride 1, zero padding 1, plus bias. x [N,Ci,H,W], w [Co,Ci,3,3]."""
    n, _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[0], h, wd))
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("oi,nihw->nohw", w[:, :, dy, dx], xp[:, :, dy : dy + h, dx : dx + wd])
    return out + b[None, :, None, None]


def avgpool2(x):
    n, c, h, w = x.shape
    h2, w2 = h // 2, w // 2
    x = x[:, :, : 2 * h2, : 2 * w2]
    return x.reshape(n, c, h2, 2, w2, 2).mean(axis=(3, 5))


def reference_features(sd, img):
    """[pixels (normalised input), conv1_2, conv2_2, conv3_2, conv4_2, conv5_2] of img in [-1, 1]."""
    x = ((img + 1.0) / 2.0 - MEAN[None, :, None, None]) / STD[None, :, None, None]
    maps = [x]
    for idx in CONV_INDICES:
        w = sd[f"features.{idx}.weight"].astype(np.float64)
        b = sd[f"features.{idx}.bias"].astype(np.float64)
        x = np.maximum(conv3x3(x, w, b), 0.0)
        if idx in FEATURE_INDICES:
            maps.append(x)
        if idx == FEATURE_INDICES[-1]:
            break
        if idx in POOL_AFTER:
            x = avgpool2(x)
    return maps


def pattern(kind, n, h, w):
    """The fixed inputs the Rust tests rebuild; exactly representable in f32."""
    c, i, j = np.meshgrid(np.arange(3), np.arange(h), np.arange(w), indexing="ij")
    if kind == "a":
        v = ((c * 7 + i * 3 + j * 5) % 17) / 8.0 - 1.0
    else:
        v = ((c * 5 + i * 7 + j * 3) % 13) / 6.0 - 1.0
    return np.broadcast_to(v, (n, 3, h, w)).astype(np.float64)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out-dir", default=os.path.join(here, "..", "..", "trainer", "tests", "fixtures"))
    ap.add_argument("--seed", type=int, default=1811)
    ap.add_argument("--width-div", type=int, default=16)
    ap.add_argument("--dtype", choices=["f16", "f32"], default="f16")
    args = ap.parse_args()

    dtype = np.float16 if args.dtype == "f16" else np.float32
    sd = make_state_dict(args.width_div, args.seed, dtype)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = os.path.join(os.path.normpath(args.out_dir), f"vgg19_div{args.width_div}")
    save_file(dict(sd), stem + ".safetensors", metadata={"format": "pt"})
    write_pth(stem + ".pth", sd)
    for ext in (".safetensors", ".pth"):
        print(f"// wrote {stem + ext}: {os.path.getsize(stem + ext)} bytes", file=sys.stderr)

    a = pattern("a", 1, 32, 32)
    b = pattern("b", 1, 32, 32)
    fa = reference_features(sd, a)
    fb = reference_features(sd, b)
    names = ["pixels", "conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2"]
    print(f"// make_vgg_fixture.py --seed {args.seed} --width-div {args.width_div} --dtype {args.dtype}")
    print("// Feature sums of pattern A (1x3x32x32), index 0 = the normalised input:")
    print("const REF_SUMS: [f64; 6] = [" + ", ".join(f"{m.sum():.9e}" for m in fa) + "];")
    print("// Feature shapes [N, C, H, W]:")
    print("const REF_SHAPES: [[usize; 4]; 6] = [" + ", ".join(str(list(m.shape)) for m in fa) + "];")
    print("// conv1_2 of pattern A, flattened, first 8 values:")
    print("const REF_CONV1_2_HEAD: [f64; 8] = [" + ", ".join(f"{v:.9e}" for v in fa[1].ravel()[:8]) + "];")
    print("// conv5_2 of pattern A, flattened, first 8 values:")
    print("const REF_CONV5_2_HEAD: [f64; 8] = [" + ", ".join(f"{v:.9e}" for v in fa[5].ravel()[:8]) + "];")
    print("// Per-layer terms mean|A - B| over C, H, W (no mask):")
    print("const REF_TERMS: [f64; 6] = [" + ", ".join(f"{np.abs(x - y).mean():.9e}" for x, y in zip(fa, fb)) + "];")
    for name, m in zip(names, fa):
        print(f"//   {name}: shape {list(m.shape)}, zero fraction {np.mean(m == 0):.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
