r"""Hyper-parameters chosen by the theory: the noise level that generalises best, by autodiff.

A linear DAE trained on $X_{train}$ for $T$ full-batch steps on the noise-averaged loss ends at
$W(T) = W_2(T)W_1(T)$; its **held-out reconstruction error** on clean held-out data
$X_{held}$ `(M, D)` is

$$E_{held} = \frac{1}{2M}\sum_i \lVert x_i - W x_i\rVert^2
 = \tfrac12\operatorname{tr}\big((I-W)\,C_{held}\,(I-W)^\top\big),\qquad C_{held} = X_{held}^\top X_{held}/M .$$

From the balanced aligned start ($W_1 = \sqrt{u_0}\,V_H^\top$, $W_2 = \sqrt{u_0}\,V_H$ in the
eigenbasis $V$ of the training moment) the net stays $W = V_H\operatorname{diag}(u)V_H^\top$ with
$u_k(T)$ the exact discrete map of mode $k$ (`jaxdae.exact.mode_strength_discrete`), so

$$E_{held} = \tfrac12\sum_{k<H} c_k(1-u_k(T))^2 + \tfrac12\sum_{k\ge H} c_k,\qquad c_k = v_k^\top C_{held} v_k,$$

exactly, at $O(HT)$ cost. From any other start it is evaluated through `jaxdae.train.fit`
(`noise="expected"`) and the final weights. `noise_level` minimises it over $\sigma^2$ with
`minimise`: a vmapped grid, then derivative bisection in the best bracket with forward-mode
derivatives through the solution.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

from . import _checks, exact, hessian, initialise, loss, train
from .spectrum import Spectrum, check_data

__all__ = ["minimise", "heldout_loss", "noise_level", "hyperparameters"]


# --------------------------------------------------------------------------- one-dimensional search


def _to_x(y, log):
    return jnp.exp(y) if log else y


def _better(f_new, y_new, f_best, y_best):
    take = jnp.isfinite(f_new) & (f_new < f_best)
    return jnp.where(take, f_new, f_best), jnp.where(take, y_new, y_best)


def _bracket_of_best(slope, grid_y, i):
    """`(ya, yb, ga, gb, ok, (f_i, f_j, y_j))`: the neighbour cell of grid point `i` where the slope changes sign."""
    n = grid_y.shape[0]
    f_i, g_i = slope(grid_y[i])
    j = jnp.where(g_i < 0, jnp.minimum(i + 1, n - 1), jnp.maximum(i - 1, 0))
    f_j, g_j = slope(grid_y[j])
    up = j > i
    ya, yb = jnp.where(up, grid_y[i], grid_y[j]), jnp.where(up, grid_y[j], grid_y[i])
    ga, gb = jnp.where(up, g_i, g_j), jnp.where(up, g_j, g_i)
    ok = (j != i) & jnp.isfinite(g_i) & (g_i != 0) & (ga < 0) & ((gb > 0) | ~jnp.isfinite(gb))
    return ya, yb, ga, jnp.where(jnp.isfinite(gb), gb, jnp.abs(ga)), ok, (f_i, f_j, grid_y[j])


def _refine(slope, ya, yb, ga, gb, ok, best, iters):
    """Secant steps on the slope kept in the middle 90 % of the bracket, bisection otherwise."""

    def body(state):
        k, ya, yb, ga, gb, f_best, y_best, _ = state
        width = yb - ya
        yc = (ya * gb - yb * ga) / (gb - ga)
        yc = jnp.where((yc > ya + 0.05 * width) & (yc < yb - 0.05 * width), yc, 0.5 * (ya + yb))
        fc, gc = slope(yc)
        f_best, y_best = _better(fc, yc, f_best, y_best)
        right = ~jnp.isfinite(gc) | (gc > 0)  # a non-finite slope lies past the optimum (divergence)
        left = jnp.isfinite(gc) & (gc < 0)
        yb, gb = jnp.where(right, yc, yb), jnp.where(right & jnp.isfinite(gc), gc, gb)
        ya, ga = jnp.where(left, yc, ya), jnp.where(left, gc, ga)
        done = (gc == 0) | (width <= 1e-12 * jnp.maximum(1.0, jnp.abs(yc)))
        return k + 1, ya, yb, ga, gb, f_best, y_best, done

    state = (jnp.zeros((), jnp.int32), ya, yb, ga, gb, *best, ~ok)
    state = jax.lax.while_loop(lambda s: (s[0] < iters) & ~s[-1], body, state)
    return state[5], state[6]


@eqx.filter_jit
def _search(f, lo, hi, args, num, log, iters):
    """Grid, bracket and refinement as one compiled program per `f`, `num`, `log` and the shapes of `args`."""
    g = lambda y: f(_to_x(y, log), *args)  # noqa: E731
    slope = lambda y: jax.jvp(g, (y,), (jnp.ones_like(y),))  # noqa: E731
    ends = (jnp.log(lo), jnp.log(hi)) if log else (lo, hi)
    grid_y = jnp.linspace(*ends, num).at[0].set(ends[0]).at[-1].set(ends[1])
    values = jax.vmap(g)(grid_y)
    values = jnp.where(jnp.isfinite(values), values, jnp.inf)
    i = jnp.argmin(values)
    ya, yb, ga, gb, ok, (f_i, f_j, y_j) = _bracket_of_best(slope, grid_y, i)
    best = _better(f_i, grid_y[i], values[i], grid_y[i])
    best = _better(f_j, y_j, *best)
    f_best, y_best = _refine(slope, ya, yb, ga, gb, ok, best, iters)
    return jnp.clip(_to_x(y_best, log), lo, hi), f_best, jnp.isfinite(values[i])


def _as_args(args):
    """Numbers and NumPy arrays in `args` as JAX arrays: traced, so new values do not recompile."""
    def leaf(a):
        return jnp.asarray(a) if isinstance(a, (float, int, np.ndarray, np.generic)) and not isinstance(a, bool) else a

    return jax.tree.map(leaf, tuple(args))


def minimise(f, lo, hi, *, args=(), num: int = 256, log: bool = True, iters: int = 40):
    r"""The minimiser of a scalar function `f(x, *args)` on $[lo, hi]$, robust to a non-convex objective.

    **How.** (1) `f` on a grid of `num` points (geometric if `log`, else uniform) as **one**
    vectorised evaluation (`jax.vmap`), non-finite values counting as $+\infty$; (2) in the bracket of
    the grid's best point $x_i$ (its neighbours $x_{i\pm1}$, where $f \ge f(x_i)$), the side where
    the derivative changes sign is refined by secant steps on $f'$ safeguarded by bisection, in
    $y = \log x$ if `log`; $f'$ comes from `jax.jvp` through `f` (forward mode: for a solver's
    `lax.scan` its memory does not grow with the number of steps); (3) the best point evaluated
    is returned, so the answer is never worse than the grid's best and never outside
    $[lo, hi]$. A minimum at an end of the range (the derivative keeps its sign there) is that end.

    **Compilation.** All three stages are one program (`equinox.filter_jit`), compiled once per
    `f`, `num`, `log` and the shapes and dtypes of `args`: pass a module-level function, or a
    `jax.tree_util.Partial` of one with static settings (integers, strings) as keywords (compared
    by value; a `functools.partial` is compared by identity), and the data as `args` (numbers and
    arrays, traced), and a second call with new values, `lo` or `hi` reuses the compiled program.
    A new `lambda` per call is a new program.

    **Cost.** `num` evaluations of `f` in one vectorised call (memory: `num` copies of its
    working state), then at most `iters + 2` evaluations of `f` with its derivative (about
    twice `f` each, sequential, inside the same program).

    **Arguments:**

    - `f`: `f(x, *args)` of a 0-d `x`, returning a 0-d real array, traceable by `jax.vmap` and
      `jax.jvp`; hashable (it is a static argument of the compiled search).
    - `lo`, `hi`: the range, `0 < lo < hi` for `log=True`, `lo < hi` otherwise.
    - `args`: a tuple of pytrees of arrays (the data of `f`; numbers become arrays).
    - `num`: grid points, `>= 3`; `log`: geometric grid and refinement in $\log x$;
      `iters`: refinement steps, `>= 1`.

    **Returns:** `(x, f(x))`, two 0-d arrays in the dtype of `lo` and `hi`.

    **Raises:** `ValueError` for a bad range or settings, or when `f` is not finite anywhere on
    the grid.

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxdae import tune
    >>> def f(x, centre):
    ...     return (jnp.log(x) - centre) ** 2
    >>> x, fx = tune.minimise(f, 0.1, 100.0, args=(1.0,))
    >>> round(float(x), 6), round(float(fx), 12)
    (2.718282, 0.0)

    ```
    """
    num, iters = _checks.integer("num", num, low=3), _checks.integer("iters", iters)
    lo, hi = _checks.as_float(_checks.finite("lo", lo), _checks.finite("hi", hi))
    if not float(lo) < float(hi) or (log and not float(lo) > 0):
        raise ValueError(f"lo and hi must satisfy {'0 < ' if log else ''}lo < hi, got lo={float(lo)!r}, hi={float(hi)!r}")
    x, fx, finite = _search(f, lo, hi, _as_args(args), num, bool(log), jnp.asarray(iters, jnp.int32))
    if not bool(finite):
        raise ValueError(f"f is not finite anywhere on the grid of {num} points in [{float(lo)!r}, {float(hi)!r}]")
    return x.astype(lo.dtype), jnp.asarray(fx, lo.dtype)


# --------------------------------------------------------------------------- held-out error


def _heldout_data(X_train, X_heldout):
    X_train, X_heldout = check_data(X_train), check_data(X_heldout)
    if X_heldout.shape[1] != X_train.shape[1]:
        raise ValueError(
            f"X_heldout must have the dimension of X_train, D = {X_train.shape[1]}, got shape {X_heldout.shape}"
        )
    return X_train, X_heldout


def _aligned_heldout(noise_var, weight_decay, lr, lam, c, u0, heldout_noise_var, *, hidden, steps):
    r"""$\tfrac12\sum_k [c_k(1-u_k)^2 + \sigma_h^2u_k^2]$, $c_k = v_k^\top C_{held}v_k$, $u_k = 0$ for $k \ge H$."""
    u = exact.mode_strength_discrete(steps, lam[:hidden], u0=u0, noise_var=noise_var, weight_decay=weight_decay,
                                     lr=lr, steps=steps)
    per_mode = c[:hidden] * (1 - u) ** 2 + heldout_noise_var * u * u
    return 0.5 * jnp.sum(per_mode) + 0.5 * jnp.sum(c[hidden:])


def _trained_heldout(noise_var, weight_decay, lr, data, held, init, key, heldout_noise_var, *, hidden, steps):
    run = train.fit(data, hidden=hidden, steps=steps, noise_var=noise_var, weight_decay=weight_decay, lr=lr,
                    key=key, init=init, noise="expected", record_every=steps, record_weights=True)
    w1, w2 = (w[-1] for w in run.weights)
    return loss.expected_loss(held.lam, *held.rotate(w1, w2), heldout_noise_var)


def _start(init, data, hidden):
    """A traceable start: a strategy, or a pair of arrays in the data's dtype."""
    if isinstance(init, str):
        return initialise.as_strategy(init)
    if isinstance(init, (tuple, list)) and len(init) == 2:
        w1, w2 = (jnp.asarray(w, data.dtype) for w in init)
        if w1.shape != (hidden, data.dim) or w2.shape != (data.dim, hidden):
            raise ValueError(f"init=(W1, W2) must have shapes {(hidden, data.dim)} and {(data.dim, hidden)}, "
                             f"got {w1.shape} and {w2.shape}")
        return w1, w2
    return init


def _problem(X_train, X_heldout, hidden, steps, init, u0, key, heldout_noise_var):
    """`(kernel, args, lam)`: the held-out error as `kernel(noise_var, weight_decay, lr, *args)`."""
    X_train, X_heldout = _heldout_data(X_train, X_heldout)
    hidden, steps = _checks.integer("hidden", hidden), _checks.integer("steps", steps)
    heldout_noise_var = jnp.asarray(_checks.nonnegative("heldout_noise_var", heldout_noise_var))
    if isinstance(init, initialise.Aligned) or (isinstance(init, str) and init == "aligned"):
        with jax.ensure_compile_time_eval():  # host-side, concrete even under a caller's jit or vmap
            spectrum = Spectrum.from_data(X_train)
        if hidden > spectrum.dim:
            raise ValueError(f"hidden must be <= the data dimension {spectrum.dim} for an aligned start, got {hidden}")
        xh = np.asarray(X_heldout, np.float64) @ np.asarray(spectrum.vecs, np.float64)
        c = jnp.asarray(np.mean(xh * xh, axis=0), spectrum.lam.dtype)
        u0 = init.u0 if isinstance(init, initialise.Aligned) else _checks.nonnegative("u0", u0)
        args = (spectrum.lam, c, jnp.asarray(u0, c.dtype), heldout_noise_var.astype(c.dtype))
        return Partial(_aligned_heldout, hidden=hidden, steps=steps), args, spectrum.lam
    key = jax.random.key(0) if key is None else _checks.prng_key("key", key)
    with jax.ensure_compile_time_eval():
        data, held = train.Data.from_array(X_train), Spectrum.from_data(X_heldout.astype(X_train.dtype))
    args = (data, held, _start(init, data, hidden), key, heldout_noise_var.astype(data.dtype))
    return Partial(_trained_heldout, hidden=hidden, steps=steps), args, data.spectrum.lam


@eqx.filter_jit
def _evaluate(kernel, hyper, args):
    """`kernel` elementwise over the broadcast `(noise_var, weight_decay, lr)`, one program per kernel and shapes."""
    return jnp.vectorize(lambda *h: kernel(*h, *args))(*hyper)


def _along(x, hyper, *args, kernel, which):
    """`kernel` with hyper-parameter number `which` (0 noise_var, 1 weight_decay, 2 lr) set to `x`."""
    hyper = tuple(x if k == which else h for k, h in enumerate(hyper))
    return kernel(*hyper, *args)


def heldout_loss(X_train, X_heldout, *, hidden: int, steps: int, noise_var=0.0, weight_decay=0.0, lr=1e-2,
                 init="aligned", u0=1e-6, key=None, heldout_noise_var=0.0):
    r"""Reconstruction error on held-out data after training on `X_train` for `steps` steps.

    $E_{held} = \frac{1}{2M}\sum_i\mathbb E\lVert x_i - W(T)(x_i + n_i)\rVert^2
    = \tfrac12\operatorname{tr}((I-W)C_{held}(I-W)^\top) + \tfrac{\sigma_h^2}{2}\lVert W\rVert_F^2$
    over the rows of `X_heldout`, with held-out input noise $n_i \sim \mathcal N(0, \sigma_h^2 I)$
    ($\sigma_h^2$ = `heldout_noise_var`, default 0: clean reconstruction) and $W(T)$ after $T$
    full-batch gradient steps on the noise-averaged loss of `X_train` (module docstring).
    Aligned start: exact, through the spectrum of `X_train` and the held-out second moment,
    $O(HT + MD^2)$, elementwise over `noise_var`, `weight_decay`, `lr` (which broadcast
    together). Other starts: one `jaxdae.train.fit(noise="expected")` run per point.
    Differentiable in `noise_var`, `weight_decay` and `lr`; one compiled program per start kind,
    `hidden`, `steps` and shapes (new values do not recompile).

    **Arguments:** `X_train` `(N, D)`, `X_heldout` `(M, D)`; `hidden` $H \ge 1$ ($\le D$ for the
    aligned start); `steps` $T \ge 1$; `noise_var`, `weight_decay` $\ge 0$; `lr` $> 0$;
    `init`: `"aligned"` (with `u0`), `"random"`, a `jaxdae.initialise` strategy or a pair
    `(W1, W2)`; `key`: the key of a random start (default `jax.random.key(0)`);
    `heldout_noise_var` $\sigma_h^2 \ge 0$ (scalar).

    **Returns:** $E_{held}$ with the broadcast shape of `noise_var`, `weight_decay`, `lr`.

    **Raises:** `ValueError` for bad arguments, named (a held-out set of another dimension, ...).

    ```python
    >>> import numpy as np
    >>> from jaxdae import tune
    >>> X = np.eye(3) * np.sqrt(3.0)            # C = I
    >>> round(float(tune.heldout_loss(X, X, hidden=3, steps=2000, lr=0.1)), 8)   # W -> I
    0.0

    ```
    """
    kernel, args, lam = _problem(X_train, X_heldout, hidden, steps, init, u0, key, heldout_noise_var)
    _checks.broadcast_shapes(noise_var=noise_var, weight_decay=weight_decay, lr=lr)
    noise_var = _checks.nonnegative("noise_var", noise_var)
    weight_decay = _checks.nonnegative("weight_decay", weight_decay)
    lr = _checks.positive("lr", lr)
    return _evaluate(kernel, tuple(jnp.asarray(x, lam.dtype) for x in (noise_var, weight_decay, lr)), args)


def _scalars(dtype, **values):
    out = []
    for name, v in values.items():
        if np.ndim(v) != 0:
            raise ValueError(f"{name} must be a scalar, got shape {np.shape(v)}")
        check = _checks.positive if name == "lr" else _checks.nonnegative
        out.append(jnp.asarray(check(name, v), dtype))
    return tuple(out)


def _default_bounds(lam, name):
    lam = np.asarray(lam, np.float64)
    if not lam[0] > 0:
        raise ValueError("X_train must not be all zeros (its second moment has no positive eigenvalue)")
    return {"noise_var": (1e-4 * float(np.mean(lam)), 10 * float(lam[0])),
            "weight_decay": (1e-4 * float(np.mean(lam)), 0.5 * float(lam[0])), "lr": (1e-3, 1.0)}[name]


def noise_level(X_train, X_heldout, *, hidden: int, steps: int, lr=1e-2, weight_decay=0.0, init="aligned",
                u0=1e-6, key=None, heldout_noise_var=0.0, bounds=None, num: int = 256):
    r"""The noise variance $\sigma^2$ whose DAE, trained `steps` steps on `X_train`, reconstructs
    `X_heldout` best: $\arg\min_{\sigma^2 \ge 0} E_{held}(\sigma^2)$ (`heldout_loss`).

    **How:** `minimise` in $\log\sigma^2$ over `bounds` (default
    $[10^{-4}\bar\lambda, 10\,\lambda_1]$, $\bar\lambda = \operatorname{tr}C/D$ of the training
    data), `num` values as one vectorised evaluation, then secant/bisection on
    $\partial E_{held}/\partial\log\sigma^2$ by forward-mode autodiff through the solution; and
    $\sigma^2 = 0$ (a plain autoencoder), returned when it is at least as good. **Cost:** `num` +
    at most 43 evaluations of `heldout_loss`, one compiled program per start kind, `hidden`,
    `steps` and shapes.

    **Arguments:** as `heldout_loss` (`lr`, `weight_decay` scalars), and `bounds`: `(lo, hi)`,
    `0 < lo < hi`; `num` `>= 3`.

    **Returns:** `(noise_var, heldout)`: the best $\sigma^2$ and its $E_{held}$, 0-d arrays.

    **Raises:** `ValueError` for bad arguments (named).
    """
    kernel, args, lam = _problem(X_train, X_heldout, hidden, steps, init, u0, key, heldout_noise_var)
    weight_decay, lr = _scalars(lam.dtype, weight_decay=weight_decay, lr=lr)
    zero = jnp.zeros((), lam.dtype)
    bounds = _default_bounds(lam, "noise_var") if bounds is None else bounds
    f = Partial(_along, kernel=kernel, which=0)
    best, value = minimise(f, *bounds, args=((zero, weight_decay, lr), *args), num=num)
    at_zero = _evaluate(kernel, (zero, weight_decay, lr), args)
    if float(at_zero) <= float(value):
        return jnp.zeros_like(best), jnp.asarray(at_zero, value.dtype)
    return best, value


# --------------------------------------------------------------------------- several hyper-parameters jointly

_TUNABLE = ("noise_var", "weight_decay", "lr")


def _stability_limit(lam, hidden, noise_var, weight_decay):
    """$2/\\lambda_{max}$ of the Hessian at the balanced aligned minimum (as `jaxdae.lr`'s "stability")."""
    lam_h = lam[:hidden]
    ustar = jnp.where(lam_h > weight_decay, (lam_h - weight_decay) / (lam_h + noise_var), 0)
    return 2 / hessian.aligned_max_eigenvalue(lam, ustar, noise_var=noise_var, weight_decay=weight_decay)


def _point(values, lam, hidden, fraction):
    """`(noise_var, weight_decay, lr)` from `values`; with `fraction`, lr is a fraction of the stability limit."""
    noise_var, weight_decay, lr = values
    if fraction:
        lr = lr * _stability_limit(lam, hidden, noise_var, weight_decay)
    return noise_var, weight_decay, lr


def _joint(y, base, tuned, kernel, lam, hidden, fraction, args):
    """The held-out error at log-coordinates `y` of the hyper-parameters `tuned` (indices), `base` elsewhere."""
    values = tuple(jnp.exp(y[tuned.index(k)]) if k in tuned else base[k] for k in range(3))
    return kernel(*_point(values, lam, hidden, fraction), *args)


@eqx.filter_jit
def _joint_grid(points, kernel, lam, hidden, fraction, args):
    return jax.vmap(lambda p: kernel(*_point(tuple(p), lam, hidden, fraction), *args))(points)


@eqx.filter_jit
def _joint_newton(y, base, tuned, kernel, lam, hidden, fraction, args):
    """Value, gradient and Hessian in `y`, forward mode (memory independent of `steps`)."""
    f = lambda y: _joint(y, base, tuned, kernel, lam, hidden, fraction, args)  # noqa: E731
    return f(y), jax.jacfwd(f)(y), jax.jacfwd(jax.jacfwd(f))(y)


def _descent(parts, y, lo, hi, iters):
    """Projected Newton with backtracking in the box `[lo, hi]`, steepest descent where Newton fails."""
    f, g, h = (np.asarray(v, np.float64) for v in parts(y))
    for _ in range(iters):
        free = ~(((y <= lo) & (g > 0)) | ((y >= hi) & (g < 0)))
        if not (np.all(np.isfinite(g)) and np.any(free)):
            break
        steps = []
        hf = h[np.ix_(free, free)]
        if np.all(np.isfinite(hf)) and np.all(np.linalg.eigvalsh(hf) > 0):
            steps.append(np.zeros_like(y))
            steps[-1][free] = -np.linalg.solve(hf, g[free])
        steps.append(np.where(free, -g, 0.0) * np.max(hi - lo) / (2 * np.max(np.abs(g[free]))))
        moved = False
        for d in steps:
            t = 1.0
            for _ in range(30):
                y_new = np.clip(y + t * d, lo, hi)
                f_new, g_new, h_new = (np.asarray(v, np.float64) for v in parts(y_new))
                if np.isfinite(f_new) and f_new < f:
                    moved = True
                    break
                t /= 2
            if moved:
                break
        if not moved or np.max(np.abs(y_new - y)) <= 1e-12 * max(1.0, np.max(np.abs(y))):
            y, f = (y_new, f_new) if moved else (y, f)
            break
        y, f, g, h = y_new, f_new, g_new, h_new
    return y, f


def _joint_axes(over, base, bounds, num, lam):
    """Per hyper-parameter the grid values: 0 and a geometric range (noise_var, weight_decay), the
    geometric fractions of the stability limit (lr), or the fixed value."""
    axes = []
    for k, name in enumerate(_TUNABLE):
        if name not in over:
            axes.append(np.array([float(base[k])]))
            continue
        lo, hi = (float(v) for v in (bounds.get(name) or _default_bounds(lam, name)))
        if not (0 < lo < hi) or (name == "lr" and hi > 1) or (name == "weight_decay" and not hi < float(lam[0])):
            rule = {"lr": "0 < lo < hi <= 1 (fractions of the stability limit)",
                    "weight_decay": f"0 < lo < hi < the top eigenvalue {float(lam[0])!r}"}.get(name, "0 < lo < hi")
            raise ValueError(f"bounds[{name!r}] must satisfy {rule}, got {(lo, hi)!r}")
        grid = np.geomspace(lo, hi, num if name == "lr" else num - 1)
        axes.append(grid if name == "lr" else np.concatenate([[0.0], grid]))
    return axes


def _cell(axis, value):
    """The log-range of the grid cells next to `value` (a positive point of `axis`)."""
    i = int(np.argmin(np.abs(axis - value)))
    first = 1 if axis[0] == 0 else 0
    return np.log(axis[max(i - 1, first)]), np.log(axis[min(i + 1, axis.size - 1)])


def hyperparameters(X_train, X_heldout, *, hidden: int, steps: int, over=("noise_var", "lr"), noise_var=0.0,
                    weight_decay=0.0, lr=1e-2, init="aligned", u0=1e-6, key=None, heldout_noise_var=0.0,
                    bounds=None, num=None, iters: int = 30):
    r"""Several hyper-parameters at once: $\arg\min E_{held}$ over those named in `over`.

    Minimises `heldout_loss` jointly over a subset of $(\sigma^2, \gamma, \alpha)$ = (`noise_var`,
    `weight_decay`, `lr`), the others held at their given values. The rate is searched as a
    fraction $\rho \in (0, 1]$ of the network's stability limit $\alpha_{stab}(\sigma^2, \gamma)$
    (`jaxdae.lr`'s `"stability"`, exactly from `jaxdae.hessian.aligned_max_eigenvalue`), so it is
    never above that limit, wherever $\sigma^2$ and $\gamma$ go.

    **How:** (1) the Cartesian grid, as one vectorised evaluation: per tuned axis `num` values,
    geometric over `bounds` (defaults: $\sigma^2 \in [10^{-4}\bar\lambda, 10\lambda_1]$,
    $\gamma \in [10^{-4}\bar\lambda, \lambda_1/2]$, $\rho \in [10^{-3}, 1]$), with 0 (off) added
    for $\sigma^2$ and $\gamma$; (2) from the grid's best point, projected Newton steps in the log
    of the tuned values that are not 0 there, inside their neighbouring grid cells, with
    backtracking and a steepest-descent fallback; value, gradient and Hessian by forward-mode
    autodiff through the solution (`jax.jacfwd`); (3) the best point evaluated. **Cost:** the
    grid ($\text{num}^k$ evaluations of `heldout_loss` for $k$ tuned values), then at most
    `iters` Newton steps, each $(k+1)(k+2)/2$ forward passes or so, times its line search. One
    compiled program each for the grid and the step per start kind, `hidden`, `steps`, `over`.

    **Arguments:** as `heldout_loss` (`noise_var`, `weight_decay`, `lr` scalars: the values of
    those not tuned), and `over`: a non-empty subset of `("noise_var", "weight_decay", "lr")`;
    `bounds`: a dict from those names to `(lo, hi)`, `0 < lo < hi` (for `"lr"` fractions of
    the stability limit, `hi <= 1`; for `"weight_decay"` `hi` below $\lambda_1$); `num`: grid
    values per tuned axis (default 128, 32, 12 for one, two, three), `>= 3`; `iters` $\ge 1$.

    **Returns:** `(best, heldout)`: a dict of the three hyper-parameters (0-d arrays, the tuned
    ones at their optimum) and $E_{held}$ there.

    **Raises:** `ValueError` for bad arguments (named).

    ```python
    >>> import numpy as np
    >>> from jaxdae import tune
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 4)) * [1.0, 0.8, 0.5, 0.3]
    >>> best, err = tune.hyperparameters(X[:10], X[10:], hidden=2, steps=20, over=("lr",))
    >>> sorted(best), bool(err <= tune.heldout_loss(X[:10], X[10:], hidden=2, steps=20, lr=0.1))
    (['lr', 'noise_var', 'weight_decay'], True)

    ```
    """
    kernel, args, lam = _problem(X_train, X_heldout, hidden, steps, init, u0, key, heldout_noise_var)
    over = tuple(_checks.choice("over", name, _TUNABLE) for name in ((over,) if isinstance(over, str) else over))
    if not over or len(set(over)) != len(over):
        raise ValueError(f"over must name each of {_TUNABLE} at most once, and at least one, got {over!r}")
    base = _scalars(lam.dtype, noise_var=noise_var, weight_decay=weight_decay, lr=lr)
    num = _checks.integer("num", {1: 128, 2: 32, 3: 12}[len(over)] if num is None else num, low=3)
    hidden, fraction = int(hidden), "lr" in over
    axes = _joint_axes(over, base, bounds or {}, num, np.asarray(lam, np.float64))
    points = np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], -1)
    values = np.asarray(_joint_grid(jnp.asarray(points, lam.dtype), kernel, lam, hidden, fraction, args), np.float64)
    values = np.where(np.isfinite(values), values, np.inf)
    i = int(np.argmin(values))
    if not np.isfinite(values[i]):
        raise ValueError("the held-out error is not finite anywhere on the grid")
    best, err = points[i], values[i]
    tuned = tuple(k for k, name in enumerate(_TUNABLE) if name in over and best[k] > 0)
    if tuned:
        lo, hi = (np.array(v) for v in zip(*(_cell(axes[k], best[k]) for k in tuned)))
        base = tuple(jnp.asarray(v, lam.dtype) for v in best)
        parts = lambda y: _joint_newton(jnp.asarray(y, lam.dtype), base, tuned, kernel, lam, hidden,  # noqa: E731
                                        fraction, args)
        y, f = _descent(parts, np.log(best[list(tuned)]), lo, hi, _checks.integer("iters", iters))
        if np.isfinite(f) and f < err:
            best, err = best.copy(), f
            best[list(tuned)] = np.exp(y)
    point = _point(tuple(jnp.asarray(v, lam.dtype) for v in best), lam, hidden, fraction)
    return dict(zip(_TUNABLE, point)), jnp.asarray(err, lam.dtype)
