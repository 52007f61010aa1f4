"""Input validation shared by every public function.

Each check works in two regimes:

* **concrete values** (Python numbers, NumPy arrays, committed JAX arrays): the check runs
  on the host and raises `ValueError` naming the parameter, the rule and the first offending
  value (with its index for arrays);
* **traced values** (inside a user's `jit`, `vmap` or `grad`): the check is compiled into the
  program with `equinox.error_if`, which raises at run time with the same sentence (no value:
  it is not known when the program is built).

Values are never clipped silently.
"""

from __future__ import annotations

from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "is_traced",
    "as_float",
    "check",
    "nonnegative",
    "positive",
    "finite",
    "broadcast_shapes",
    "integer",
    "choice",
    "prng_key",
    "symmetric",
]


def is_traced(x) -> bool:
    """True when `x` is a JAX tracer (its value is unknown at Python level)."""
    return isinstance(x, jax.core.Tracer)


def as_float(*xs):
    """Convert the arguments to JAX arrays of one common inexact dtype.

    The dtype follows the inputs (JAX's promotion rules, Python numbers weakly typed), so
    float32 inputs give float32 results and float64 inputs float64 results.
    """
    dtype = jnp.result_type(*xs, float)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    return tuple(jnp.asarray(x, dtype=dtype) for x in xs)


def _describe(bad_values: np.ndarray, bad_index) -> str:
    value = bad_values
    if np.ndim(value) == 0:
        return f"{value.item()!r}"
    flat = np.flatnonzero(bad_index)[0]
    idx = np.unravel_index(flat, bad_index.shape)
    return f"{value[idx].item()!r} at index {tuple(int(i) for i in idx)}"


def check(name: str, x, ok: Callable, rule: str):
    """Validate `x` elementwise: `ok(x)` must hold everywhere (NaN always fails).

    **Arguments:**

    - `name`: the parameter's name as the user wrote it.
    - `x`: a number or an array, concrete or traced.
    - `ok`: elementwise predicate written with `jnp`/`np`-neutral operators.
    - `rule`: the requirement in words, e.g. `">= 0"`.

    **Returns:** `x` (for traced values, `x` carrying the run-time check, which must be used
    in place of the original for the check to run).

    **Raises:** `ValueError` with the message `"{name} must be {rule}, got {value}"`.
    """
    if is_traced(x):
        arr = jnp.asarray(x)
        bad = jnp.logical_not(ok(arr)) | jnp.isnan(arr)
        return eqx.error_if(x, bad, f"{name} must be {rule} (checked at run time, value not known when tracing)")
    arr = np.asarray(x)
    if arr.dtype == object:
        raise TypeError(f"{name} must be a number or a numeric array, got {x!r}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    with np.errstate(invalid="ignore"):
        bad = np.logical_not(ok(arr)) | np.isnan(arr)
    if np.any(bad):
        raise ValueError(f"{name} must be {rule}, got {_describe(arr, bad)}")
    return x


def nonnegative(name: str, x):
    """`x >= 0` elementwise and finite."""
    return check(name, x, lambda v: (v >= 0) & (v < np.inf), ">= 0 and finite")


def positive(name: str, x):
    """`x > 0` elementwise and finite."""
    return check(name, x, lambda v: (v > 0) & (v < np.inf), "> 0 and finite")


def finite(name: str, x):
    """Every entry of `x` finite."""
    return check(name, x, lambda v: (v > -np.inf) & (v < np.inf), "finite")


def broadcast_shapes(**arrays) -> tuple[int, ...]:
    """The common broadcast shape of named arrays, or a `ValueError` naming them all."""
    shapes = {k: tuple(np.shape(v)) for k, v in arrays.items()}
    try:
        return tuple(np.broadcast_shapes(*shapes.values()))
    except ValueError:
        listing = ", ".join(f"{k} {s}" for k, s in shapes.items())
        raise ValueError(f"the shapes of the arguments do not broadcast together: {listing}") from None


def integer(name: str, v, low: int = 1) -> int:
    """`v` as a Python `int` after checking it is a whole number `>= low` (not a bool).

    **Raises:** `ValueError` "`name` must be an integer >= `low`, got `v`".
    """
    ok = not isinstance(v, bool) and isinstance(v, (int, np.integer)) and v >= low
    if not ok and isinstance(v, (float, np.floating)) and float(v).is_integer() and v >= low:
        ok = True  # 1e3 and 1000.0 are whole numbers too
    if not ok:
        raise ValueError(f"{name} must be an integer >= {low}, got {v!r}")
    return int(v)


def choice(name: str, v, options):
    """`v` after checking it is one of `options` (strings).

    **Raises:** `ValueError` "`name` must be one of 'a', 'b', got `v`".
    """
    if not isinstance(v, str) or v not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {v!r}")
    return v


def prng_key(name: str, key):
    """`key` after checking it is one JAX PRNG key (new-style `jax.random.key` or legacy uint32 `(2,)`).

    Traced keys (under a user's `vmap` over seeds) pass with the same checks on their aval.

    **Raises:** `ValueError` naming `name`, the type, dtype and shape received.
    """
    if isinstance(key, (jax.Array, np.ndarray)) or is_traced(key):
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ():
            return key
        if key.dtype == np.uint32 and key.shape == (2,):
            return jnp.asarray(key)
    what = f"{type(key).__name__} of dtype {key.dtype} and shape {key.shape}" if hasattr(key, "dtype") else repr(key)
    raise ValueError(
        f"{name} must be a single JAX PRNG key (jax.random.key(seed) or jax.random.PRNGKey(seed)), got {what}"
    )


def symmetric(name: str, x, tol: float = 1e-5):
    """A square matrix `x` `(D, D)`, `D >= 1`, finite and symmetric to `tol` relative to its largest entry.

    The tolerance allows float32 rounding of $X^\\top X/N$ (about `1e-7`). Traced values are
    checked at run time (`equinox.error_if`).

    **Raises:** `ValueError` naming `name` for a non-square shape, a non-finite entry or
    `max |x - x^T| / max |x| > tol`.
    """
    shape = np.shape(x)
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 1:
        raise ValueError(f"{name} must be a square D x D matrix, got shape {shape}")
    x = finite(name, x)
    xp = jnp if is_traced(x) else np
    a = jnp.asarray(x) if is_traced(x) else np.asarray(x, dtype=np.float64)
    scale = xp.maximum(xp.max(xp.abs(a)), xp.finfo(a.dtype).tiny)
    asym = xp.max(xp.abs(a - a.T)) / scale
    if is_traced(x):
        return eqx.error_if(x, asym > tol, f"{name} must be symmetric (checked at run time)")
    if asym > tol:
        raise ValueError(f"{name} must be symmetric, got max |{name} - {name}^T| / max |{name}| = {asym:.3g}")
    return x
