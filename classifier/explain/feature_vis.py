"""Feature visualisation by optimisation (Olah, Mordvintsev and Schubert, "Feature
Visualization", Distill 2017, doi:10.23915/distill.00007): start from noise and follow the
gradient to the image that excites one channel of a layer (or one class logit) most.

Plain gradient ascent on pixels finds high-frequency patterns that fool the net, not
pictures of what it detects. The paper's recipe, followed here as Lucid implements it:

- the image is parameterised by its Fourier spectrum, scaled by 1/frequency, so a step
  moves low frequencies as easily as high ones (the gradient is "whitened");
- colours are decorrelated: the optimiser moves three independent colour components that
  Lucid's matrix below mixes back into RGB, so it does not spend steps fighting the
  natural correlation of R, G and B;
- every step sees the image randomly padded, jittered, scaled and rotated (Lucid's
  ``standard_transforms``), so only patterns that survive small moves are rewarded;
- Adam, learning rate 0.05, batch of one image.

No maintained PyTorch library does this for torch 2.x (checked 2026-12: ``torch-lucent``
0.1.8, last released 2021, pins ``kornia<=0.4.1``; ``horama`` 0.3.0 declares Python
≤ 3.10, crops a 1280-pixel canvas six times per step and defaults to CUDA), so it is
written out here. A channel objective stops the forward pass at its layer, so the layers
above it cost nothing.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from classifier.analysis import analyze
from classifier.explain.layer_info import LayerInfo, as_maps, output_up_to
from classifier.explain.predict import device_of
from classifier.explain.safety import exclusive
from classifier.outputs import main_logits
from classifier.weights.preprocess import Preprocess

# The square root of the colour covariance of ImageNet images, from its SVD: Lucid's
# ``color_correlation_svd_sqrt`` (github.com/tensorflow/lucid, lucid/optvis/param/color.py),
# scaled like Lucid so that its largest column has unit norm.
COLOUR_CORRELATION_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOUR_MIX = COLOUR_CORRELATION_SQRT / COLOUR_CORRELATION_SQRT.norm(dim=0).max()

LEARNING_RATE = 0.05  # Lucid's render_vis default, with Adam
DECAY_POWER = 1.0  # spectrum scale 1 / frequency**DECAY_POWER (Lucid's fft_image)
SPECTRUM_SD = 0.01  # Lucid's initial spectrum standard deviation
# Lucid's standard_transforms for a 224-pixel image, as fractions of the image side so a
# 32-pixel CIFAR net gets the same relative moves: pad 12 px (grey), jitter 8 px, scale by
# 0.9…1.1, rotate by −10…10° (0° five times as likely), jitter 4 px.
PAD, JITTER, FINE_JITTER = 12 / 224, 8 / 224, 4 / 224
SCALES = [1 + (i - 5) / 50 for i in range(11)]
ANGLES = list(range(-10, 11)) + 5 * [0]

Progress = Callable[[int, int, float], None]


@dataclass(frozen=True)
class Objective:
    """What to maximise: the mean over positions of ``channel`` of ``layer`` (Lucid's
    ``channel`` objective), or the logit of class ``index`` when ``layer`` is None."""

    index: int
    layer: LayerInfo | None = None

    @property
    def label(self) -> str:
        return f"channel {self.index} of {self.layer.name}" if self.layer else f"the logit of class {self.index}"


def objective_value(model: nn.Module, objective: Objective, x: torch.Tensor) -> torch.Tensor:
    """The objective for each image of ``x`` (B,), differentiable. A channel objective
    runs the model only up to its layer."""
    if objective.layer is None:
        return main_logits(model(x))[:, objective.index]
    output = output_up_to(model, model.get_submodule(objective.layer.name), x)
    return as_maps(output)[:, objective.index].flatten(1).mean(1)


def score(model: nn.Module, objective: Objective, x: torch.Tensor) -> list[float]:
    """The objective for each preprocessed image of ``x``, without gradients: how strongly
    real images excite what the visualisation maximises."""
    with exclusive(model), torch.no_grad():
        return [float(v) for v in objective_value(model, objective, x.to(device_of(model)))]


# --- cost ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cost:
    """``steps`` × (forward + backward) multiply-accumulates. The backward pass is counted
    as 2× the forward, the usual rule for training (one pass for the activations'
    gradients, one for the weights'); this module asks autograd for the image's gradient
    alone, so the weights' pass is skipped and the figure is an upper bound."""

    steps: int
    forward_macs: int

    @property
    def step_macs(self) -> int:
        return 3 * self.forward_macs

    @property
    def total_macs(self) -> int:
        return self.steps * self.step_macs

    def describe(self) -> str:
        return (
            f"{self.steps} steps × ({_si(self.forward_macs)} forward + {_si(2 * self.forward_macs)} backward, "
            f"counted as 2× forward) = {_si(self.total_macs)} MACs"
        )


def _si(n: float) -> str:
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.3g}"


