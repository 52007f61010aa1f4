"""`jaxdae tune`: the training noise level that reconstructs held-out data best after T steps."""

from __future__ import annotations


def configure(parser) -> None:
    parser.add_argument("--data", choices=["digits"], default="digits", help="data set (default digits)")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units H (default 32)")
    parser.add_argument("--steps", type=int, default=1000, help="training steps T (default 1000)")
    parser.add_argument("--train-size", type=int, default=300,
                        help="rows used for training; the rest is held out (default 300)")
    parser.add_argument("--heldout-noise-var", type=float, default=0.0,
                        help="variance of the noise on the held-out inputs (default 0: clean reconstruction)")
    parser.add_argument("--lr", type=float, help="learning rate (default: the final_loss rate for T steps)")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="weight decay gamma (default 0)")
    parser.add_argument("--u0", type=float, default=1e-6, help="balanced aligned initial strength (default 1e-6)")
    parser.add_argument("--seed", type=int, default=0, help="key of the train/held-out split (default 0)")


def _split(args):
    import jax
    import numpy as np

    from .. import _checks, data

    X = np.asarray(data.digits(), np.float64)
    size = _checks.integer("train-size", args.train_size)
    if size >= len(X):
        raise ValueError(f"train-size must be < the {len(X)} rows of {args.data}, got {size}")
    order = np.asarray(jax.random.permutation(jax.random.key(args.seed), len(X)))
    return X[order[:size]], X[order[size:]]


def main(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from .. import lr, tune

    console = Console()
    X_train, X_heldout = _split(args)
    kw = dict(hidden=args.hidden, steps=args.steps, weight_decay=args.weight_decay, u0=args.u0)
    rate = args.lr
    if rate is None:
        rate = float(lr.optimal_learning_rate_for(X_train, criterion="final_loss", **kw))
    best, err = tune.noise_level(X_train, X_heldout, lr=rate, heldout_noise_var=args.heldout_noise_var, **kw)
    table = Table(
        title=f"{args.data}: {len(X_train)} training rows, {len(X_heldout)} held out; H = {args.hidden}, "
        f"T = {args.steps}, lr = {rate:.6g}, weight_decay = {args.weight_decay:g}, "
        f"held-out noise variance {args.heldout_noise_var:g}"
    )
    for col in ("training noise_var", "held-out error", "note"):
        table.add_column(col, justify="left" if col == "note" else "right")
    rows = [(float(best), "best (jaxdae.tune.noise_level)"), (0.0, "no noise")]
    if args.heldout_noise_var > 0:
        rows.append((args.heldout_noise_var, "the held-out noise level"))
    for level, note in rows:
        e = float(tune.heldout_loss(X_train, X_heldout, lr=rate, noise_var=level,
                                    heldout_noise_var=args.heldout_noise_var, **kw))
        table.add_row(f"{level:.6g}", f"{e:.6g}", note, style="bold" if note.startswith("best") else None)
    console.print(table)
    console.print(
        f"answer: noise_var {float(best):.6g}, held-out error {float(err):.6g}. The held-out error is "
        "1/(2M) sum E||x - W(T)(x + n)||^2 over the held-out rows, W(T) after T full-batch steps on the "
        "noise-averaged training loss from the balanced aligned start (exact, through the spectrum)."
    )
    return 0
