"""`jaxdae reproduce`: the main job."""

from __future__ import annotations

from pathlib import Path


def configure(parser) -> None:
    parser.add_argument("--out", type=Path, default=Path("jaxdae-output"), help="output folder (default ./jaxdae-output)")
    parser.add_argument("--parts", nargs="+", metavar="PART", help="run only these parts (default: all)")
    parser.add_argument("--list", action="store_true", help="list the parts and exit")


def main(args) -> int:
    from .. import reproduce

    if args.list:
        for name, mod in reproduce.available_parts().items():
            print(f"{name:20s} {mod.TITLE}")
        return 0
    reproduce.run(args.out, parts=args.parts)
    return 0