def cost(model_name: str, input_size: tuple[int, int, int], objective: Objective, steps: int) -> Cost:
    """The cost of ``steps`` steps, from the shape analysis: MACs of the whole net for a
    logit, of every node up to and including the layer for a channel (where the forward
    pass stops)."""
    rows = analyze(model_name, input_size=tuple(input_size)).rows
    if objective.layer is None:
        return Cost(steps, sum(r.macs for r in rows))
    names = [r.name for r in rows]
    if objective.layer.name not in names:
        raise ValueError(f"no layer {objective.layer.name!r} in {model_name}")
    return Cost(steps, sum(r.macs for r in rows[: names.index(objective.layer.name) + 1]))


# --- the image -----------------------------------------------------------------------------


class FourierImage(nn.Module):
    """An RGB image in [0, 1] held as a scaled spectrum of three decorrelated colour
    components (Lucid's ``fft_image`` followed by ``to_valid_rgb``)."""

    def __init__(self, size: tuple[int, int], generator: torch.Generator):
        super().__init__()
        h, w = size
        self.size = size
        fy = torch.fft.fftfreq(h)[:, None]
        fx = torch.fft.rfftfreq(w)[None, :]
        freqs = (fx**2 + fy**2).sqrt()
        self.register_buffer("scale", math.sqrt(h * w) / freqs.clamp(min=1 / max(h, w)) ** DECAY_POWER)
        self.spectrum = nn.Parameter(torch.randn((2, 3, *freqs.shape), generator=generator) * SPECTRUM_SD)

    def forward(self) -> torch.Tensor:
        spectrum = torch.complex(self.spectrum[0], self.spectrum[1]) * self.scale
        image = torch.fft.irfft2(spectrum, s=self.size) / 4  # Lucid's /4 keeps the start near grey
        rgb = torch.einsum("chw,dc->dhw", image, COLOUR_MIX)
        return torch.sigmoid(rgb).unsqueeze(0)


def _pick(options: list, generator: torch.Generator):
    return options[int(torch.randint(len(options), (1,), generator=generator))]


def _jitter(image: torch.Tensor, pixels: int, generator: torch.Generator) -> torch.Tensor:
    """A random crop ``pixels`` smaller on each axis: the content moves by up to that much."""
    if pixels < 1:
        return image
    dy, dx = (int(v) for v in torch.randint(pixels + 1, (2,), generator=generator))
    return image[..., dy : image.shape[-2] - pixels + dy, dx : image.shape[-1] - pixels + dx]


def transform(image: torch.Tensor, size: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """Lucid's standard transforms (pad, jitter, scale, rotate, jitter), then a resize to
    the network's input ``size`` (ViT's position embeddings fix it)."""
    side = max(size)
    image = F.pad(image, [round(PAD * side)] * 4, value=0.5)
    image = _jitter(image, round(JITTER * side), generator)
    scale, angle = _pick(SCALES, generator), math.radians(_pick(ANGLES, generator))
    # affine_grid maps output to input coordinates: the inverse of scaling by ``scale``
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    theta = torch.tensor([[[cos, -sin, 0.0], [sin, cos, 0.0]]], dtype=image.dtype, device=image.device)
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    image = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
    image = _jitter(image, round(FINE_JITTER * side), generator)
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False)


