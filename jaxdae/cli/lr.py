"""`jaxdae lr`: optimal learning rates for one mode or a whole network, every criterion."""

from __future__ import annotations

import math

_NOTES = {
    "slides": "the paper's rule",
    "critical": "no overshoot",
    "stability": "edge of stability",
    "fewest_steps": "narrow optimum",
    "final_loss": "lowest loss after T steps",
}
_LEGEND = (
    "kappa = rate * (lam - weight_decay). slides: 1/lam_max of the Hessian at w1 = w2 = 1; "
    "critical: critical damping at the fixed point; stability: 2/lam_max at the fixed point "
    "(convergence there is only algebraic); fewest_steps: fewest full-batch steps into the band "
    "and staying there (often a narrow window of rates); final_loss: the rate below the network's stability limit that "
    "minimises the loss after T steps (autodiff through the solution)."
)


def configure(parser) -> None:
    parser.add_argument("--lam", type=float, help="eigenvalue of C = X^T X / N of one mode")
    parser.add_argument("--noise-var", type=float, default=0.0, help="input-noise variance sigma^2 (default 0)")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="weight decay gamma (default 0)")
    parser.add_argument("--data", choices=["digits"], help="a whole network on this data set instead of one mode")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units of the network with --data (default 32)")
    parser.add_argument("--u0", type=float, default=1e-6, help="balanced initial mode strength (default 1e-6)")
    parser.add_argument("--tol", type=float, default=1e-2, help="band around the fixed point (default 0.01: 99 %%)")
    parser.add_argument("--steps", type=int, help="with --data: training steps T; adds the loss after T steps and "
                        "the final_loss rate (the rate that minimises it)")
    parser.add_argument("--criterion", help="with --data: only this criterion (final_loss needs --steps)")
    parser.add_argument("--init", choices=["aligned", "random"], default="aligned",
                        help="start of the final_loss training: the balanced aligned start u0 (exact, default) or "
                        "random weights (train.fit, slower)")
    parser.add_argument("--seed", type=int, default=0, help="key of a random start (default 0)")


def _steps(x) -> str:
    x = float(x)
    return "not within horizon" if not math.isfinite(x) else f"{x:.0f}"


def _mode_tables(args, console) -> None:
    import numpy as np
    from rich.table import Table

    from .. import exact, lr

    lam, sig, gam = args.lam, args.noise_var, args.weight_decay
    table = Table(
        title=f"one mode: lam = {lam:g}, noise_var = {sig:g}, weight_decay = {gam:g}; "
        f"fixed point u* = {float(exact.fixed_point(lam, sig, gam)):.6g}, u0 = {args.u0:g}"
    )
    for col in ("criterion", "rate", "kappa", f"steps (tol {args.tol:g})", "note"):
        table.add_column(col, justify="left" if col in ("criterion", "note") else "right")
    learning = lam > gam
    rates = {}
    for c in lr.CRITERIA:
        if c != "slides" and not learning:
            table.add_row(c, "-", "-", "-", "lam <= weight_decay")
            continue
        kw = dict(noise_var=sig, weight_decay=gam, u0=args.u0, tol=args.tol)
        rate = float(lr.optimal_learning_rate(lam, criterion=c, **kw))
        rates[c] = rate
        steps = lr.steps_to_converge(rate, lam, **kw) if learning else np.inf
        kappa = f"{rate * (lam - gam):.4f}" if learning else "-"
        table.add_row(c, f"{rate:.6g}", kappa, _steps(steps) if learning else "-", _NOTES[c])
    console.print(table)
    console.print(_LEGEND)
    if sig > 0 and gam == 0 and lam > 0:
        g_eq = float(exact.equivalent_weight_decay(lam, sig))
        wd = Table(title=f"the equivalent WDAE: weight_decay = gamma_eq = {g_eq:.6g} (same fixed point)")
        for col in ("criterion", "WDAE rate", "DAE rate / WDAE rate", "WDAE steps"):
            wd.add_column(col, justify="left" if col == "criterion" else "right")
        for c in rates:
            w = float(lr.optimal_learning_rate(lam, weight_decay=g_eq, criterion=c, u0=args.u0, tol=args.tol))
            steps = lr.steps_to_converge(w, lam, weight_decay=g_eq, u0=args.u0, tol=args.tol)
            wd.add_row(c, f"{w:.6g}", f"{rates[c] / w:.6g}", _steps(steps))
        console.print(wd)
        console.print(
            f"lam/(lam + noise_var) = {lam / (lam + sig):.6g}: at a rate ratio equal to it the DAE and the WDAE "
            "have identical balanced trajectories (jaxdae.lr.equivalent_wdae_lr)."
        )


