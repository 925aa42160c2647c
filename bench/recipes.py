"""Every 32×32 variant trained with its own default recipe, for a fixed short budget, on
the bundled digits: does each one learn with the settings a user gets by default?

The budget is counted in optimizer steps, not epochs: the bundled digits are 1,347
training images, so an epoch is 42 steps at batch 32 but 10 at the papers' batch 128,
and an epoch budget gave the deep residual nets a quarter of the updates the
lightweight nets got. Each net trains with its recipe except the epoch count, which is
the fewest whole epochs holding ``--steps`` steps (so the schedule anneals within the
budget), until those epochs are done or its CPU seconds run out, whichever comes first
(the seconds column is wall time); the table says which ended each run. The test split
is scored after every epoch and once more where the time ran out. A net counts as
learning when its best test top-1 reaches three times chance (30 %). Some nets start
slowly (ResNet-44 is at 22.9 % after 120 steps and at 99.6 % after 400; NIN and
Highway-19 too), so a net that misses the mark is rerun with a longer budget
(``--redo --steps 400``); each row keeps the budget it had, and the table lists the
budgets it holds. Nets run cheapest first (by MACs), so a run cut short has covered the
most nets. Each result is appended to a JSON-lines file as it comes, so running the
script again continues where it stopped; the table is rewritten as CSV and Markdown
after every net.

    python bench/recipes.py                          # every small-input variant
    python bench/recipes.py --steps 40 --cpu-seconds 60 --models lenet5 resnet20_cifar
    python bench/recipes.py --threads 1 --shard 1/2 & python bench/recipes.py --threads 1 --shard 2/2
    python bench/recipes.py --device cuda --cpu-seconds 3600   # a GPU: the budget in steps binds

``--shard K/N`` trains every N-th net from the K-th on, so N processes of one thread each
share the machine's cores; they append to the same results file. ``--redo`` trains the
named nets again, replacing their earlier rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classifier.analysis import analyze  # noqa: E402
from classifier.data import load_data  # noqa: E402
from classifier.registry import list_models  # noqa: E402
from classifier.train import RunDir, TrainConfig, Trainer  # noqa: E402
from classifier.train.optim import end_epoch  # noqa: E402
from classifier.train.recipes import recipe_for  # noqa: E402

RESULTS = Path(__file__).with_name("results")
COLUMNS = ("model", "parameters", "budget", "steps", "epochs", "ended", "seconds", "first_loss", "last_loss",
           "best_top1", "learns", "images_per_s", "recipe")
CHANCE = 0.1  # ten digit classes
LEARNS = 3 * CHANCE  # best test top-1 a net must reach to count as learning


def stop_after_cpu_time(seconds: float, stop: threading.Event, done: threading.Event) -> None:
    """Start a thread that sets ``stop`` once this process has used ``seconds`` of CPU time
    (all its threads) from now, unless ``done`` is set first. CPU time, not wall time: on
    a shared machine the load stretches wall time, so a wall budget would give each net
    fewer steps the busier the machine is."""
    start = time.process_time()

    def watch() -> None:
        while not done.wait(0.25):
            if time.process_time() - start >= seconds:
                stop.set()
                return

    threading.Thread(target=watch, daemon=True).start()


def train_for(cfg: TrainConfig, cpu_seconds: float, root: Path) -> dict:
    """Train ``cfg`` for its epochs or ``cpu_seconds`` of this process's CPU time,
    whichever ends first; the measured row of the table."""
    start = time.perf_counter()
    trainer = Trainer(cfg, RunDir(root, cfg.model))
    done = threading.Event()
    stop_after_cpu_time(cpu_seconds, trainer.stop_event, done)
    best, trained, images = 0.0, 0.0, 0
    try:
        while trainer.epoch < cfg.epochs:
            steps_before, since = trainer.step, time.perf_counter()
            completed = trainer.train_epoch()
            trained += time.perf_counter() - since
            images += (trainer.step - steps_before) * trainer.batch
            result = trainer.evaluate()
            best = max(best, result["top1"])
            if not completed or trainer.stop_event.is_set():
                break
            end_epoch(trainer.scheduler, result["loss"])
    finally:
        done.set()
        trainer.close()
    epochs = trainer.epoch + trainer.batch_in_epoch / trainer.steps_per_epoch
    losses = [m["loss"] for m in trainer.run.read_metrics() if m["kind"] == "train"]
    return {
        "model": cfg.model,
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
        "steps": trainer.step,
        "epochs": round(epochs, 2),
        "ended": (f"{cpu_seconds:g} CPU-s" if trainer.stop_event.is_set()
                  else f"{cfg.epochs} epoch{'s' * (cfg.epochs > 1)}"),
        "seconds": round(time.perf_counter() - start, 1),
        # the training loss of the first and the last logged steps (every step on digits):
        # whether a net learns shows here even where its test top-1 has not moved yet
        "first_loss": round(losses[0], 3) if losses else None,
        "last_loss": round(losses[-1], 3) if losses else None,
        "best_top1": round(best, 4),
        "images_per_s": round(images / trained, 1) if trained else 0.0,
        "recipe": f"{cfg.optimizer} {cfg.lr:g}, batch {cfg.batch_size}, {cfg.schedule}, {cfg.augment}",
    }


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def write_tables(rows: list[dict], out: Path, note: str) -> None:
    """``recipes.csv`` and ``recipes.md`` from every row so far; the Markdown names the
    step budgets its rows were trained for, as a net rerun with a longer one keeps its
    row's budget beside its result."""
    with open(out / "recipes.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows({k: row[k] for k in COLUMNS} for row in rows)
    learning = sum(r["learns"] for r in rows)
    budgets = sorted({r["budget"] for r in rows})
    counts = ", ".join(f"{b:,} steps ({sum(r['budget'] == b for r in rows)} variants)" for b in budgets)
    lines = [note, "", f"Step budgets: {counts}.", "",
             f"{learning} of the {len(rows)} variants trained so far learn (best test top-1 at least {LEARNS:.0%}).",
             "",
             "| model | parameters | step budget | steps | epochs | ended by | seconds "
             "| training loss, first → last step | best test top-1 | learns | images/s | recipe |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|---|---:|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['parameters']:,} | {r['budget']} | {r['steps']} | {r['epochs']:g} | "
                     f"{r['ended']} | {r['seconds']:.0f} | {r['first_loss']} → {r['last_loss']} | "
                     f"{r['best_top1']:.1%} | {'yes' if r['learns'] else '**no**'} | {r['images_per_s']:,.0f} | "
                     f"{r['recipe']} |")
    (out / "recipes.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", help="default: every small-input variant")
    parser.add_argument("--steps", type=int, default=120,
                        help="optimizer steps of each net, rounded up to whole epochs (default 120: 3 epochs at "
                        "batch 32, 12 at batch 128)")
    parser.add_argument("--cpu-seconds", type=float, default=300.0,
                        help="CPU-time budget of each net's training and scoring, all threads counted (default 300, "
                        "300 s of wall time on one idle core; a net it stops is scored once more after it)")
    parser.add_argument("--threads", type=int, help="torch threads of this process (default: torch's)")
    parser.add_argument("--shard", default="1/1", help="K/N: every N-th net from the K-th on (default 1/1)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--fresh", action="store_true", help="forget earlier results instead of continuing")
    parser.add_argument("--redo", action="store_true", help="train the nets named by --models again, replacing "
                        "their earlier rows")
    args = parser.parse_args(argv)
    if args.redo and not args.models:
        parser.error("--redo needs --models: the nets to train again")

    shard, shards = (int(part) for part in args.shard.split("/"))
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    results = args.out / "recipes.jsonl"
    if args.fresh:
        results.unlink(missing_ok=True)
    every = list_models(small_input=True)
    models = args.models or sorted(every, key=lambda n: analyze(n).macs)
    models = models[shard - 1::shards]
    if args.redo:
        kept = [r for r in read_rows(results) if r["model"] not in args.models]
        results.write_text("".join(json.dumps(r) + "\n" for r in kept))
    done = {r["model"] for r in read_rows(results)}
    digits = load_data("digits", (1, 32, 32))
    train_images = len(digits.train)
    note = (f"Each 32×32 variant with its default recipe on the bundled digits ({train_images:,} training, "
            f"{len(digits.test):,} test images), for the whole epochs holding its step budget or "
            f"until its CPU-time budget ran out (the 'ended by' column), cheapest net first, {len(every)} variants "
            f"in all; chance is {CHANCE:.0%}.")
    for name in models:
        if name in done:
            continue
        epochs = math.ceil(args.steps / (train_images // recipe_for(name).batch_size))
        cfg = TrainConfig(model=name, dataset="digits", epochs=epochs, device=args.device)
        with tempfile.TemporaryDirectory() as tmp:
            row = train_for(cfg, args.cpu_seconds, Path(tmp))
        row["budget"], row["learns"] = args.steps, row["best_top1"] >= LEARNS
        with open(results, "a") as f:
            f.write(json.dumps(row) + "\n")
        write_tables(read_rows(results), args.out, note)
        print(f"{row['model']:28} {row['parameters']:>11,} {row['steps']:>4} steps {row['epochs']:>5g} ep "
              f"{row['seconds']:>6.0f} s "
              f"loss {row['first_loss']} → {row['last_loss']} top-1 {row['best_top1']:6.1%} "
              f"{row['images_per_s']:>8,.0f} img/s", flush=True)
    write_tables(read_rows(results), args.out, note)  # also where every net had its row already
    print(f"table: {args.out / 'recipes.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
