r"""Conversion between the paper's sum convention and jaxdae's per-sample convention.

The paper (Pretorius, Kroon & Kamper, ICML 2018) writes the loss as a sum over the $N$ samples:
$\Sigma = \sum_i x_i x_i^\top = N C$, noise $\varepsilon = N\sigma^2$, weight decay
$g = N\gamma$ (the authors' code) and time constant $\tau = N/\alpha$, with
$\tau\,\dot W = -\nabla L_{sum}$. jaxdae uses the per-sample mean loss: eigenvalues of $C$,
$\sigma^2$, $\gamma$ and the learning rate $\alpha$, time in gradient steps. The dynamics depend
only on $\lambda/\tau$, $\varepsilon/\tau$ and $g/\tau$, so both give the same $u(t)$:

| paper | jaxdae |
|---|---|
| $\lambda_\Sigma$ (eigenvalue of $\Sigma$) | `lam` $= \lambda_\Sigma / N$ |
| $\varepsilon$ | `noise_var` $= \varepsilon / N$ |
| $g$ | `weight_decay` $= g / N$ |
| $\tau$ | `lr` $= N / \tau$ |
"""

from __future__ import annotations

from typing import NamedTuple

from . import _checks

__all__ = ["PerSample", "PaperParams", "from_paper", "to_paper"]


class PerSample(NamedTuple):
    """jaxdae's parameters: `lam`, `noise_var`, `weight_decay`, `lr` (pass as `**p._asdict()`)."""

    lam: object
    noise_var: object
    weight_decay: object
    lr: object


class PaperParams(NamedTuple):
    """The paper's parameters: eigenvalue of Sigma `sigma_eig`, `eps`, `g`, `tau`."""

    sigma_eig: object
    eps: object
    g: object
    tau: object


def _n(n_samples) -> float:
    if not (isinstance(n_samples, (int, float)) and n_samples > 0):
        raise ValueError(f"n_samples must be a positive number, got {n_samples!r}")
    return float(n_samples)


def from_paper(*, n_samples, sigma_eig, eps=0.0, g=0.0, tau) -> PerSample:
    r"""Paper (sum convention) -> jaxdae: `lam = sigma_eig/N`, `noise_var = eps/N`,
    `weight_decay = g/N`, `lr = N/tau`."""
    n = _n(n_samples)
    _checks.nonnegative("sigma_eig", sigma_eig)
    _checks.nonnegative("eps", eps)
    _checks.nonnegative("g", g)
    _checks.positive("tau", tau)
    return PerSample(sigma_eig / n, eps / n, g / n, n / tau)


def to_paper(*, n_samples, lam, noise_var=0.0, weight_decay=0.0, lr) -> PaperParams:
    r"""jaxdae -> paper: `sigma_eig = N lam`, `eps = N noise_var`, `g = N weight_decay`,
    `tau = N/lr`."""
    n = _n(n_samples)
    _checks.nonnegative("lam", lam)
    _checks.nonnegative("noise_var", noise_var)
    _checks.nonnegative("weight_decay", weight_decay)
    _checks.positive("lr", lr)
    return PaperParams(n * lam, n * noise_var, n * weight_decay, n / lr)
