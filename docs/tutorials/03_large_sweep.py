"""Tutorial 3: a large sweep with resume, sharding over devices and several hosts.

`jaxdae.sweep.run(fn, grid)` evaluates a one-point function over the Cartesian product of a grid, in
chunks that fit memory, each chunk sharded over every device; with `out=` every finished chunk is
written to a zarr store and a rerun resumes from it. Here: the loss curve of a linear DAE / WDAE on
the digits spectrum over noise levels x weight decays (full size: 128 x 128 x 1000 times x 64 modes,
about 1e9 mode-evaluations; quick: 8 x 8).

Run: `python docs/tutorials/03_large_sweep.py` (writes `tutorial03*.zarr` in the working directory).
"""

import os
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import jaxdae
from jaxdae import exact, sweep

QUICK = os.environ.get("JAXDAE_TUTORIAL_QUICK") == "1"
CHECKS = []
LR, U0 = 1e-2, 1e-6
levels, times = (8, 50) if QUICK else (128, 1000)

lam = jaxdae.Spectrum.from_data(jaxdae.data.digits()).lam
t = jnp.linspace(0.0, 5000.0, times, dtype=lam.dtype)
grid = {"noise_var": np.linspace(0.0, 1.0, levels), "weight_decay": np.linspace(0.0, 0.5, levels)}


def loss_curve(noise_var, weight_decay):
    """One grid point: the expected loss over time, every mode from the balanced start u0."""
    u = exact.mode_strength(t[:, None], lam, noise_var=noise_var, weight_decay=weight_decay, lr=LR, u0=U0)
    per_mode = 0.5 * lam * (1 - u) ** 2 + 0.5 * noise_var * u**2 + weight_decay * u  # balanced: |w|^2 = 2u
    return jnp.sum(per_mode, axis=-1)


def run_sweep(out):
    """The whole grid, `out` the zarr store (resumed when it holds this sweep already)."""
    return sweep.run(lambda noise_var, weight_decay: {"loss": loss_curve(noise_var, weight_decay)}, grid, out=out,
                     chunk_size=16 if QUICK else 2048, dims={"loss": ("time",)}, coords={"time": np.asarray(t)},
                     progress=False)


if os.environ.get("TUTORIAL03_STORE"):  # the child process of step 3: same sweep, 4 devices
    ds = run_sweep(os.environ["TUTORIAL03_STORE"])
    print(f"child: {ds.attrs['devices']} devices wrote {ds.attrs['chunks_computed']} chunks")
    sys.exit(0)

# 1. The sweep, stored chunk by chunk.
shutil.rmtree("tutorial03.zarr", ignore_errors=True)
ds = run_sweep("tutorial03.zarr")
print(ds)
print(f"{ds.attrs['chunks']} chunks of {ds.attrs['chunk_size']} points on {ds.attrs['devices']} device(s)")
best = ds["loss"].isel(time=-1).argmin(...)
# The training loss is lowest without regularisation, as it must be; tutorial 4 asks the held-out question.
print("lowest final training loss at", {k: round(float(ds[k][v]), 3) for k, v in best.items()})
# It is a labelled Dataset: select by value, and check one point against a direct call.
point = ds["loss"].sel(noise_var=grid["noise_var"][1], weight_decay=grid["weight_decay"][2])
assert np.allclose(point, loss_curve(grid["noise_var"][1], grid["weight_decay"][2]), rtol=1e-6)
CHECKS.append("a stored point equals a direct call")

# 2. Resume: rerunning the same call reads every finished chunk instead of computing it. After an
# interruption (Ctrl-C, a killed job) the same rerun computes only the missing chunks.
again = run_sweep("tutorial03.zarr")
assert again.attrs["chunks_resumed"] == again.attrs["chunks"] and again.attrs["chunks_computed"] == 0
xr.testing.assert_equal(again["loss"], ds["loss"])
CHECKS.append("rerun resumed every chunk, same values")

# 3. Sharding: the same sweep in a process with 4 (forced CPU) devices; each chunk is split over them.
# On a GPU machine nothing needs forcing: every device JAX sees is used.
shutil.rmtree("tutorial03_sharded.zarr", ignore_errors=True)
env = dict(os.environ, TUTORIAL03_STORE="tutorial03_sharded.zarr",
           XLA_FLAGS="--xla_force_host_platform_device_count=4",
           JAX_ENABLE_X64=str(jax.config.jax_enable_x64))  # the same dtype as here (a store is one sweep)
subprocess.run([sys.executable, __file__], env=env, check=True)
# A store does not depend on how many devices wrote it: read it back here, on one device.
sharded = run_sweep("tutorial03_sharded.zarr")
assert sharded.attrs["chunks_computed"] == 0
np.testing.assert_allclose(sharded["loss"], ds["loss"], rtol=1e-6)
CHECKS.append("4-device store equals the 1-device one")
print("checks passed:", ", ".join(CHECKS))

# 4. Several hosts: run this same script on every host with, before anything else,
#     jax.distributed.initialize(coordinator_address="HOST0:1234", num_processes=P, process_id=RANK)
# and `out` on a shared file system. The mesh spans every process's devices; each process writes
# the chunks it computed; any number of processes can resume or read the store afterwards.
