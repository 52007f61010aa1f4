r"""Discrete training of (denoising, weight-decayed) autoencoders with optax, on real data.

`fit` trains one network and records the same observable as `jaxdae.exact` and `jaxdae.ode`,
the mode strengths $u_k(t)$, in a `jaxdae.Trajectory`. `fit_grid` trains the Cartesian product
of several noise levels, weight decays, learning rates, initial scales and seeds as **one**
compiled, vectorised program; its values are traced, so a second call with new values of the
same sizes does not recompile.

**The model.** Rows of `X` `(N, D)` are samples, $W_1$ is `(H, D)`, $W_2$ `(D, H)`, and the
reconstruction of a corrupted sample $\tilde x = x + n$ is $\hat x = W_2\, f(W_1 \tilde x)$ with
$f$ = identity, ReLU or tanh (no biases: the linear theory has none, and without them the
two weight matrices, their initialisation, their decay and their norm mean the same thing
for every activation). The loss is the per-sample mean (docs/theory.md),

$$L = \frac{1}{2B}\sum_{i \in \text{batch}} \|x_i - \hat x_i\|^2
      + \frac{\gamma}{2}\left(\|W_1\|_F^2 + \|W_2\|_F^2\right),
      \qquad n_i \sim \mathcal N(0, \sigma^2 I_D),$$

with $B = N$ (full batch, the default) or `batch_size`. Time is counted in optimiser updates
(full-batch gradient steps, "epochs", by default), the unit of `jaxdae.exact`.

**Weight decay** is the penalty in the loss above: its gradient $\gamma W$ is added to the
data gradient *before* the optimiser, exactly like `optax.add_decayed_weights` placed first in
the chain (not AdamW's decoupled decay). With the default SGD, the update is
$W \leftarrow W - \alpha(\nabla L_{data} + \gamma W)$: the theory's $\gamma$, nothing rescaled.

**Noise.** `noise="gaussian"` draws fresh noise at every step; `"expected"` minimises the
noise-averaged loss of a linear net, $\frac{1}{2B}\sum\|x_i - Wx_i\|^2 + \frac{\sigma^2}{2}
\|W_2 W_1\|_F^2$ (+ decay), exact because only the first two moments of the noise enter
(docs/derivations.md §1); `"none"` trains a plain autoencoder ($\sigma^2$ ignored).

**Seeds and noise levels (common random numbers).** The key fixes a *base* noise pattern
$Z_0$ with i.i.d. standard normal entries, one per step, and the noise of a run is
$Z = \sigma Z_0$: the same key gives the same pattern at every noise level (and every weight
decay, learning rate and initial scale), so differences between noise levels are not blurred
by different draws, and a noise $\times$ seed grid draws its noise once per seed. The key is
split into three independent streams: initial weights, noise (the stream of step $t$ is
`fold_in(noise_key, t)`) and minibatch order (epoch $e$ is shuffled with
`fold_in(shuffle_key, e)`). In `fit_grid`, the run with seed $s$ uses
`jax.random.fold_in(key, s)` in place of `key` (and `key` itself when the grid has no `"seed"`),
so `fit(..., key=jax.random.fold_in(key, s))` reproduces it bit for bit.

**Two engines, one distribution.** A linear network trained on the full batch sees the data
and the noise only through $S_{xt} = X^\top \tilde X/N$ and $S_{tt} = \tilde X^\top \tilde X/N$:
its gradient is $\nabla_W L = W S_{tt} - S_{xt}$ with $W = W_2 W_1$,
$\nabla_{W_1} = W_2^\top \nabla_W$ and $\nabla_{W_2} = \nabla_W W_1^\top$. With $E = X^\top Z_0/N$
and $F = Z_0^\top Z_0/N$, $S_{xt} = C + \sigma E$ and $S_{tt} = C + \sigma(E + E^\top) + \sigma^2 F$.
`engine="moments"` (the default there) draws $(E, F)$ exactly in distribution, without
$Z_0$: with the thin SVD $X = U S V^\top$ ($m = \min(N, D)$ columns), $G = U^\top Z_0$ has
i.i.d. normal entries, $E = V S G / N$, and $F = (G^\top G + R)/N$ where
$R = Z_0^\top(I - UU^\top)Z_0 \sim \mathrm{Wishart}_D(N-m, I)$ is independent of $G$ (drawn by
Bartlett's decomposition). That is $mD + D(D-1)/2$ normals and $D$ chi-squares per step
instead of $ND$, and $O(D^2 H)$ work per run instead of $O(NDH)$; $V S$ comes from the
spectrum of $C$. It is the linear, full-batch analogue of the hidden-space sampling of
docs/derivations.md §15 (which saves a factor $D/H$ only; this saves $N/D$). `engine="data"` forms the
corrupted batch $X_B + \sigma Z_0$ and differentiates the loss with `jax.grad`; it is what
nonlinear nets and minibatches use. For `noise="expected"` or `"none"` the two engines agree
to rounding; for `"gaussian"` they draw different realisations of the same distribution.

**Mode strengths.** With $C = X^\top X/N = V\operatorname{diag}(\lambda)V^\top$
(uncentred): for a linear net $u_k = v_k^\top W_2 W_1 v_k$; for a nonlinear net, from the
reconstructions $\hat X$ of the *clean* data, $u_k = v_k^\top (\hat X^\top X/N) v_k / \lambda_k$,
which equals the former for a linear net. Modes outside the numerical rank of
$X$ ($\lambda_k \le \lambda_1 (\max(N, D)\,\epsilon)^2$, numpy's `matrix_rank` tolerance) carry
no data and are reported as 0 for nonlinear nets.

**Cost.** Moment engine: $O(D^2H)$ per run and step, $O(D^3)$ and $O(D^2)$ normals per seed and
step, nothing of size $N$. Data engine: $O(BDH)$ per run and step, and one corrupted `(B, D)`
batch per run in memory. Recording a nonlinear net reconstructs all of `X`, $O(NDH + ND^2)$ per
run and record; a linear net's record costs $O(D^2H)$.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _checks
from .initialise import aligned_init, random_init
from .spectrum import Spectrum, check_data
from .trajectory import Trajectory

__all__ = ["fit", "fit_grid", "GridResult", "GRID_NAMES"]

_ACTIVATIONS = ("linear", "relu", "tanh")
_NOISES = ("gaussian", "expected", "none")
_ENGINES = ("auto", "moments", "data")
GRID_NAMES = ("noise_var", "weight_decay", "lr", "init_scale", "seed")
_DEFAULT_LR = 1e-2


# --------------------------------------------------------------------------- static configuration


class _Config(NamedTuple):
    """Everything that shapes the compiled program (hashable, static under `jit`)."""

    hidden: int
    activation: str
    noise: str
    engine: str
    steps: int
    record_every: int
    batch_size: Optional[int]
    init: str  # "random", "aligned" or "explicit"
    opt_kind: str  # "sgd", "transform" or "factory"
    optimizer: object
    record_weights: bool


def _act(name):
    return {"linear": lambda h: h, "relu": jax.nn.relu, "tanh": jnp.tanh}[name]


def _make_opt(cfg: _Config, lr):
    if cfg.opt_kind == "sgd":
        return optax.sgd(lr)
    if cfg.opt_kind == "factory":
        return cfg.optimizer(lr)
    return cfg.optimizer


# --------------------------------------------------------------------------- noise draws


def _moment_draw(key, ev, n_rest, n_samples, dim):
    r"""$(E, F) = (X^\top Z_0/N,\ Z_0^\top Z_0/N)$ exactly in distribution, from $O(D^2)$ draws.

    `ev` is $V_m \operatorname{diag}(\sqrt{\lambda_m/N})$ `(D, m)`, so $E = $ `ev` $@ G$; the rest of
    $Z_0^\top Z_0$ is Wishart with `n_rest` $= N - m$ degrees of freedom.
    """
    k_g, k_low, k_chi = jax.random.split(key, 3)
    dtype = ev.dtype
    g = jax.random.normal(k_g, (ev.shape[1], dim), dtype)
    e = ev @ g
    gram = g.T @ g
    if n_rest >= dim:
        # Bartlett: R = A A^T, A lower triangular, A_ii^2 ~ chi2(n - i), A_ij ~ N(0, 1) below.
        rows, cols = np.tril_indices(dim, -1)
        below = jax.random.normal(k_low, (rows.size,), dtype)
        df = (n_rest - jnp.arange(dim)).astype(dtype)
        diag = jnp.sqrt(jax.random.chisquare(k_chi, df, (dim,), dtype))
        a = jnp.diag(diag).at[rows, cols].set(below)
        gram = gram + a @ a.T
    elif n_rest > 0:
        y = jax.random.normal(k_low, (n_rest, dim), dtype)
        gram = gram + y.T @ y
    return e, gram / n_samples


# --------------------------------------------------------------------------- one run's gradient


def _penalty(params):
    w1, w2 = params
    return jnp.sum(w1 * w1) + jnp.sum(w2 * w2)


def _moments(draw, hp, consts, cfg: _Config):
    r"""$(S_{xt}, S_{tt}) = (X^\top\tilde X/N,\ \tilde X^\top\tilde X/N)$ of one run, or their means."""
    c = consts["C"]
    var = hp["noise_var"]
    if cfg.noise == "gaussian":
        e, f = draw
        sd = jnp.sqrt(var)
        s_xt = c + sd * e
        s_tt = c + sd * (e + e.T) + var * f
    elif cfg.noise == "expected":
        s_xt = c
        s_tt = c + var * jnp.eye(c.shape[0], dtype=c.dtype)
    else:
        s_xt = s_tt = c
    return s_xt, s_tt


def _moment_grad(params, draw, hp, consts, cfg: _Config):
    """Gradient of a linear net on the full batch from second moments (no loss: see below)."""
    w1, w2 = params
    s_xt, s_tt = _moments(draw, hp, consts, cfg)
    gam = hp["weight_decay"]
    # grad_W L = W S_tt - S_xt, with W = W2 W1 never formed: (W2 (W1 S_tt)) costs 2 D^2 H.
    g = w2 @ (w1 @ s_tt) - s_xt
    return (w2.T @ g + gam * w1, g @ w1.T + gam * w2), None


def _moment_loss(params, draw, hp, consts, cfg: _Config):
    r"""$L = \tfrac12\operatorname{tr}C - \langle S_{xt}, W\rangle + \tfrac12\langle W S_{tt}, W\rangle$ + decay."""
    w1, w2 = params
    s_xt, s_tt = _moments(draw, hp, consts, cfg)
    w = w2 @ w1
    fit_term = 0.5 * consts["trC"] - jnp.sum(s_xt * w) + 0.5 * jnp.sum((w @ s_tt) * w)
    return fit_term + 0.5 * hp["weight_decay"] * _penalty(params)


def _data_loss(params, xb, z, hp, cfg: _Config):
    w1, w2 = params
    var = hp["noise_var"]
    xt = xb + jnp.sqrt(var) * z if cfg.noise == "gaussian" else xb
    xhat = _act(cfg.activation)(xt @ w1.T) @ w2.T
    loss = 0.5 * jnp.sum((xhat - xb) ** 2) / xb.shape[0]
    if cfg.noise == "expected":
        # sigma2/2 ||W2 W1||_F^2 = sigma2/2 <W2^T W2, W1 W1^T>: O(D H^2), no D x D product.
        loss = loss + 0.5 * var * jnp.sum((w2.T @ w2) * (w1 @ w1.T))
    return loss + 0.5 * hp["weight_decay"] * _penalty(params)


def _data_grad(params, draw, hp, consts, cfg: _Config):
    xb, z = draw
    loss, grads = jax.value_and_grad(_data_loss)(params, xb, z, hp, cfg)
    return grads, loss


def _draw(cfg: _Config, consts, k_noise, k_shuffle, t):
    """The randomness of step `t` for one seed, shared by every run of that seed."""
    if cfg.engine == "moments":
        if cfg.noise != "gaussian":
            return None
        n, d = consts["X"].shape
        ev = consts["EV"]
        return _moment_draw(jax.random.fold_in(k_noise, t), ev, n - ev.shape[1], n, d)
    x = consts["X"]
    n, d = x.shape
    if cfg.batch_size is None:
        xb = x
    else:
        per_epoch = n // cfg.batch_size
        perm = jax.random.permutation(jax.random.fold_in(k_shuffle, t // per_epoch), n)
        idx = jax.lax.dynamic_slice_in_dim(perm, (t % per_epoch) * cfg.batch_size, cfg.batch_size)
        xb = x[idx]
    z = None
    if cfg.noise == "gaussian":
        z = jax.random.normal(jax.random.fold_in(k_noise, t), xb.shape, x.dtype)
    return xb, z


# --------------------------------------------------------------------------- observables


def _linear_strength(w1, w2, vecs):
    r"""$u_k = v_k^\top W_2 W_1 v_k$ `(D,)` without forming the `(D, D)` product."""
    return jnp.sum((vecs.T @ w2) * (w1 @ vecs).T, axis=1)


def _recon_strength(xhat_v, xv, lam, live):
    r"""$u_k = v_k^\top(\hat X^\top X/N)v_k/\lambda_k$ from $\hat X V$ and $XV$ `(N, D)`; 0 where not `live`."""
    num = jnp.sum(xhat_v * xv, axis=0) / xv.shape[0]
    return jnp.where(live, num / jnp.where(live, lam, 1), 0)


def _observe(params, consts, cfg: _Config):
    """Mode strengths `(D,)` and weight norm of one run."""
    w1, w2 = params
    if cfg.activation == "linear":
        u = _linear_strength(w1, w2, consts["V"])
    else:
        x = consts["X"]
        xhat = _act(cfg.activation)(x @ w1.T) @ w2.T
        u = _recon_strength(xhat @ consts["V"], consts["XV"], consts["lam"], consts["live"])
    return u, jnp.sqrt(_penalty(params))


# --------------------------------------------------------------------------- the program


_RUN_CONSTS = {"moments": ("C", "trC"), "data": ()}
_OBS_CONSTS = ("V", "X", "XV", "lam", "live")


# XLA's algebraic simplifier reassociates products with scalar-broadcast operands, e.g.
# `s * (c * x)` -> `(s * c) * x`, but only where a per-run value is a scalar, i.e. for a lone run
# and not for a grid: that would break "a run of a grid equals the same run alone, bit for bit".
# Disabling it cost no measurable speed on these programs (matrix products dominate).
def _simulate_impl(cfg: _Config, consts, hyper, seed_keys, base_init):
    """Train `S x P` runs: `seed_keys` `(S,)`, every leaf of `hyper` `(P,)`; one program.

    Per seed the randomness (initial weights, noise, batch order) is drawn once and shared by
    the `P` runs of that seed, which differ only in their hyper-parameters.

    Every operand of every matrix product is given explicit `(S, P)` (or `(S,)`) batch axes:
    `vmap` would otherwise fold a shared operand into one larger product, whose rounding
    depends on the number of runs. Batched on both sides, each run's arithmetic is the same
    in a grid as alone, bit for bit.
    """
    grad_fn = _moment_grad if cfg.engine == "moments" else _data_grad
    n_seeds = seed_keys.shape[0]
    n_points = jax.tree.leaves(hyper)[0].shape[0]

    def per_seed(tree):
        return jax.tree.map(lambda a: jnp.broadcast_to(a, (n_seeds,) + a.shape), tree)

    def per_run(tree, seed_axis=False):
        if seed_axis:
            return jax.tree.map(lambda a: jnp.broadcast_to(a[:, None], (n_seeds, n_points) + a.shape[1:]), tree)
        return jax.tree.map(lambda a: jnp.broadcast_to(a, (n_seeds, n_points) + a.shape), tree)

    def seed_streams(key):
        k_init, k_noise, k_shuffle = jax.random.split(key, 3)
        if cfg.init == "random":
            base = random_init(k_init, consts["V"].shape[0], cfg.hidden, 1.0, consts["V"].dtype)
        else:
            base = base_init
        return base, k_noise, k_shuffle

    base, k_noise, k_shuffle = jax.vmap(seed_streams)(seed_keys)
    hyper = jax.tree.map(lambda a: jnp.broadcast_to(a, (n_seeds, n_points)), hyper)

    def init_run(base_r, hp):
        params = base_r if cfg.init == "explicit" else (hp["init_scale"] * base_r[0], hp["init_scale"] * base_r[1])
        return params, _make_opt(cfg, hp["lr"]).init(params)

    params, opt_state = jax.vmap(jax.vmap(init_run))(per_run(base, seed_axis=True), hyper)

    draw_consts = per_seed({k: consts[k] for k in ("X", "EV") if k in consts})
    run_consts = per_run({k: consts[k] for k in _RUN_CONSTS[cfg.engine]})
    obs_consts = {k: consts[k] for k in _OBS_CONSTS}

    r = cfg.record_every
    n_rec = len(_record_times(cfg.steps, r))
    moments = cfg.engine == "moments"

    def observe_all(prm):
        if cfg.activation == "linear":
            v = per_run(obs_consts["V"])
            return jax.vmap(jax.vmap(lambda p, c: _observe(p, {"V": c}, cfg)))(prm, v)
        # A nonlinear net reconstructs all of X: one run at a time (only at record times), so
        # that no (S, P, N, D) copy of X is needed to keep the products batched on both sides.
        flat = jax.tree.map(lambda a: a.reshape((-1,) + a.shape[2:]), prm)
        out = jax.lax.map(lambda p: _observe(p, obs_consts, cfg), flat)
        return jax.tree.map(lambda a: a.reshape((n_seeds, n_points) + a.shape[1:]), out)

    def body(carry, t):
        prm, ost, bufs = carry
        draws = jax.vmap(lambda c, kn, ks: _draw(cfg, c, kn, ks, t))(draw_consts, k_noise, k_shuffle)
        draws = per_run(draws, seed_axis=True)

        def run_step(hp, p, o, d, c):
            grads, loss = grad_fn(p, d, hp, c, cfg)
            upd, o = _make_opt(cfg, hp["lr"]).update(grads, o, p)
            return optax.apply_updates(p, upd), o, loss

        new_prm, new_ost, loss = jax.vmap(jax.vmap(run_step))(hyper, prm, ost, draws, run_consts)
        # One flat scan with a recording branch keeps a single copy of the draw and the
        # gradient in the program (compile time), and the recording work off the other steps.
        is_rec = (t % r == 0) | (t == cfg.steps)

        def record(bufs):
            rec_loss = loss
            if moments:
                rec_loss = jax.vmap(jax.vmap(lambda hp, p, d, c: _moment_loss(p, d, hp, c, cfg)))(
                    hyper, prm, draws, run_consts
                )
            u, norm = observe_all(prm)
            new = (u, norm, rec_loss, prm if cfg.record_weights else None)
            # Records sit at 0, r, 2r, ... below `steps`, and at `steps` itself (the last slot).
            i = jnp.where(t == cfg.steps, n_rec - 1, t // r)
            return jax.tree.map(lambda b, v: jax.lax.dynamic_update_index_in_dim(b, v, i, 0), bufs, new)

        bufs = jax.lax.cond(is_rec, record, lambda b: b, bufs)
        live = t < cfg.steps
        prm, ost = jax.tree.map(lambda a, b: jnp.where(live, a, b), (new_prm, new_ost), (prm, ost))
        return (prm, ost, bufs), None

    u0, n0 = jax.eval_shape(observe_all, params)
    structs = (u0, n0, n0, params if cfg.record_weights else None)
    bufs = jax.tree.map(lambda a: jnp.zeros((n_rec,) + a.shape, a.dtype), structs)
    (final_prm, _, bufs), _ = jax.lax.scan(body, (params, opt_state, bufs), jnp.arange(cfg.steps + 1))
    u, norm, loss, weights = bufs

    # (T, S, P, ...) -> (S, P, T, ...)
    def time_axis(a):
        return jnp.moveaxis(a, 0, 2)

    u, norm, loss = time_axis(u), time_axis(norm), time_axis(loss)
    if weights is not None:
        weights = jax.tree.map(time_axis, weights)
    w1, w2 = final_prm
    ok = jnp.all(jnp.isfinite(w1), axis=(-2, -1)) & jnp.all(jnp.isfinite(w2), axis=(-2, -1))
    ok = ok & jnp.all(jnp.isfinite(loss), axis=-1)
    return u, norm, loss, weights, jnp.where(ok, 0, 1).astype(jnp.int32)


_simulate = jax.jit(_simulate_impl, static_argnames=("cfg",), compiler_options={"xla_disable_hlo_passes": "algsimp"})
# Inside a user's jit the options of the outer program apply (JAX allows them only at the top).
_simulate_nested = jax.jit(_simulate_impl, static_argnames=("cfg",))


def _run(cfg, consts, hyper, seed_keys, base_init):
    try:
        return _simulate(cfg, consts, hyper, seed_keys, base_init)
    except ValueError as err:
        if "compiler_options" not in str(err):
            raise
        return _simulate_nested(cfg, consts, hyper, seed_keys, base_init)


def _record_times(steps: int, every: int) -> np.ndarray:
    return np.append(np.arange(0, steps, every), steps)


# --------------------------------------------------------------------------- validation


def _int_arg(name, v, low=1):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    return int(v)


def _choice(name, v, options):
    if not isinstance(v, str) or v not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {v!r}")
    return v


def _prepare_data(X):
    if isinstance(X, jax.core.Tracer):
        raise ValueError("X must be a concrete array (its spectrum is computed on the host), got a traced value")
    Xn = check_data(X)
    wanted = Xn.dtype if np.issubdtype(Xn.dtype, np.floating) else np.float64
    dtype = jnp.dtype(jax.dtypes.canonicalize_dtype(wanted))
    Xn = Xn.astype(dtype)
    # Host-side eigen-decomposition, concrete even when fit is called inside a user's jit.
    with jax.ensure_compile_time_eval():
        return Xn, dtype, Spectrum.from_data(Xn)


def _consts(Xn, dtype, spec: Spectrum, engine):
    n, d = Xn.shape
    x64 = Xn.astype(np.float64)
    lam = np.asarray(spec.lam, np.float64)
    vecs = np.asarray(spec.vecs, np.float64)
    tol = lam[0] * (max(n, d) * np.finfo(dtype).eps) ** 2
    consts = {
        "X": jnp.asarray(Xn, dtype),
        "V": jnp.asarray(vecs, dtype),
        "lam": jnp.asarray(lam, dtype),
        "live": jnp.asarray(lam > tol),
        "XV": jnp.asarray(x64 @ vecs, dtype),
    }
    if engine == "moments":
        m = min(n, d)
        C = x64.T @ x64 / n
        consts["C"] = jnp.asarray(C, dtype)
        consts["trC"] = jnp.asarray(np.trace(C), dtype)
        consts["EV"] = jnp.asarray(vecs[:, :m] * np.sqrt(lam[:m] / n), dtype)
    return consts


def _check_key(key):
    if isinstance(key, (jax.Array, np.ndarray)):
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ():
            return key
        if key.dtype == np.uint32 and key.shape == (2,):
            return jnp.asarray(key)
    what = f"{type(key).__name__} of dtype {key.dtype} and shape {key.shape}" if hasattr(key, "dtype") else repr(key)
    raise ValueError(
        f"key must be a single JAX PRNG key (jax.random.key(seed) or jax.random.PRNGKey(seed)), got {what}"
    )


def _optimizer(optimizer, lr_given: bool):
    if optimizer is None:
        return "sgd", None
    if isinstance(optimizer, optax.GradientTransformation):
        if lr_given:
            raise ValueError(
                "lr cannot be combined with an optax.GradientTransformation, whose learning rate is "
                "fixed inside it; pass a factory such as optax.adam (called as optimizer(lr)) to set "
                "or sweep lr"
            )
        return "transform", optimizer
    if callable(optimizer) and not isinstance(optimizer, type):
        try:
            made = optimizer(jnp.asarray(_DEFAULT_LR))
        except Exception as err:  # noqa: BLE001 - any failure means it is not a factory
            raise ValueError(
                "optimizer must be an optax.GradientTransformation or a factory lr -> "
                f"GradientTransformation (such as optax.adam); calling {optimizer!r} with a learning "
                f"rate failed: {err}"
            ) from None
        if isinstance(made, optax.GradientTransformation):
            return "factory", optimizer
    raise ValueError(
        "optimizer must be an optax.GradientTransformation or a factory lr -> GradientTransformation "
        f"(such as optax.adam), got {optimizer!r}"
    )


def _init_kind(init, hidden, dim, dtype, spec):
    if isinstance(init, str):
        _choice("init", init, ("random", "aligned"))
        if init == "random":
            return "random", None
        if hidden > dim:
            raise ValueError(f"hidden must be <= the data dimension {dim} for init='aligned', got {hidden}")
        return "aligned", aligned_init(spec, hidden, u0=1.0)
    if isinstance(init, (tuple, list)) and len(init) == 2:
        w1, w2 = (np.asarray(w) for w in init)
        if w1.shape != (hidden, dim) or w2.shape != (dim, hidden):
            raise ValueError(
                f"init=(W1, W2) must have shapes {(hidden, dim)} and {(dim, hidden)}, got {w1.shape} and {w2.shape}"
            )
        _checks.finite("init W1", w1)
        _checks.finite("init W2", w2)
        return "explicit", (jnp.asarray(w1, dtype), jnp.asarray(w2, dtype))
    raise ValueError(f"init must be 'random', 'aligned' or a pair (W1, W2) of arrays, got {init!r}")


def _check_value(name, v, label=None):
    label = label or name
    if name == "lr":
        return _checks.positive(label, v)
    if name == "init_scale":
        return _checks.positive(label, v)
    return _checks.nonnegative(label, v)


def _setup(X, hidden, steps, activation, noise, engine, batch_size, record_every, optimizer, lr_given, init,
           record_weights):
    Xn, dtype, spec = _prepare_data(X)
    n, d = Xn.shape
    hidden = _int_arg("hidden", hidden)
    steps = _int_arg("steps", steps)
    _choice("activation", activation, _ACTIVATIONS)
    _choice("noise", noise, _NOISES)
    _choice("engine", engine, _ENGINES)
    if noise == "expected" and activation != "linear":
        raise ValueError(
            f"noise='expected' needs activation='linear' (the noise-averaged loss has no closed form for a "
            f"{activation} net); use noise='gaussian'"
        )
    if batch_size is not None:
        batch_size = _int_arg("batch_size", batch_size)
        if batch_size > n:
            raise ValueError(f"batch_size must be <= the number of samples N = {n}, got {batch_size}")
    record_every = max(1, steps // 100) if record_every is None else _int_arg("record_every", record_every)
    full_linear = activation == "linear" and batch_size is None
    if engine == "auto":
        engine = "moments" if full_linear else "data"
    elif engine == "moments" and not full_linear:
        raise ValueError("engine='moments' needs activation='linear' and batch_size=None (the full batch)")
    opt_kind, opt = _optimizer(optimizer, lr_given)
    init_kind, base = _init_kind(init, hidden, d, dtype, spec)
    cfg = _Config(hidden, activation, noise, engine, steps, record_every, batch_size, init_kind, opt_kind, opt,
                  bool(record_weights))
    return cfg, _consts(Xn, dtype, spec, engine), base, dtype


def _to_trajectory(cfg, out, dtype, batch_shape):
    u, norm, loss, weights, result = out
    t = jnp.asarray(_record_times(cfg.steps, cfg.record_every), dtype)
    return Trajectory(
        t=jnp.broadcast_to(t, batch_shape + t.shape),
        mode_strength=u,
        loss=loss,
        weight_norm=norm,
        weights=weights,
        result=result,
    )


# --------------------------------------------------------------------------- public API


def fit(
    X,
    *,
    hidden: int,
    steps: int,
    noise_var=0.0,
    weight_decay=0.0,
    lr=None,
    optimizer=None,
    key,
    init="random",
    init_scale=1e-3,
    activation: str = "linear",
    noise: str = "gaussian",
    batch_size: Optional[int] = None,
    record_every: Optional[int] = None,
    record_weights: bool = False,
    engine: str = "auto",
) -> Trajectory:
    r"""Train one autoencoder on `X` and record its mode strengths (see the module docstring).

    **Arguments:**

    - `X`: `(N, D)` data, rows are samples, real and finite, concrete (its spectrum
      $C = X^\top X/N = V\operatorname{diag}(\lambda)V^\top$ is computed on the host). Its
      floating dtype is the dtype of the run (integers: the default float).
    - `hidden`: $H \ge 1$.
    - `steps`: number of optimiser updates, `>= 1`.
    - `noise_var`: input-noise variance $\sigma^2 \ge 0$ (ignored for `noise="none"`).
    - `weight_decay`: $\gamma \ge 0$, the penalty $\frac{\gamma}{2}(\|W_1\|^2+\|W_2\|^2)$ in the loss.
    - `lr`: learning rate $\alpha > 0$ of the default SGD (default `1e-2`), or the argument of
      an optimiser factory. Not allowed with a ready-made `GradientTransformation`.
    - `optimizer`: `None` (SGD, $W \leftarrow W - \alpha\nabla L$), an
      `optax.GradientTransformation` used as is, or a factory `lr -> GradientTransformation`
      such as `optax.adam` (then `lr` may be swept by `fit_grid`). Reuse the same object across
      calls: a new one is a new program to compile.
    - `key`: a `jax.random` key; fixes the initial weights, the noise and the batch order.
    - `init`: `"random"` (i.i.d. $\mathcal N(0, s^2)$ entries, $s$ = `init_scale`),
      `"aligned"` ($W_1 = s V_H^\top$, $W_2 = s V_H$: balanced, aligned with the top $H$
      eigenvectors, every mode at $u_0 = s^2$, so `jaxdae.exact.mode_strength` is its theory;
      needs $H \le D$) or a pair `(W1, W2)` of shapes `(H, D)`, `(D, H)` (`init_scale` unused).
    - `init_scale`: $s > 0$, default `1e-3`.
    - `activation`: `"linear"`, `"relu"` or `"tanh"` (no biases).
    - `noise`: `"gaussian"`, `"expected"` (linear nets) or `"none"`.
    - `batch_size`: `None` for the full batch, or $1 \le B \le N$: minibatches of $B$ rows,
      reshuffled every epoch of $\lfloor N/B \rfloor$ updates (the last $N \bmod B$ rows of
      each permutation are skipped).
    - `record_every`: record every this many updates (default `max(1, steps // 100)`); the
      times are $0, r, 2r, \dots$ below `steps`, and `steps`.
    - `record_weights`: also return $(W_1, W_2)$ at the recorded times.
    - `engine`: `"auto"` (moments for a linear net on the full batch, data otherwise),
      `"moments"` or `"data"`.

    **Returns:** a `jaxdae.Trajectory` with `t` `(T,)` in updates, `mode_strength` `(T, D)`,
    `loss` `(T,)` (the loss the optimiser sees at that time: that step's noise draw and batch,
    decay included; at the last time, the draw of the next step), `weight_norm` `(T,)`
    $\sqrt{\|W_1\|^2+\|W_2\|^2}$, `weights` (if asked) and `result` `()`: 0, or 1 when the run
    diverged (non-finite weights or loss, e.g. a learning rate beyond the stability limit).

    **Raises:** `ValueError` naming the argument and the bad value (X not 2-D or not
    finite, `hidden`/`steps`/`batch_size`/`record_every` not positive integers, `batch_size` > N,
    negative `noise_var` or `weight_decay`, `lr` or `init_scale` not positive, an unknown
    `activation`, `noise`, `init` or `engine`, `noise="expected"` with a nonlinear net, an
    `optimizer` that is not an optax transformation or factory, a malformed `key`).

    ```python
    >>> import jax, jaxdae.train
    >>> X = jaxdae.data.digits()
    >>> tr = jaxdae.train.fit(X, hidden=16, steps=2000, noise_var=0.1, lr=0.05,
    ...                       key=jax.random.key(0))
    >>> tr.mode_strength.shape          # (T, D): 101 records of 64 modes
    (101, 64)

    ```
    """
    cfg, consts, base, dtype = _setup(
        X, hidden, steps, activation, noise, engine, batch_size, record_every, optimizer, lr is not None, init,
        record_weights,
    )
    key = _check_key(key)
    values = {"noise_var": noise_var, "weight_decay": weight_decay, "lr": _DEFAULT_LR if lr is None else lr,
              "init_scale": init_scale}
    hyper = {}
    for name, v in values.items():
        if np.ndim(v) != 0:
            raise ValueError(
                f"{name} must be a scalar in fit (use fit_grid for several values), got shape {np.shape(v)}"
            )
        hyper[name] = jnp.reshape(jnp.asarray(_check_value(name, v), dtype), (1,))
    out = _run(cfg, consts, hyper, key[None], base)
    out = jax.tree.map(lambda a: a[0, 0], out)
    return _to_trajectory(cfg, out, dtype, ())


class GridResult(eqx.Module):
    r"""The trajectories of a `fit_grid` run with their grid axes labelled.

    **Fields:**

    - `trajectory`: a `jaxdae.Trajectory` whose leading axes are the grid's, in the order of
      `names`: `mode_strength` is `(*shape, T, D)`, `loss`, `weight_norm` and `t` `(*shape, T)`,
      `result` `shape`.
    - `names`: the grid's parameter names, one per leading axis.
    - `values`: the grid's values, one tuple per name.

    `result.sel(noise_var=0.1, seed=3)` picks runs by value (to 1e-6 relative), dropping those axes.
    """

    trajectory: Trajectory
    names: tuple = eqx.field(static=True)
    values: tuple = eqx.field(static=True)

    @property
    def shape(self) -> tuple:
        """The grid's shape, one entry per name."""
        return tuple(len(v) for v in self.values)

    @property
    def coords(self) -> dict:
        """`{name: np.ndarray of values}` in axis order."""
        return {n: np.asarray(v) for n, v in zip(self.names, self.values)}

    def sel(self, **picks) -> "GridResult | Trajectory":
        """Index the grid by parameter values; returns a `Trajectory` once every axis is picked."""
        index = []
        names, values = [], []
        for name, vals in zip(self.names, self.values):
            if name not in picks:
                index.append(slice(None))
                names.append(name)
                values.append(vals)
                continue
            hits = [i for i, v in enumerate(vals) if np.isclose(v, picks[name], rtol=1e-6, atol=0)]
            if not hits:
                raise ValueError(f"{name}={picks[name]!r} is not on the grid; its values are {list(vals)}")
            index.append(hits[0])
        unknown = set(picks) - set(self.names)
        if unknown:
            raise ValueError(f"unknown grid axis {sorted(unknown)}; the axes are {list(self.names)}")
        traj = jax.tree.map(lambda a: a[tuple(index)], self.trajectory)
        return traj if not names else GridResult(traj, tuple(names), tuple(values))


