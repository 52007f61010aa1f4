"""The `jaxdae` command line: `jaxdae reproduce`, `jaxdae lr`, ...

Each subcommand lives in a module that provides `configure(parser)` and `main(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ._cache import cache_dir as cache_dir, enable_compilation_cache as enable_compilation_cache

__all__ = ["main", "build_parser", "cache_dir", "enable_compilation_cache", "SUBCOMMANDS"]

# subcommand name -> (module, one-line help)
SUBCOMMANDS = {
    "reproduce": ("jaxdae.cli.reproduce", "run the paper's experiments on the embedded digits data"),
    "lr": ("jaxdae.cli.lr", "optimal learning rates for a mode or a network, every criterion"),
    "tune": ("jaxdae.cli.tune", "the training noise level that reconstructs held-out data best after T steps"),
    "sweep": ("jaxdae.cli.sweep", "a solver over a grid from a TOML config, chunked, stored and resumable"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxdae",
        description="Learning dynamics of linear denoising autoencoders: exact, ODE and training.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"jaxdae {__version__}")
    parser.add_argument("--no-cache", action="store_true",
                        help="do not use the persistent compilation cache (also: JAXDAE_NO_CACHE=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name == module:
                continue
            raise
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.configure(p)
        p.set_defaults(_main=mod.main)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_main", None):
        parser.print_help()
        return 0

    enable_compilation_cache(no_cache=args.no_cache)
    try:
        return int(args._main(args) or 0)
    except ValueError as err:
        parser.exit(2, f"jaxdae: error: {err}\n")


if __name__ == "__main__":
    sys.exit(main())
