"""``python -m classifier weights``: the registry's entries with their provenance.

``weights`` lists every entry, ``weights NAME`` one model's, ``--json`` prints the full
records (the README's table is rendered from it) and ``--download ID`` fetches one entry
into its cache ahead of time, with a progress bar.
"""

from __future__ import annotations

import argparse
import json


def _cmd_weights(args: argparse.Namespace) -> int:
    from classifier.data.download import tqdm_progress
    from classifier.registry import get_card
    from classifier.weights import all_entries, cached_file, download, get_entry, weight_entries

    if args.download:
        try:
            entry = get_entry(args.download)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        print(f"{entry.id} is in {download(entry, tqdm_progress())}")
        return 0
    if args.name:
        get_card(args.name)  # an unknown model name is the registry's one-line error
    entries = weight_entries(args.name) if args.name else all_entries()
    if args.json:
        print(json.dumps([{**e.to_dict(), "cached": cached_file(e) is not None} for e in entries], indent=2))
        return 0
    if args.markdown:
        print(markdown_table(entries))
        return 0
    if not entries:
        print(f"{args.name} has no trained weights in the registry; train it with `python -m classifier train`.")
        return 0
    width = max(len(e.id) for e in entries)
    for e in entries:
        top1 = f"{e.top1:5.1f} %" if e.top1 is not None else "   – "
        cached = "cached" if cached_file(e) is not None else ""
        print(f"{e.model:<24} {e.id:<{width}}  {e.dataset:<11} top-1 {top1}  {e.license.split(' ')[0]:<12} {cached}")
    return 0


def markdown_table(entries) -> str:
    """The entries as the README's table: one row each, provenance and preprocessing."""
    rows = [
        "| model | weights id | data | top-1 (reported) | input | mean / std | licence |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        pre = e.preprocess
        top1 = f"{e.top1:.2f} %" if e.top1 is not None else "–"
        size = f"{pre.crop_size[0]} px, crop {pre.crop_fraction:.3f}, {pre.interpolation}"
        stats = f"{'/'.join(f'{m:.3g}' for m in pre.mean)} / {'/'.join(f'{s:.3g}' for s in pre.std)}"
        rows.append(f"| {e.model} | `{e.id}` | {e.dataset} | {top1} | {size} | {stats} | {e.license.split(';')[0]} |")
    return "\n".join(rows)


def register(subparsers) -> None:
    p = subparsers.add_parser("weights", help="list trained weights and their provenance; --download one")
    p.add_argument("name", nargs="?", help="a registered model (default: every model)")
    p.add_argument("--json", action="store_true", help="full records: source, URL or hub repo, checksum, "
                   "training data, preprocessing, reported accuracy, licence")
    p.add_argument("--markdown", action="store_true", help="print the entries as a Markdown table (as in the README)")
    p.add_argument("--download", metavar="ID", help="fetch this entry into its cache now")
    p.set_defaults(run=_cmd_weights)
