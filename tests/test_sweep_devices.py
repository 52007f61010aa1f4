"""jaxdae.sweep on 8 forced CPU devices (a subprocess) equals the 1-device sweep, really sharded,
and a store resumes across device counts."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np

from jaxdae import exact, sweep

SCRIPT = textwrap.dedent(
    """
    import sys
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp, numpy as np
    from jaxdae import exact, sweep
    sys.path.insert(0, {here!r})
    from test_sweep_devices import GRID, curves
    assert jax.device_count() == 8
    ds = sweep.run(curves, GRID, chunk_size=16, progress=False)
    np.savez({nc!r}, loss_like=ds["loss_like"].values, device=ds["device"].values)
    resumed = sweep.run(curves, GRID, out={store!r}, progress=False)
    print("resumed", resumed.attrs["devices"], resumed.attrs["chunks_computed"], resumed.attrs["chunks_resumed"])
    """
)

T = jnp.linspace(0.0, 500.0, 5)
LAM = jnp.array([3.0, 1.0, 0.2])
GRID = {"noise_var": np.linspace(0.0, 2.0, 9), "weight_decay": np.array([0.0, 0.1, 0.5])}  # 27 points


def curves(noise_var, weight_decay):
    u = exact.mode_strength(T[:, None], LAM, noise_var=noise_var, weight_decay=weight_decay, lr=1e-2)
    return {"loss_like": u.sum(-1), "device": jax.lax.axis_index(sweep.AXIS)}


def test_one_and_eight_devices_agree(tmp_path):
    store = tmp_path / "store"
    one = sweep.run(curves, GRID, chunk_size=16, progress=False)
    written = sweep.run(curves, GRID, chunk_size=5, out=store, progress=False)  # 6 chunks of 5 (last 2)
    for i in (1, 4, 5):
        (store / "chunks" / f"{i}.json").unlink()
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    code = SCRIPT.format(here=os.path.dirname(__file__), nc=str(tmp_path / "eight.npz"), store=str(store))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    eight = np.load(tmp_path / "eight.npz")
    # identical values, bit for bit; the chunk of 16 was split 2 points per device, in order
    np.testing.assert_array_equal(eight["loss_like"], one["loss_like"].values)
    flat = eight["device"].reshape(-1)
    np.testing.assert_array_equal(flat, (np.arange(27) % 16) // 2)
    assert np.all(one["device"].values == 0)
    # the 8-device process resumed the 1-device store: 3 of 6 chunks recomputed, chunk size 5 kept
    assert proc.stdout.split()[-3:] == ["8", "3", "3"]
    back = sweep.run(curves, GRID, out=store, progress=False)
    assert back.attrs["chunks_resumed"] == 6 and back.attrs["chunk_size"] == 5
    np.testing.assert_array_equal(back["loss_like"].values, written["loss_like"].values)
    # in the 8-device run, chunks of 5 points padded to 8: points 0-4 of a chunk on devices 0-4
    np.testing.assert_array_equal(back["device"].values.reshape(-1)[5:10], np.arange(5))
