"""SIGKILL a sweep writing to a store, rerun it: equal to an uninterrupted run, nothing finished recomputed."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

from jaxdae import sweep

SCRIPT = textwrap.dedent(
    """
    import sys
    import jax
    jax.config.update("jax_enable_x64", True)
    sys.path.insert(0, {here!r})
    from test_sweep_resume import GRID, slow
    from jaxdae import sweep
    ds = sweep.run(slow, GRID, chunk_size=4, out={store!r}, progress=False)
    print("computed", ds.attrs["chunks_computed"], "resumed", ds.attrs["chunks_resumed"])
    """
)

GRID = {"a": np.linspace(0.0, 1.0, 10), "b": np.arange(4.0)}  # 40 points, 10 chunks of 4


def _pause(x):
    time.sleep(0.3)  # one chunk = one call: a slow chunk, so the kill lands mid-sweep
    return x


def slow(a, b):
    import jax
    import jax.numpy as jnp

    y = jnp.sin(a * jnp.arange(5.0)) + b
    return {"y": jax.pure_callback(_pause, jax.ShapeDtypeStruct(y.shape, y.dtype), y, vmap_method="expand_dims")}


def reference():
    a, b = np.meshgrid(GRID["a"], GRID["b"], indexing="ij")
    return np.sin(a[..., None] * np.arange(5.0)) + b[..., None]


def test_kill_and_resume(tmp_path):
    store = tmp_path / "store"
    code = SCRIPT.format(here=os.path.dirname(__file__), store=str(store))
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((store / "chunks").glob("*.json"))) < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list((store / "chunks").glob("*.json")))
    assert 3 <= finished < 10, f"the kill should land mid-sweep, {finished} of 10 chunks were done"
    ds = sweep.run(slow, GRID, chunk_size=4, out=store, progress=False)
    assert ds.attrs["chunks_resumed"] == finished and ds.attrs["chunks_computed"] == 10 - ds.attrs["chunks_resumed"]
    np.testing.assert_allclose(ds["y"].values, reference(), rtol=1e-14, atol=1e-15)
    again = sweep.run(slow, GRID, out=store, progress=False)
    assert (again.attrs["chunks_computed"], again.attrs["chunks_resumed"]) == (0, 10)
