"""Two processes (jax.distributed on 127.0.0.1, gloo CPU collectives, 4 devices each) resume a
store written by one process, each writing the chunks it computed; one process reads back what
they wrote; all equal the one-process run, in memory too (flat and nested)."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np

from jaxdae import exact, sweep

WORKER = textwrap.dedent(
    """
    import sys
    import jax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address="127.0.0.1:{port}", num_processes=2, process_id={pid})
    sys.path.insert(0, {here!r})
    from test_sweep_multihost import GRID, curves
    from jaxdae import sweep
    assert jax.device_count() == 8 and jax.local_device_count() == 4
    ds = sweep.run(curves, GRID, out={store!r}, progress=False)  # resumes, stored chunk size
    mem = sweep.run(curves, GRID, chunk_size=16, progress=False)
    assert (mem["u"].values == ds["u"].values).all()
    nested = sweep.run(curves, GRID, chunk_size=20, progress=False)  # rows of 5 decays, 1 row per device
    assert nested.attrs["nested_axes"] == ["weight_decay"] and nested.attrs["chunks"] == 3
    assert abs(nested["u"].values - ds["u"].values).max() <= 4e-15 * abs(ds["u"].values).max()
    print("ok", ds.attrs["processes"], ds.attrs["devices"], ds.attrs["chunks_computed"])
    jax.distributed.shutdown()
    """
)

T = jnp.linspace(0.0, 400.0, 5)
GRID = {"noise_var": np.linspace(0.0, 1.0, 9), "weight_decay": np.array([0.0, 0.2, 0.4, 0.6, 0.8])}  # 45 points


def curves(noise_var, weight_decay):
    return {"u": exact.mode_strength(T, 1.5, noise_var=noise_var, weight_decay=weight_decay, lr=1e-2)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_one_store(tmp_path):
    store = tmp_path / "store"
    sweep.run(curves, GRID, chunk_size=16, out=store, progress=False)  # one process writes 3 chunks
    for i in (0, 2):
        (store / "chunks" / f"{i}.json").unlink()  # two of them are left for the two processes
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    port = _free_port()
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER.format(port=port, pid=i, here=os.path.dirname(__file__), store=str(store))],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(2)
    ]
    outputs = [w.communicate(timeout=240) for w in workers]
    for w, (out, err) in zip(workers, outputs):
        assert w.returncode == 0, err[-3000:]
        assert out.split()[-4:] == ["ok", "2", "8", "2"]
    writers = {i: json.loads((store / "chunks" / f"{i}.json").read_text())["process"] for i in range(3)}
    assert writers == {0: 0, 1: 0, 2: 1}  # chunk 1 from the one-process run; 0 and 2 in one call, one per process
    one = sweep.run(curves, GRID, chunk_size=16, progress=False)
    back = sweep.run(curves, GRID, out=store, progress=False)  # one process reads the two-process store
    assert (back.attrs["chunks_resumed"], back.attrs["chunks_computed"]) == (3, 0)
    np.testing.assert_array_equal(back["u"].values, one["u"].values)
