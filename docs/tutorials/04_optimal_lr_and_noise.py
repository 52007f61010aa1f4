"""Tutorial 4: the optimal learning rate and noise level, by differentiating through the solution.

The practitioner's questions: *I will train this linear autoencoder for T steps — which learning
rate gives the lowest loss at T? And how much input noise should I add so that it reconstructs
held-out data best?* Both are answered by optimising through the exact solution (the exact discrete
gradient-descent map of every mode, from an aligned start), with gradients from `jax.jvp`:

- `lr.optimal_learning_rate_for(X, hidden=H, criterion="final_loss", steps=T)`;
- `tune.noise_level(X_train, X_heldout, hidden=H, steps=T, lr=...)`.

Both are checked here against brute-force grids evaluated with the same public functions.
Run: `python docs/tutorials/04_optimal_lr_and_noise.py`.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np

import jaxdae
from jaxdae import lr, tune

QUICK = os.environ.get("JAXDAE_TUTORIAL_QUICK") == "1"
CHECKS = []

# A small training set (where noise can help) and a held-out set, split with an explicit key.
X = np.asarray(jaxdae.data.digits(), np.float64)
order = np.asarray(jax.random.permutation(jax.random.key(0), len(X)))
X_train, X_heldout = X[order[:100]], X[order[100:]]
hidden, steps = (4, 100) if QUICK else (16, 1000)
n_rates, n_levels = (50, 40) if QUICK else (400, 300)
spec = jaxdae.Spectrum.from_data(X_train)  # decomposed once; every lr call below reuses it

# 1. The learning rate that minimises the (noise-averaged) training loss after `steps` steps.
best = lr.optimal_learning_rate_for(spec, hidden=hidden, criterion="final_loss", steps=steps)
print(f"final_loss rate for T = {steps}: {float(best):.4g}, "
      f"loss {float(lr.final_loss(spec, best, hidden=hidden, steps=steps)):.5g}")
for criterion in ("slides", "critical", "stability", "fewest_steps"):
    rate = lr.optimal_learning_rate_for(spec, hidden=hidden, criterion=criterion)
    loss = lr.final_loss(spec, rate, hidden=hidden, steps=steps)
    print(f"  {criterion:13s} rate {float(rate):.4g}, loss after T steps {float(loss):.5g}")

# Brute force: a grid of rates up to the stability limit, through the same loss.
limit = float(lr.optimal_learning_rate_for(spec, hidden=hidden, criterion="stability"))
rates = jnp.geomspace(1e-3 * limit, limit, n_rates)
grid = jax.vmap(lambda a: lr.final_loss(spec, a, hidden=hidden, steps=steps))(rates)
ours = lr.final_loss(spec, best, hidden=hidden, steps=steps)
print(f"brute force over {n_rates} rates: best loss {float(grid.min()):.5g} at rate {float(rates[grid.argmin()]):.4g}")
assert float(best) <= limit * (1 + 1e-9) and float(ours) <= float(grid.min()) * (1 + 1e-3)
CHECKS.append(f"final_loss rate as good as a {n_rates}-rate grid, below the stability limit")

# 2. The noise level that reconstructs held-out data best after training `steps` steps at that rate.
noise_var, heldout = tune.noise_level(X_train, X_heldout, hidden=hidden, steps=steps, lr=best)
plain = tune.heldout_loss(X_train, X_heldout, hidden=hidden, steps=steps, lr=best, noise_var=0.0)
print(f"best noise variance {float(noise_var):.4g}: held-out error {float(heldout):.5g} "
      f"(no noise: {float(plain):.5g})")
levels = jnp.concatenate([jnp.zeros(1), jnp.geomspace(1e-4, 10.0, n_levels)])
brute = tune.heldout_loss(X_train, X_heldout, hidden=hidden, steps=steps, lr=best, noise_var=levels)
print(f"brute force over {n_levels + 1} noise levels: best {float(brute.min()):.5g} at {float(levels[brute.argmin()]):.4g}")
assert float(heldout) <= float(brute.min()) * (1 + 1e-3) and float(heldout) <= float(plain)
CHECKS.append(f"noise level as good as a {n_levels + 1}-level grid, and no worse than no noise")
# Why the answer here is no noise at all: from an aligned start W = V diag(u) V^T, so
# E_held = 1/2 sum_k c_k (1 - u_k)^2 with c_k = v_k^T C_held v_k >= 0, and noise only lowers each
# u_k towards lam_k / (lam_k + sigma^2) < 1. While no mode overshoots 1, more noise means more
# held-out error: for clean held-out data the finite budget T already acts as the regulariser.
u_final = jaxdae.exact.mode_strength_discrete(steps, spec.lam[:hidden], lr=best)
print(f"largest mode strength after T steps: {float(u_final.max()):.4f} (<= 1: no overshoot)")
print("checks passed:", ", ".join(CHECKS))
