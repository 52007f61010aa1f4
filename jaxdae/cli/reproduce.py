"""`jaxdae reproduce`: every figure of the paper, its numbers (report.md, metrics.json) and datasets."""

from __future__ import annotations

from pathlib import Path


def configure(parser) -> None:
    parser.add_argument("--out", type=Path, default=Path("jaxdae-output"), help="output folder (default ./jaxdae-output)")
    parser.add_argument("--parts", nargs="+", metavar="PART", help="run only these parts (default: all)")
    parser.add_argument("--list", action="store_true", help="list the parts and exit")
    parser.add_argument("--quick", action="store_true", help="smaller grids and fewer steps, the same figures")
    parser.add_argument("--dataset", choices=("digits", "mnist", "cifar10"), default="digits",
                        help="digits (embedded, default) or the paper's MNIST / CIFAR-10 (Figure 5, needs --data-dir)")
    parser.add_argument("--data-dir", type=Path, metavar="PATH",
                        help="folder with MNIST's train-images-idx3-ubyte[.gz] or CIFAR-10's data_batch_*.bin")


def main(args) -> int:
    from .. import reproduce

    if args.list:
        for name, mod in reproduce.available_parts(args.dataset).items():
            print(f"{name:20s} {mod.TITLE}")
        return 0
    reproduce.run(args.out, parts=args.parts, quick=args.quick, dataset=args.dataset, data_dir=args.data_dir)
    return 0