def _network_criteria(args):
    """Every criterion (final_loss with --steps); --criterion only marks the answer."""
    from .. import _checks, lr

    if args.criterion is not None:
        _checks.choice("criterion", args.criterion, lr.NETWORK_CRITERIA)
        if args.criterion == "final_loss" and args.steps is None:
            raise ValueError("criterion 'final_loss' needs --steps, the number of training steps T")
    return lr.NETWORK_CRITERIA if args.steps is not None else lr.CRITERIA


def _network_row(args, spectrum, X, c, modes):
    """(rate, steps: top mode, steps: all modes, loss after T) of criterion `c`, as strings."""
    import jax
    import numpy as np

    from .. import lr

    kw = dict(noise_var=args.noise_var, weight_decay=args.weight_decay, u0=args.u0)
    init = {"init": args.init, "key": jax.random.key(args.seed)}
    data = X if args.init != "aligned" else spectrum
    extra = dict(steps=args.steps, **init) if c == "final_loss" else {}
    rate = float(lr.optimal_learning_rate_for(data, hidden=args.hidden, criterion=c, tol=args.tol, **kw, **extra))
    top = slowest = "-"
    if modes.size:
        steps = np.asarray(lr.steps_to_converge(rate, modes, tol=args.tol, **kw))
        top, slowest = _steps(steps[0]), _steps(np.max(steps))
    final = "-"
    if args.steps is not None:
        final = f"{float(lr.final_loss(data, rate, hidden=args.hidden, steps=args.steps, **kw, **init)):.6g}"
    return f"{rate:.6g}", top, slowest, final


def _network_table(args, console) -> None:
    import numpy as np
    from rich.table import Table

    from .. import data
    from ..spectrum import Spectrum

    X = np.asarray(data.digits(), np.float64)
    spectrum = Spectrum.from_data(X)
    lam = np.asarray(spectrum.lam, np.float64)[: args.hidden]
    sig, gam = args.noise_var, args.weight_decay
    ustar = np.where(lam > gam, (lam - gam) / (lam + sig), 0.0)
    modes = lam[ustar > args.u0]
    criteria = _network_criteria(args)
    table = Table(
        title=f"network on {args.data} (D = {spectrum.dim}, H = {args.hidden}): noise_var = {sig:g}, "
        f"weight_decay = {gam:g}; top eigenvalue {lam[0]:.6g}; u0 = {args.u0:g}"
    )
    final_col = f"loss after {args.steps} steps ({args.init})" if args.steps is not None else "loss after T steps"
    for col in ("criterion", "rate", "steps: top mode", f"steps: {modes.size} modes", final_col, "note"):
        table.add_column(col, justify="left" if col in ("criterion", "note") else "right")
    answer = None
    for c in criteria:
        if c != "slides" and modes.size == 0:
            table.add_row(c, "-", "-", "-", "-", "no learning mode")
            continue
        row = _network_row(args, spectrum, X, c, modes)
        answer = (c, row) if c == args.criterion else answer
        table.add_row(c, *row, _NOTES[c], style="bold" if c == args.criterion else None)
    console.print(table)
    if answer is not None:
        c, (rate, _, _, final) = answer
        console.print(f"answer ({c}): rate {rate}" + (f", loss after {args.steps} steps {final}" if final != "-" else ""))
    console.print(
        "Rates from the Hessian of the full matrix loss; steps for the balanced aligned start until the top mode, "
        f"and every learning mode among the top H, stay within {args.tol:g} of their fixed points; the loss is the "
        "noise-averaged training loss after T full-batch steps (jaxdae.lr.final_loss). " + _LEGEND
    )


def main(args) -> int:
    from rich.console import Console

    console = Console()
    if args.lam is None and args.data is None:
        console.print("give --lam (one mode) and/or --data digits --hidden H (a network); see jaxdae lr --help")
        return 2
    try:
        if args.lam is not None:
            _mode_tables(args, console)
        if args.data is not None:
            _network_table(args, console)
    except ValueError as err:
        console.print(f"[red]error:[/red] {err}")
        return 2
    return 0
