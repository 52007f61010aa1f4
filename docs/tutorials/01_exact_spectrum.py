"""Tutorial 1: the exact learning dynamics of your own data's spectrum.

A linear autoencoder learns the eigen-directions of its data's second moment C = X^T X / N one at a
time, each at its own speed. `jaxdae.exact` gives every mode's strength u_k(t) in closed form,
for any noise level and weight decay, at the cost of an elementwise function.

Run it: `python docs/tutorials/01_exact_spectrum.py` (writes `tutorial01.png`).
"""

import os

import jax.numpy as jnp
import numpy as np

import jaxdae
from jaxdae import Spectrum, exact

QUICK = os.environ.get("JAXDAE_TUTORIAL_QUICK") == "1"
CHECKS = []

# 1. Your data: any (N, D) array with samples as rows. Here: the embedded handwritten digits.
X = jaxdae.data.digits()  # (1797, 64), values in [0, 1]
spec = Spectrum.from_data(X)  # C = X^T X / N = V diag(lam) V^T, computed once
lam = spec.lam[:8]  # the 8 leading modes
print("leading eigenvalues:", np.round(np.asarray(lam), 3))

# 2. Every mode's strength over time, for a DAE (noise) and the WDAE with the same fixed point.
noise_var, lr, u0 = 0.5, 1e-2, 1e-6
t = jnp.linspace(0.0, 2000.0 if QUICK else 20000.0, 200)
u_dae = exact.mode_strength(t[:, None], lam, noise_var=noise_var, lr=lr, u0=u0)  # (T, K)
gamma = exact.equivalent_weight_decay(lam, noise_var)  # one gamma per mode, same fixed point
u_wdae = exact.mode_strength(t[:, None], lam, weight_decay=gamma, lr=lr, u0=u0)
u_star = exact.fixed_point(lam, noise_var)
print("fixed points u*:", np.round(np.asarray(u_star), 3))

# 3. When does each mode reach 90 % of its fixed point? In closed form:
t90_dae = exact.time_to_fraction(0.9, lam, noise_var=noise_var, lr=lr, u0=u0)
t90_wdae = exact.time_to_fraction(0.9, lam, weight_decay=gamma, lr=lr, u0=u0)
print("steps to 90 %, DAE: ", np.round(np.asarray(t90_dae)))
print("steps to 90 %, WDAE:", np.round(np.asarray(t90_wdae)))
print("WDAE / DAE time ratio:", np.round(np.asarray(t90_wdae / t90_dae), 3))

# The claims, checked: at t90 the strength is 90 % of u*, both models share u*, and the time
# ratio is the closed-form (lam + sigma^2) / lam of `exact.dae_speedup`.
at_t90 = exact.mode_strength(t90_dae, lam, noise_var=noise_var, lr=lr, u0=u0)
assert np.allclose(at_t90, 0.9 * u_star, rtol=1e-4), (at_t90, u_star)
assert np.allclose(exact.fixed_point(lam, 0.0, gamma), u_star, rtol=1e-6)
assert np.allclose(t90_wdae / t90_dae, exact.dae_speedup(lam, noise_var), rtol=1e-4)
CHECKS += ["u(t90) = 0.9 u*", "same fixed point", "time ratio = dae_speedup"]

# 4. A picture: solid DAE, dashed WDAE, one colour per mode.
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 4))
for k in range(len(lam)):
    line, = ax.plot(t, u_dae[:, k], label=f"mode {k + 1}")
    ax.plot(t, u_wdae[:, k], "--", color=line.get_color())
ax.set(xlabel="gradient steps", ylabel="mode strength $u_k$", title="digits: DAE (solid) vs WDAE (dashed)")
ax.legend(fontsize=7, ncol=2)
fig.savefig("tutorial01.png", dpi=100)
print("wrote tutorial01.png; checks passed:", ", ".join(CHECKS))