def fit_grid(
    X,
    grid: dict,
    *,
    hidden: int,
    steps: int,
    key,
    noise_var=0.0,
    weight_decay=0.0,
    lr=None,
    optimizer=None,
    init="random",
    init_scale=1e-3,
    activation: str = "linear",
    noise: str = "gaussian",
    batch_size: Optional[int] = None,
    record_every: Optional[int] = None,
    record_weights: bool = False,
    engine: str = "auto",
) -> GridResult:
    r"""Train every point of a Cartesian grid of hyper-parameters as one compiled program.

    `grid` maps names from `GRID_NAMES` (`"noise_var"`, `"weight_decay"`, `"lr"`,
    `"init_scale"`, `"seed"`) to non-empty 1-D sequences of values; the result has one leading
    axis per name, in the dict's order. The other arguments are those of `fit` and fixed for
    every run (a name may not be both in `grid` and given as a keyword).

    All grid values are traced: the program is compiled once per configuration and set of grid
    sizes, and a second call with other values of the same sizes reuses it. Runs that share a
    seed share their initial weights, noise pattern and batch order (common random numbers,
    see the module docstring), which are drawn once per seed; the run with seed $s$ equals
    `fit(..., key=jax.random.fold_in(key, s))` bit for bit. Without a `"seed"` axis every run
    uses `key` itself. Seeds are integers in $[0, 2^{32})$.

    With `optimizer` a ready-made `optax.GradientTransformation`, `"lr"` cannot be swept; with
    `init=(W1, W2)`, `"init_scale"` cannot.

    **Returns:** a `GridResult` (the stacked `Trajectory`, the axis names and values).

    **Raises:** the errors of `fit`, and `ValueError` for an unknown grid name, an empty or
    non-1-D value list, a bad value (named as `grid['noise_var']`), or a name given twice.

    ```python
    >>> import jax, jaxdae.train
    >>> X = jaxdae.data.digits()
    >>> res = jaxdae.train.fit_grid(X, {"noise_var": [0.0, 0.1, 0.2], "seed": range(4)},
    ...                             hidden=16, steps=2000, lr=0.05, key=jax.random.key(0))
    >>> res.trajectory.mode_strength.shape   # (noise, seed, T, D)
    (3, 4, 101, 64)

    ```
    """
    if not isinstance(grid, dict) or not grid:
        raise ValueError(f"grid must be a non-empty dict {{name: values}} with names from {GRID_NAMES}, got {grid!r}")
    unknown = [n for n in grid if n not in GRID_NAMES]
    if unknown:
        raise ValueError(f"unknown grid name(s) {unknown}; allowed: {list(GRID_NAMES)}")
    defaults = {"noise_var": 0.0, "weight_decay": 0.0, "lr": None, "init_scale": 1e-3}
    given = {"noise_var": noise_var, "weight_decay": weight_decay, "lr": lr, "init_scale": init_scale}
    for name in grid:
        if name in given and not _same(given[name], defaults[name]):
            raise ValueError(f"{name} is given both in grid and as a keyword argument ({given[name]!r})")
    lr_swept = "lr" in grid
    cfg, consts, base, dtype = _setup(
        X, hidden, steps, activation, noise, engine, batch_size, record_every, optimizer,
        lr is not None or lr_swept, init, record_weights,
    )
    if cfg.init == "explicit" and "init_scale" in grid:
        raise ValueError("init_scale cannot be swept with an explicit init=(W1, W2)")
    key = _check_key(key)

    names = tuple(grid)
    values = []
    for name in names:
        vals = np.asarray(list(grid[name]) if not isinstance(grid[name], (np.ndarray, jax.Array)) else grid[name])
        if vals.ndim != 1 or vals.size == 0:
            raise ValueError(f"grid['{name}'] must be a non-empty 1-D sequence, got shape {vals.shape}")
        if name == "seed":
            if not (np.issubdtype(vals.dtype, np.integer) or np.all(np.mod(vals, 1) == 0)) or np.any(vals < 0) \
                    or np.any(vals >= 2**32):
                raise ValueError(f"grid['seed'] must hold integers in [0, 2**32), got {vals.tolist()!r}")
            vals = vals.astype(np.int64)
        else:
            _check_value(name, vals, f"grid['{name}']")
        values.append(vals)

    others = [n for n in names if n != "seed"]
    other_vals = [values[names.index(n)] for n in others]
    mesh = np.meshgrid(*other_vals, indexing="ij") if others else []
    p_shape = tuple(len(v) for v in other_vals)
    p = int(np.prod(p_shape)) if others else 1
    fixed = {"noise_var": noise_var, "weight_decay": weight_decay, "lr": _DEFAULT_LR if lr is None else lr,
             "init_scale": init_scale}
    hyper = {}
    for name, v in fixed.items():
        if name in others:
            arr = mesh[others.index(name)].reshape(-1)
        else:
            if np.ndim(v) != 0:
                raise ValueError(f"{name} must be a scalar (sweep it through grid), got shape {np.shape(v)}")
            arr = np.full((p,), np.asarray(_check_value(name, v)))
        hyper[name] = jnp.asarray(arr, dtype)
    if "seed" in names:
        seeds = values[names.index("seed")]
        seed_keys = jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.asarray(seeds, jnp.uint32))
    else:
        seed_keys = key[None]
    s = seed_keys.shape[0]

    out = _run(cfg, consts, hyper, seed_keys, base)

    # (S, P, ...) -> (S, *others, ...) -> grid order.
    order = names
    inner = ["seed"] + others if "seed" in names else others

    def arrange(a):
        a = a.reshape((s,) + p_shape + a.shape[2:]) if "seed" in names else a.reshape(p_shape + a.shape[2:])
        perm = [inner.index(n) for n in order]
        return jnp.transpose(a, perm + list(range(len(inner), a.ndim)))

    out = jax.tree.map(arrange, out)
    shape = tuple(len(v) for v in values)
    traj = _to_trajectory(cfg, out, dtype, shape)
    py_values = tuple(tuple(v.tolist()) for v in values)
    return GridResult(traj, names, py_values)


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    try:
        return bool(np.all(np.asarray(a) == np.asarray(b)))
    except Exception:  # noqa: BLE001
        return False
