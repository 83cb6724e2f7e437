#!/usr/bin/env python3
"""PyTorch reference of cimle's generator and perceptual distance, for `cargo xtask bench-torch`.

The same network as `shared/src/generator.rs` (noise encoder, CRN refinement modules, layer norm
as GroupNorm(1, C), LeakyReLU(0.2), bilinear resizes with half-pixel centres, area-resized
layouts, a 1x1 conv to RGB) and the same distance as `trainer/src/perceptual/mod.rs` (VGG-19 up to
conv5_2 with average pooling, ImageNet normalisation, a pixel term, per-layer mean |a - b|, the
layer weights lambda), and the same training step (Adam, burn's defaults: betas 0.9 / 0.999,
eps 1e-5; the photo's features computed once and reused, as cimle does).

It never defines weights of its own: `cimle bench fixture` writes the generator (cimle's weights
format, which is safetensors), the VGG-19 (torchvision's key names), the inputs and cimle's own
outputs into a folder, and

    python torch_reference.py check DIR         compares this implementation's outputs with cimle's
    python torch_reference.py time DIR CASE ... times one case and prints one JSON line

PyTorch is only ever a comparison for cimle, never a dependency of it.
"""

import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file

LEAKY_SLOPE = 0.2
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Positions in the 16 convs of VGG-19: features after these (conv1_2 .. conv5_2), pools after those.
FEATURE_POSITIONS = (1, 3, 5, 9, 13)
POOL_AFTER = (1, 3, 7, 11)
CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)


def layer_norm(channels):
    # TF-slim's layer_norm: over C x H x W of each sample, per-channel scale and offset.
    return nn.GroupNorm(1, channels, eps=1e-5)


def conv3x3(c_in, c_out, bias):
    return nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias)


class NoiseEncoder(nn.Module):
    def __init__(self, classes, latent, width):
        super().__init__()
        self.conv1 = conv3x3(classes + latent, width, True)
        self.norm1 = layer_norm(width)
        self.conv2 = conv3x3(width, width, True)
        self.norm2 = layer_norm(width)
        self.out = nn.Conv2d(width, latent, 1)

    def forward(self, layout, noise):
        x = torch.cat([layout, noise], 1)
        x = F.leaky_relu(self.norm1(self.conv1(x)), LEAKY_SLOPE)
        x = F.leaky_relu(self.norm2(self.conv2(x)), LEAKY_SLOPE)
        return self.out(x)


