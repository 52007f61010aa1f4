"""Accuracy of `jaxdae.exact` against SciPy integration at rtol 1e-13, in float32 and float64.

Uses the hard parameter points of the test suite (tests/test_exact.py) and reports, per dtype, the maximum
relative error and the maximum error relative to the scale max(|u0|, u*). Writes
`benchmarks/results/exact_accuracy.json`.

    python benchmarks/accuracy_exact.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jaxdae import exact  # noqa: E402
from tests import reference  # noqa: E402
from tests.test_exact import BALANCED, UNBALANCED  # noqa: E402


def _errors(dtype):
    out = {}
    pts = [tuple(float(np.asarray(x, dtype)) for x in p) for p in BALANCED]
    t, lam, sig, gam, lr, u0 = (np.asarray(c, dtype) for c in zip(*pts))
    got = np.asarray(exact.mode_strength(t, lam, noise_var=sig, weight_decay=gam, lr=lr, u0=u0), np.float64)
    ref = np.array([reference.balanced(*p) for p in pts])
    scale = np.maximum(np.abs([p[5] for p in pts]), np.asarray(exact.fixed_point(lam, sig, gam), np.float64))
    nz = ref != 0
    out["balanced_max_rel"] = float(np.max(np.abs(got - ref)[nz] / np.abs(ref[nz])))
    out["balanced_max_scaled"] = float(np.max(np.abs(got - ref) / np.where(scale > 0, scale, 1)))
    pts = [tuple(float(np.asarray(x, dtype)) for x in p) for p in UNBALANCED]
    t, lam, w1, w2, sig, gam, lr = (np.asarray(c, dtype) for c in zip(*pts))
    got = np.asarray(exact.mode_strength_unbalanced(t, lam, w1, w2, noise_var=sig, weight_decay=gam, lr=lr), np.float64)
    ref = np.array([reference.unbalanced(p[0], p[1], p[2], p[3], p[4], p[5], p[6]) for p in pts])
    scale = np.maximum(np.abs(w1 * w2), np.asarray(exact.fixed_point(lam, sig, gam), np.float64))
    nz = np.abs(ref) > 1e-12 * scale
    out["unbalanced_max_rel"] = float(np.max(np.abs(got - ref)[nz] / np.abs(ref[nz])))
    out["unbalanced_max_scaled"] = float(np.max(np.abs(got - ref) / scale))
    out["points"] = len(BALANCED) + len(UNBALANCED)
    return out


def main():
    result = {"float64": _errors(np.float64), "float32": _errors(np.float32)}
    for dtype, errs in result.items():
        print(dtype, ", ".join(f"{k} = {v:.2e}" if isinstance(v, float) else f"{k} = {v}" for k, v in errs.items()))
    path = Path(__file__).parent / "results" / "exact_accuracy.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