def network_input(image: torch.Tensor, preprocess: Preprocess) -> torch.Tensor:
    """An RGB batch in [0, 1] as the weights expect it (:meth:`Preprocess.tensor` on tensors):
    grey through PIL's luma weights for one-channel nets, value range, channel order, mean/std."""
    if preprocess.channels == 1:
        image = (image * torch.tensor([0.299, 0.587, 0.114], device=image.device)[:, None, None]).sum(1, keepdim=True)
    image = image * preprocess.value_range
    if preprocess.channel_order == "BGR":
        image = image.flip(1)
    mean = torch.tensor(preprocess.mean, device=image.device)[:, None, None]
    std = torch.tensor(preprocess.std, device=image.device)[:, None, None]
    return (image - mean) / std


# --- the optimisation ----------------------------------------------------------------------


@dataclass
class FeatureVis:
    """The optimised image (H, W, 3) uint8, and the objective under the random transforms
    at each step (it climbs, noisily)."""

    image: np.ndarray
    trace: list[float]

    def network_input(self, preprocess: Preprocess) -> torch.Tensor:
        """The result as the network reads the downloaded PNG (grey for a one-channel net)."""
        picture = Image.fromarray(self.image).convert("L" if preprocess.channels == 1 else "RGB")
        return preprocess.tensor(picture)


def visualise(
    model: nn.Module,
    objective: Objective,
    preprocess: Preprocess,
    steps: int = 256,
    seed: int = 0,
    progress: Progress | None = None,
) -> FeatureVis:
    """Optimise an image of the preprocessing's crop size for ``objective`` over
    ``steps`` Adam steps. The same ``seed`` gives the same image: the spectrum's start and
    every transform come from one generator of their own. ``progress(done, steps, value)``
    hears after each step."""
    if steps < 1:
        raise ValueError("feature visualisation needs at least one step")
    generator = torch.Generator().manual_seed(seed)
    size = tuple(preprocess.crop_size)
    device = device_of(model)
    param = FourierImage(size, generator).to(device)
    optimiser = torch.optim.Adam(param.parameters(), lr=LEARNING_RATE)
    trace = []
    with exclusive(model):
        for step in range(1, steps + 1):
            x = network_input(transform(param(), size, generator), preprocess)
            value = objective_value(model, objective, x).mean()
            # the image's gradient alone: autograd skips every weight gradient
            (grad,) = torch.autograd.grad(-value, [param.spectrum])
            optimiser.zero_grad()
            param.spectrum.grad = grad
            optimiser.step()
            trace.append(float(value.detach()))
            if progress:
                progress(step, steps, trace[-1])
        with torch.no_grad():
            final = param()[0].permute(1, 2, 0).cpu().numpy()
    return FeatureVis(np.rint(final * 255).astype(np.uint8), trace)


# --- the cache -----------------------------------------------------------------------------


def cache_file(folder: str | os.PathLike, model_name: str, weights_key: str, objective: Objective,
               steps: int, seed: int) -> Path:
    """Where a result lives in ``folder``: named by a hash of everything it depends on
    (model, weights, target, steps, seed and this module's constants), so a change to any
    of them is a different file rather than a stale one."""
    target = (objective.layer.name, objective.index) if objective.layer else ("logit", objective.index)
    recipe = (LEARNING_RATE, DECAY_POWER, SPECTRUM_SD, PAD, JITTER, FINE_JITTER, SCALES, ANGLES)
    key = repr((model_name, weights_key, target, steps, seed, recipe))
    return Path(folder) / f"{model_name}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"


def load(path: str | os.PathLike) -> FeatureVis | None:
    """A cached result, or None when there is none (or it cannot be read)."""
    try:
        with np.load(path) as data:
            return FeatureVis(data["image"], [float(v) for v in data["trace"]])
    except (OSError, KeyError, ValueError):
        return None


def save(result: FeatureVis, path: str | os.PathLike) -> None:
    """Write atomically (temporary file, then rename): a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, image=result.image, trace=np.asarray(result.trace))
    os.replace(tmp, path)