class RefinementModule(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv1 = conv3x3(c_in, c_out, False)
        self.norm1 = layer_norm(c_out)
        self.conv2 = conv3x3(c_out, c_out, False)
        self.norm2 = layer_norm(c_out)

    def forward(self, x):
        x = F.leaky_relu(self.norm1(self.conv1(x)), LEAKY_SLOPE)
        return F.leaky_relu(self.norm2(self.conv2(x)), LEAKY_SLOPE)


def resize_bilinear(x, size):
    if tuple(x.shape[2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class Generator(nn.Module):
    def __init__(self, config):
        super().__init__()
        classes = len(config["classes"])
        latent = config["latent_channels"]
        self.height, self.width = config["height"], config["width"]
        self.encoder = NoiseEncoder(classes, latent, config["encoder_width"])
        prev, modules = 0, []
        for w in config["widths"]:
            modules.append(RefinementModule(prev + classes + latent, w))
            prev = w
        self.refinement = nn.ModuleList(modules)
        self.to_rgb = nn.Conv2d(prev, 3, 1)

    def forward(self, layout, noise):
        encoded = self.encoder(layout, noise)
        n = len(self.refinement)
        features = None
        for k, module in enumerate(self.refinement):
            factor = 1 << (n - 1 - k)
            size = (self.height // factor, self.width // factor)
            x_k = F.avg_pool2d(layout, factor) if factor > 1 else layout
            e_k = resize_bilinear(encoded, size)
            if features is None:
                inp = torch.cat([x_k, e_k], 1)
            else:
                inp = torch.cat([resize_bilinear(features, size), x_k, e_k], 1)
            features = module(inp)
        return self.to_rgb(features)


def load_generator(path):
    """A Generator from a cimle weights file (safetensors; config in the metadata)."""
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
        if meta.get("format") != "cimle-generator":
            raise SystemExit(f"{path}: not a cimle weights file")
        config = json.loads(meta["config"])
        tensors = {k: f.get_tensor(k).float() for k in f.keys()}
    g = Generator(config)
    renamed = {}
    for k, v in tensors.items():
        k = k.replace(".gamma", ".weight").replace(".beta", ".bias")
        renamed[k] = v
    g.load_state_dict(renamed, strict=True)
    return g, config


class Vgg19Features(nn.Module):
    """torchvision's vgg19().features up to conv5_2, max pools replaced by 2x2 average pools."""

    def __init__(self, state):
        super().__init__()
        convs = []
        for idx in CONV_INDICES[:14]:
            w, b = state[f"features.{idx}.weight"], state[f"features.{idx}.bias"]
            conv = nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
            conv.weight.data.copy_(w)
            conv.bias.data.copy_(b)
            convs.append(conv)
        self.convs = nn.ModuleList(convs)
        for p in self.parameters():
            p.requires_grad_(False)
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        self.register_buffer("scale", 0.5 / std)
        self.register_buffer("shift", (0.5 - mean) / std)

    def features(self, images):
        """The six maps of the distance: the normalised image, then conv1_2 .. conv5_2."""
        x = images * self.scale + self.shift
        out = [x]
        for position, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            if position in FEATURE_POSITIONS:
                out.append(x)
            if position in POOL_AFTER:
                x = F.avg_pool2d(x, 2)
        return out


def distance_terms(real, fake):
    """[N, 6]: per layer, the mean over C x H x W of |fake - real| (real may have batch 1)."""
    n = fake[0].shape[0]
    return torch.stack(
        [(f - r.expand_as(f)).abs().reshape(n, -1).mean(1) for r, f in zip(real, fake)], 1
    )


def distance(real, fake, weights):
    return (distance_terms(real, fake) * weights).sum(1)


class Fixture:
    def __init__(self, folder):
        self.folder = folder
        with open(os.path.join(folder, "meta.json")) as f:
            self.meta = json.load(f)
        self.generator, self.config = load_generator(os.path.join(folder, "generator.safetensors"))
        self.vgg = Vgg19Features(load_file(os.path.join(folder, "vgg.safetensors")))
        self.inputs = load_file(os.path.join(folder, "inputs.safetensors"))
        self.weights = torch.tensor(self.meta["layer_weights"]).view(1, 6)

    def path(self, name):
        return os.path.join(self.folder, name)

    def optimizer(self):
        return torch.optim.Adam(self.generator.parameters(), lr=self.meta["lr"], betas=(0.9, 0.999), eps=1e-5)

    def train_step(self, opt, layout, code, real):
        fake = self.vgg.features(self.generator(layout, code))
        loss = distance(real, fake, self.weights).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    def select(self, layouts, codes, targets, m, batch):
        """Nearest of m codes per image, `batch` renders a pass: cimle's select_nearest_latents."""
        per_pass = max(1, batch // m)
        picks = []
        with torch.no_grad():
            for start in range(0, layouts.shape[0], per_pass):
                end = min(start + per_pass, layouts.shape[0])
                g = end - start
                real = [t.repeat_interleave(m, 0) for t in self.vgg.features(targets[start:end])]
                x = layouts[start:end].repeat_interleave(m, 0)
                z = codes[start * m:end * m]
                fake = self.vgg.features(self.generator(x, z))
                d = distance(real, fake, self.weights).view(g, m)
                picks.extend(d.argmin(1).tolist())
        return picks


def rename(k):
    """cimle's (burn's) parameter names to PyTorch's: layer norm gamma/beta are weight/bias."""
    return k.replace(".gamma", ".weight").replace(".beta", ".bias")


def rel_err(a, b):
    a, b = a.double(), b.double()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def check(folder, tolerance):
    fx = Fixture(folder)
    expected = load_file(fx.path("expected.safetensors"))
    layout, code, target = fx.inputs["layout"][:1], fx.inputs["code"][:1], fx.inputs["target"][:1]
    errors = {}
    with torch.no_grad():
        image = fx.generator(layout, code)
        errors["generator output"] = rel_err(image, expected["image"])
        real = fx.vgg.features(target)
        terms = distance_terms(real, fx.vgg.features(image))
        errors["distance terms"] = rel_err(terms, expected["terms"])
    if "selection" in expected:
        m = fx.meta["candidates"]
        picks = fx.select(fx.inputs["sel_layout"], fx.inputs["sel_code"], fx.inputs["sel_target"], m, fx.meta["selection_batch"])
        ours = torch.tensor(picks, dtype=torch.float32)
        errors["selection (picks that differ)"] = float((ours != expected["selection"]).sum().item())
    opt = fx.optimizer()
    fake = fx.vgg.features(fx.generator(layout, code))
    loss = distance([t.detach() for t in real], fake, fx.weights).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    errors["training loss"] = rel_err(loss.detach().view(1), expected["loss"].view(1))
    cimle_grads = load_file(fx.path("grads.safetensors"))
    ours_grads = {rename(k): p.grad.detach().clone() for k, p in fx.generator.named_parameters()}
    errors["gradients"] = max(rel_err(ours_grads[rename(k)], g) for k, g in cimle_grads.items())
    opt.step()
    after = load_file(fx.path("generator-step1.safetensors"))
    before = load_file(fx.path("generator.safetensors"))
    state = fx.generator.state_dict()
    eps = opt.param_groups[0]["eps"]
    worst = 0.0
    for k, v in after.items():
        ours = state[rename(k)] - before[k]
        theirs = v.float() - before[k]
        # The first update is lr g / (|g| + eps): where |g| is within rounding noise of the
        # tensor's largest gradient, or near eps, it follows that noise. Compare it elsewhere.
        g = ours_grads[rename(k)].abs()
        sure = g > max(10 * eps, 1e-2 * g.max().item())
        if sure.any():
            worst = max(worst, rel_err(ours[sure], theirs[sure]))
    errors["Adam step (update)"] = worst
    ok = all(
        (v == 0 if k.startswith("selection") else v <= tolerance[k]) for k, v in errors.items()
    )
    print(json.dumps({"fixture": folder, "errors": errors, "tolerance": tolerance, "ok": ok}))
    return ok


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_case(folder, case, batch, repeats):
    fx = Fixture(folder)
    inputs = fx.inputs
    if case == "train-step":
        layout, code, target = inputs["layout"][:1], inputs["code"][:1], inputs["target"][:1]
        with torch.no_grad():
            real = fx.vgg.features(target)
        opt = fx.optimizer()
        for _ in range(3):
            fx.train_step(opt, layout, code, real)
        start = time.perf_counter()
        for _ in range(repeats):
            fx.train_step(opt, layout, code, real)
        value, unit = (time.perf_counter() - start) * 1000 / repeats, "ms"
    elif case == "selection":
        m, sel_batch = fx.meta["candidates"], fx.meta["selection_batch"]
        lay, codes, tg = inputs["sel_layout"], inputs["sel_code"], inputs["sel_target"]
        fx.select(lay[:1], codes[:m], tg[:1], m, sel_batch)
        start = time.perf_counter()
        for _ in range(repeats):
            fx.select(lay, codes, tg, m, sel_batch)
        value, unit = lay.shape[0] * repeats / (time.perf_counter() - start), "images/s"
    elif case == "forward":
        layout = inputs["layout"][:1].repeat(batch, 1, 1, 1)
        code = inputs["code"][:1].repeat(batch, 1, 1, 1)
        with torch.no_grad():
            for _ in range(2):
                fx.generator(layout, code)
            start = time.perf_counter()
            for _ in range(repeats):
                fx.generator(layout, code)
        value, unit = (time.perf_counter() - start) * 1000 / repeats, "ms"
    else:
        raise SystemExit(f"unknown case {case!r}: train-step, selection or forward")
    print(json.dumps({"case": case, "value": value, "unit": unit, "peak_rss_mib": peak_rss_mib(), "threads": torch.get_num_threads()}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("fixture")
    t = sub.add_parser("time")
    t.add_argument("fixture")
    t.add_argument("case")
    t.add_argument("--batch", type=int, default=1)
    t.add_argument("--repeats", type=int, default=10)
    for s in (c, t):
        s.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.cmd == "check":
        with open(os.path.join(a.fixture, "meta.json")) as f:
            tolerance = json.load(f)["tolerance"]
        sys.exit(0 if check(a.fixture, tolerance) else 1)
    time_case(a.fixture, a.case, a.batch, a.repeats)


if __name__ == "__main__":
    main()
