"""The command line: ``python -m classifier <command>``.

Each command lives next to the code it drives and contributes a parser through a
``register(subparsers)`` function; this module only gathers them. Errors a user can
cause (a bad model name, a malformed size) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

# Modules that add commands, with the commands each adds; each has register(subparsers)
# setting a ``run`` default. Their parsers import torchvision, captum and the training
# code (about two seconds), so `list` and `summary` build a parser without them.
COMMAND_MODULES = {
    "classifier.train.cli": ("train", "export"),
    "classifier.explain.cli": ("predict", "explain"),
    "classifier.weights.cli": ("weights",),
    "classifier.evaluate.cli": ("evaluate",),
    "classifier.explain.units_cli": ("units",),
}
LIGHT_COMMANDS = ("list", "summary")


class UserError(Exception):
    """A mistake in the user's input: reported as one line, exit status 2."""


def parse_input_size(text: str) -> tuple[int, int, int]:
    try:
        c, h, w = (int(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"--input-size must be three integers C,H,W (for example 3,224,224), not {text!r}") from None
    if min(c, h, w) < 1 or max(h, w) > 4096:
        raise UserError(f"--input-size {text!r} is out of range (each side 1..4096)")
    return c, h, w


def _cmd_list(args: argparse.Namespace) -> int:
    from classifier.card_index import cards  # the cards without importing torch or a model

    found = cards()
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    width = max(len(c["name"]) for c in found)
    for c in found:
        size = "×".join(str(v) for v in c["input_size"][1:])
        print(f"{c['name']:<{width}}  {c['year']}  {c['family']:<22} {size:>7}  {c['variant']}")
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    from classifier.analysis import analyze

    size = parse_input_size(args.input_size) if args.input_size else None
    result = analyze(args.name, input_size=size)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(result.to_text())
    return 0


def build_parser(with_modules: bool = True) -> argparse.ArgumentParser:
    commands = ",".join([*LIGHT_COMMANDS, *(c for cs in COMMAND_MODULES.values() for c in cs)])
    parser = argparse.ArgumentParser(
        prog="python -m classifier",
        usage=f"python -m classifier [-h] {{{commands}}} ...",
        description="Classifier Explorer command line",
    )
    sub = parser.add_subparsers(dest="command", required=True, prog=parser.prog)

    p = sub.add_parser("list", help="list the registered models")
    p.add_argument("--json", action="store_true", help="print the model cards as JSON")
    p.set_defaults(run=_cmd_list)

    p = sub.add_parser("summary", help="layer table of a model: output shapes, parameters, MACs, receptive fields")
    p.add_argument("name", help="registered model name (see `list`)")
    p.add_argument("--input-size", help="C,H,W (default: the model card's input size)")
    p.add_argument("--json", action="store_true", help="print totals and per-layer rows as JSON")
    p.set_defaults(run=_cmd_summary)

    if with_modules:
        for module in COMMAND_MODULES:
            importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(with_modules=not argv or argv[0] not in LIGHT_COMMANDS).parse_args(argv)
    try:
        return args.run(args)
    except (UserError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
