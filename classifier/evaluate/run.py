"""Top-1/top-5 of loaded weights on a labelled set, in one streamed pass.

Images are decoded and preprocessed with the weights' own pipeline batch by batch, so
memory stays bounded whatever the set's size. Beside the totals the result keeps the
per-class accuracy and the most confident mistakes (a small heap), which is what a
person looks at to see *how* a net fails; the reported figure of the weights entry
stands beside the measured one.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import torch

from classifier.evaluate.labelled import LabelledImages
from classifier.outputs import main_logits
from classifier.weights import LoadedModel

BATCH = 32
MISTAKES_KEPT = 12


@dataclass(frozen=True)
class Mistake:
    index: int  # into the evaluated set
    true: int
    predicted: int
    confidence: float


@dataclass
class Evaluation:
    """What one pass measured; ``reported_top1`` is the weights entry's own figure."""

    model: str
    weights: str
    data: str
    images: int
    top1: float
    top5: float
    per_class: dict[int, tuple[int, int]]  # class → (images, correct at top-1)
    mistakes: list[Mistake] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    reported_top1: float | None = None

    def class_rows(self) -> list[dict]:
        """Per-class accuracy, worst first."""
        rows = [
            {"class": self.class_names[c], "images": n, "top-1 %": round(100 * k / n, 1)}
            for c, (n, k) in self.per_class.items()
        ]
        return sorted(rows, key=lambda r: (r["top-1 %"], r["class"]))

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "weights": self.weights,
            "data": self.data,
            "images": self.images,
            "top1": self.top1,
            "top5": self.top5,
            "reported_top1": self.reported_top1,
            "per_class": self.class_rows(),
            "mistakes": [
                {"index": m.index, "true": self.class_names[m.true], "predicted": self.class_names[m.predicted],
                 "confidence": round(m.confidence, 4)}
                for m in self.mistakes
            ],
        }

    def to_text(self) -> str:
        reported = f" (reported: {self.reported_top1:.2f} %)" if self.reported_top1 is not None else ""
        lines = [
            f"{self.model} with {self.weights} on {self.data}",
            f"top-1 {self.top1:.2f} %{reported}   top-5 {self.top5:.2f} %   ({self.images} images)",
        ]
        worst = self.class_rows()[:5]
        if len(self.per_class) > 1:
            lines.append("weakest classes: " + ", ".join(f"{r['class']} {r['top-1 %']:.0f} %" for r in worst))
        for m in self.mistakes[:5]:
            lines.append(f"  image {m.index}: {self.class_names[m.true]} taken for "
                         f"{self.class_names[m.predicted]} at {100 * m.confidence:.1f} %")
        return "\n".join(lines)


@torch.no_grad()
def evaluate(
    loaded: LoadedModel,
    images: LabelledImages,
    progress=None,
    batch_size: int = BATCH,
    should_stop=lambda: False,
) -> Evaluation:
    """Run ``images`` through ``loaded`` with its own preprocessing. ``progress(done,
    total)`` hears after every batch; ``should_stop()`` ends the pass early (the result
    then covers the images seen)."""
    model = loaded.model.eval()
    device = next(model.parameters()).device
    k = min(5, len(loaded.class_names))
    per_class: dict[int, list[int]] = {}
    mistakes: list[tuple[float, int, int, int]] = []  # a min-heap on confidence
    seen = top1 = top5 = 0
    for start in range(0, len(images), batch_size):
        if should_stop():
            break
        index = range(start, min(start + batch_size, len(images)))
        x = torch.cat([loaded.preprocess(images.image(i)) for i in index]).to(device)
        probs = main_logits(model(x)).softmax(1).cpu()
        best = probs.topk(k, dim=1)
        for row, i in enumerate(index):
            truth = images.labels[i]
            predicted = int(best.indices[row, 0])
            counts = per_class.setdefault(truth, [0, 0])
            counts[0] += 1
            counts[1] += predicted == truth
            top1 += predicted == truth
            top5 += truth in best.indices[row].tolist()
            if predicted != truth:
                item = (float(best.values[row, 0]), i, truth, predicted)
                (heapq.heappush if len(mistakes) < MISTAKES_KEPT else heapq.heappushpop)(mistakes, item)
        seen += len(index)
        if progress:
            progress(seen, len(images))
    if seen == 0:
        raise ValueError("no image was evaluated")
    entry = loaded.entry
    return Evaluation(
        model=loaded.name,
        weights=loaded.source,
        data=images.description,
        images=seen,
        top1=100 * top1 / seen,
        top5=100 * top5 / seen,
        per_class={c: (n, ok) for c, (n, ok) in sorted(per_class.items())},
        mistakes=[Mistake(i, t, p, c) for c, i, t, p in sorted(mistakes, reverse=True)],
        class_names=list(loaded.class_names),
        reported_top1=entry.top1 if entry is not None else None,
    )
