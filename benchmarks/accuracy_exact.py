"""Accuracy of `jaxdae.exact` against SciPy integration at rtol 1e-13, in float32 and float64.

Uses the hard parameter points of the test suite (`tests/test_exact.py`) and reports, per dtype, the
maximum relative error and the maximum error relative to the scale max(|u0|, u*). Float64 is turned
on for the process (the float32 side casts its inputs), so run it in its own process:

    python -m benchmarks.accuracy_exact            # writes benchmarks/results/exact_accuracy.json
    python -m benchmarks.accuracy_exact --quick    # the same points, writes nothing
"""

from __future__ import annotations

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from benchmarks._timing import bench_main, machine_info  # noqa: E402
from jaxdae import exact  # noqa: E402
from tests import reference  # noqa: E402
from tests.test_exact import BALANCED, UNBALANCED  # noqa: E402

NAME = "exact_accuracy"


def _max_errors(got, ref, scale, nz):
    return float(np.max(np.abs(got - ref)[nz] / np.abs(ref[nz]))), float(np.max(np.abs(got - ref) / scale))


def _errors(dtype):
    pts = [tuple(float(np.asarray(x, dtype)) for x in p) for p in BALANCED]
    t, lam, sig, gam, lr, u0 = (np.asarray(c, dtype) for c in zip(*pts))
    got = np.asarray(exact.mode_strength(t, lam, noise_var=sig, weight_decay=gam, lr=lr, u0=u0), np.float64)
    ref = np.array([reference.balanced(*p) for p in pts])
    scale = np.maximum(np.abs([p[5] for p in pts]), np.asarray(exact.fixed_point(lam, sig, gam), np.float64))
    bal = _max_errors(got, ref, np.where(scale > 0, scale, 1), ref != 0)
    pts = [tuple(float(np.asarray(x, dtype)) for x in p) for p in UNBALANCED]
    t, lam, w1, w2, sig, gam, lr = (np.asarray(c, dtype) for c in zip(*pts))
    got = np.asarray(exact.mode_strength_unbalanced(t, lam, (w1, w2), noise_var=sig, weight_decay=gam, lr=lr),
                     np.float64)
    ref = np.array([reference.unbalanced(*p[:7]) for p in pts])
    scale = np.maximum(np.abs(w1 * w2), np.asarray(exact.fixed_point(lam, sig, gam), np.float64))
    unb = _max_errors(got, ref, scale, np.abs(ref) > 1e-12 * scale)
    return {"balanced_max_rel": bal[0], "balanced_max_scaled": bal[1], "unbalanced_max_rel": unb[0],
            "unbalanced_max_scaled": unb[1], "points": len(BALANCED) + len(UNBALANCED)}


def run(*, quick: bool = False) -> dict:
    """Errors per dtype; accuracy has no baseline, so `rows` is empty and the numbers are notes."""
    result = {"float64": _errors(np.float64), "float32": _errors(np.float32)}
    notes = [f"{dtype}: " + ", ".join(f"{k} = {v:.2e}" if isinstance(v, float) else f"{k} = {v}"
                                      for k, v in errs.items()) for dtype, errs in result.items()]
    return {"name": NAME, "machine": machine_info(), "rows": [], "notes": notes, **result, "quick": quick}


def main(argv=None) -> dict:
    return bench_main(NAME, run, argv)


if __name__ == "__main__":
    main()
