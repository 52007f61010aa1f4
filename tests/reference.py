"""Independent references for the per-mode dynamics: high-precision numerical integration.

Nothing here uses jaxdae's closed forms. The scalar gradient flow of one mode,

    dw1/dt = lr [w2 (lam - xi u) - gamma w1],  dw2/dt = lr [w1 (lam - xi u) - gamma w2],  u = w1 w2,

is integrated with SciPy in float64 at rtol 1e-13: DOP853 while the horizon is short, and the implicit
Radau method when it spans many time constants (stiff near the fixed point). Balanced starts are
integrated in log u, where the relative tolerance is a relative tolerance on u.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

RTOL = 1e-13


def _method(span_rate: float) -> str:
    return "DOP853" if span_rate < 200 else "Radau"


def _jac(method, jac) -> dict:
    return {"jac": jac} if method == "Radau" else {}


def balanced(t, lam, noise_var=0.0, weight_decay=0.0, lr=1.0, u0=1e-6) -> float:
    """u(t) from w1 = w2 = sqrt(u0) > 0, by integrating d log u / ds = 2 (a - xi u)."""
    a = lam - weight_decay
    xi = lam + noise_var
    s = lr * t
    if s == 0 or u0 == 0:
        return float(u0)

    def rhs(_, y):
        return [2 * (a - xi * np.exp(min(y[0], 600.0)))]

    def jac(_, y):
        return [[-2 * xi * np.exp(y[0])]]

    rate = 2 * (abs(a) + xi * max(u0, abs(a) / max(xi, 1e-300)))
    method = _method(rate * s)
    sol = solve_ivp(rhs, (0.0, s), [np.log(u0)], method=method, rtol=RTOL, atol=1e-14, **_jac(method, jac))
    assert sol.success, sol.message
    return float(np.exp(sol.y[0, -1]))


def unbalanced(t, lam, w1, w2, noise_var=0.0, weight_decay=0.0, lr=1.0) -> float:
    """u(t) from any (w1, w2), by integrating the two weights directly."""
    xi = lam + noise_var
    s = lr * t
    if s == 0:
        return float(w1 * w2)
    scale = max(abs(w1), abs(w2), np.sqrt(max(lam - weight_decay, 0) / max(xi, 1e-300)))

    def rhs(_, w):
        g = lam - xi * w[0] * w[1]
        return [w[1] * g - weight_decay * w[0], w[0] * g - weight_decay * w[1]]

    def jac(_, w):
        g = lam - xi * w[0] * w[1]
        return [
            [-xi * w[1] ** 2 - weight_decay, g - xi * w[0] * w[1]],
            [g - xi * w[0] * w[1], -xi * w[0] ** 2 - weight_decay],
        ]

    rate = xi * scale**2 + lam + weight_decay
    method = _method(rate * s)
    # Relative accuracy from the smallest weight on: tiny starts must not hide under atol.
    atol = 1e-3 * RTOL * max(min(abs(w1), abs(w2), scale), 1e-300)
    sol = solve_ivp(rhs, (0.0, s), [w1, w2], method=method, rtol=RTOL, atol=atol, **_jac(method, jac))
    assert sol.success, sol.message
    return float(sol.y[0, -1] * sol.y[1, -1])


def gd_iterate(steps, lam, w1, w2, noise_var=0.0, weight_decay=0.0, lr=1.0) -> float:
    """Plain float64 Python loop of the scalar gradient-descent step."""
    xi = lam + noise_var
    for _ in range(int(steps)):
        r = xi * w1 * w2 - lam
        w1, w2 = w1 - lr * (w2 * r + weight_decay * w1), w2 - lr * (w1 * r + weight_decay * w2)
    return w1 * w2
