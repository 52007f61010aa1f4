"""jaxdae.sweep: chunked equals unchunked, labelling, keys, one compile, store and resume, errors."""

import inspect
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from jaxdae import Spectrum, Trajectory, exact, ode, sweep, train

T = jnp.linspace(0.0, 300.0, 6)
LAM = jnp.array([2.0, 1.0, 0.5, 0.1])
NOISE = np.linspace(0.0, 1.0, 7)
DECAY = np.array([0.0, 0.05, 0.3])


def curves(noise_var, weight_decay):
    """Loss-like curve of four modes: the exact solution reduced over modes inside the program."""
    u = exact.mode_strength(T[:, None], LAM, noise_var=noise_var, weight_decay=weight_decay, lr=1e-2)
    return {"u_sum": u.sum(-1), "u": u}


def reference():
    """The same closed form broadcast over the whole grid at once (no vmap, no chunks)."""
    u = exact.mode_strength(T[None, None, :, None], LAM, noise_var=NOISE[:, None, None, None],
                            weight_decay=DECAY[None, :, None, None], lr=1e-2)
    return np.asarray(u)


GRID = {"noise_var": NOISE, "weight_decay": DECAY}  # 21 points: not a multiple of 4 or 8
DIMS = {"u_sum": ("time",), "u": ("time", "mode")}


@pytest.mark.parametrize("chunk_size", [1, 4, 21, 100])
def test_chunked_equals_broadcast(chunk_size):
    ds = sweep.run(curves, GRID, chunk_size=chunk_size, dims=DIMS, coords={"time": T}, progress=False)
    np.testing.assert_allclose(ds["u"].values, reference(), rtol=1e-13, atol=0)
    np.testing.assert_allclose(ds["u_sum"].values, reference().sum(-1), rtol=1e-13)
    assert ds["u"].dims == ("noise_var", "weight_decay", "time", "mode")
    np.testing.assert_array_equal(ds["noise_var"].values, NOISE)
    np.testing.assert_array_equal(ds["time"].values, np.asarray(T))
    assert ds.attrs["chunk_size"] == min(chunk_size, 21)
    assert ds.attrs["chunks"] == -(-21 // min(chunk_size, 21)) == ds.attrs["chunks_computed"]


def test_one_compile_across_chunks():
    traces = []

    def fn(noise_var, weight_decay):
        traces.append(1)  # a Python side effect: runs once per trace, never per call
        return curves(noise_var, weight_decay)

    sweep.run(fn, GRID, chunk_size=10, progress=False)
    few = len(traces)
    sweep.run(fn, GRID, chunk_size=2, progress=False)
    assert len(traces) - few == few == 2  # eval_shape + the one chunk program, for 3 or 11 chunks


@pytest.mark.parametrize("chunk_size", [5, 4, 12])  # flat; seed nested inside noise_var rows; both nested
def test_trajectory_labelled_and_keys_folded_per_seed(chunk_size):
    key = jax.random.key(3)

    def fn(noise_var, seed, key):
        u = exact.mode_strength(T[:, None], LAM, noise_var=noise_var, lr=1e-2)
        z = jax.random.normal(key, ())
        return Trajectory(t=T, mode_strength=u, loss=u.sum(-1) * z, status=jnp.int32(seed % 2),
                          stats={"num_steps": jnp.int32(7)})

    ds = sweep.run(fn, {"noise_var": NOISE[:3], "seed": np.arange(4)}, key=key, chunk_size=chunk_size, progress=False)
    assert ds.attrs["nested_axes"] == {5: [], 4: ["seed"], 12: ["noise_var", "seed"]}[chunk_size]
    assert set(ds.data_vars) == {"mode_strength", "loss", "status", "stats_num_steps"}  # None fields skipped
    assert ds["mode_strength"].dims == ("noise_var", "seed", "time", "mode")
    assert ds["status"].dims == ("noise_var", "seed") and ds["status"].dtype == np.int32
    np.testing.assert_array_equal(ds["time"].values, np.asarray(T))
    z = np.array([float(jax.random.normal(jax.random.fold_in(key, s), ())) for s in range(4)])
    expected = reference()[:3, 0].sum(-1)[:, None, :] * z[None, :, None]
    np.testing.assert_allclose(ds["loss"].values, expected, rtol=1e-13)
    np.testing.assert_array_equal(ds["status"].values, np.tile(np.arange(4) % 2, (3, 1)))


def _solve(spec, init, noise_var, t):
    # ode.solve takes init=(W1, W2) and t= (earlier: W1_0, W2_0 and ts=)
    if "init" in inspect.signature(ode.solve).parameters:
        return ode.solve(spec, init=init, noise_var=noise_var, lr=0.1, t=t, throw=False)
    return ode.solve(spec, *init, noise_var=noise_var, lr=0.1, ts=t, throw=False)


def test_ode_chunked_equals_one_by_one():
    spec = Spectrum.from_eigenvalues(jnp.array([2.0, 1.0, 0.5]))
    k1, k2 = jax.random.split(jax.random.key(0))
    init = (1e-3 * jax.random.normal(k1, (2, 3)), 1e-3 * jax.random.normal(k2, (3, 2)))
    t = jnp.linspace(0.0, 200.0, 4)
    levels = np.array([0.0, 0.3, 0.9])
    ds = sweep.run(lambda noise_var: _solve(spec, init, noise_var, t), {"noise_var": levels}, chunk_size=2,
                   progress=False)
    for i, v in enumerate(levels):
        one = _solve(spec, init, float(v), t)
        np.testing.assert_allclose(ds["mode_strength"].values[i], one.mode_strength, rtol=1e-9, atol=1e-14)
    assert np.all(ds["status"].values == 0)


def test_train_chunked_equals_one_by_one():
    X = np.asarray(jax.random.normal(jax.random.key(1), (16, 3)) * jnp.array([2.0, 1.0, 0.3]))
    key = jax.random.key(5)

    def fit(noise_var, seed, key):
        return train.fit(X, hidden=2, steps=12, noise_var=noise_var, lr=0.05, key=key, record_every=4)

    ds = sweep.run(fit, {"noise_var": np.array([0.0, 0.5]), "seed": np.arange(3)}, key=key, chunk_size=4,
                   progress=False)
    single = jax.jit(fit)  # one point at a time (compiled once for the six runs)
    for i, v in enumerate([0.0, 0.5]):
        for s in range(3):
            one = single(v, s, jax.random.fold_in(key, s))
            np.testing.assert_allclose(ds["mode_strength"].values[i, s], one.mode_strength, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("chunk_size", [3, 6, 21])
def test_nested_equals_flat(chunk_size):
    """Equal to the flat evaluation to a few ulp, not bit for bit: XLA simplifies the shared
    (unbatched) part of the exact formula differently from the flat program, as it does for a
    plain nested `jax.vmap` against a flat one."""
    flat = sweep.run(curves, GRID, chunk_size=1, dims=DIMS, progress=False)
    nested = sweep.run(curves, GRID, chunk_size=chunk_size, dims=DIMS, progress=False)
    assert flat.attrs["nested_axes"] == [] and nested.attrs["nested_axes"] == list(GRID)[-1 - chunk_size // 21:]
    np.testing.assert_allclose(nested["u"].values, flat["u"].values, rtol=4e-15, atol=0)
    np.testing.assert_allclose(nested["u_sum"].values, flat["u_sum"].values, rtol=4e-15, atol=0)
    np.testing.assert_allclose(nested["u"].values, reference(), rtol=1e-13, atol=0)


def test_work_of_the_outer_axis_runs_once_per_row():
    """The part of fn that depends only on `seed` runs once per seed under the nested vmap, once per point flat."""
    calls = []

    def draw(seed):
        calls.append(1)  # one call per evaluation (vmap_method="sequential" maps point by point)
        return np.asarray(np.cos(seed), seed.dtype)

    def fn(seed, noise_var):
        shared = jax.pure_callback(draw, jax.ShapeDtypeStruct((), jnp.float64), jnp.float64(seed),
                                   vmap_method="sequential")
        return {"y": shared * (1.0 + noise_var)}

    grid = {"seed": np.arange(3), "noise_var": np.linspace(0.0, 1.0, 4)}
    expected = np.cos(np.arange(3.0))[:, None] * (1.0 + grid["noise_var"])
    counts = {}
    for chunk_size in (1, 4, 12):  # flat; noise_var nested (a row per seed); seed and noise_var nested
        calls.clear()
        ds = sweep.run(fn, grid, chunk_size=chunk_size, progress=False)
        counts[chunk_size] = len(calls)
        np.testing.assert_array_equal(ds["y"].values, expected)
    assert counts == {1: 12, 4: 3, 12: 3}


def test_train_grid_seed_first_nested_equals_single_runs():
    """`seed` first, noise levels last: each seed's noise is drawn once for its levels, results as one by one."""
    X = np.asarray(jax.random.normal(jax.random.key(2), (16, 3)) * jnp.array([2.0, 1.0, 0.3]))
    key, levels = jax.random.key(7), np.array([0.0, 0.3, 0.6])

    def fit(seed, noise_var, key):
        return train.fit(X, hidden=2, steps=10, noise_var=noise_var, lr=0.05, key=key, record_every=5)

    ds = sweep.run(fit, {"seed": np.arange(2), "noise_var": levels}, key=key, chunk_size=3, progress=False)
    assert ds.attrs["nested_axes"] == ["noise_var"]
    single = jax.jit(fit)  # one point at a time (compiled once for the six runs)
    for s in range(2):
        for i, v in enumerate(levels):
            one = single(s, v, jax.random.fold_in(key, s))
            np.testing.assert_allclose(ds["mode_strength"].values[s, i], one.mode_strength, rtol=1e-10, atol=1e-15)
            np.testing.assert_allclose(ds["loss"].values[s, i], one.loss, rtol=1e-10)


def test_max_memory_sets_chunk_size():
    small = sweep.run(curves, GRID, max_memory="6kB", progress=False)
    large = sweep.run(curves, GRID, max_memory="1GiB", progress=False)
    assert large.attrs["chunk_size"] == 21  # the whole grid fits
    assert 1 <= small.attrs["chunk_size"] < 21  # 4 x 6 outputs + temporaries per point do not
    for ds in (small, large):  # a measured chunk is a whole number of the inner blocks it nests
        assert ds.attrs["chunk_size"] % int(np.prod([GRID[n].size for n in ds.attrs["nested_axes"]])) == 0
    assert large.attrs["nested_axes"] == ["noise_var", "weight_decay"]
    xr.testing.assert_identical(small.drop_attrs(), large.drop_attrs())
    assert sweep.parse_bytes("2GiB") == 2 * 2**30 and sweep.parse_bytes("1.5MB") == 1_500_000


def test_store_resume_and_refusal(tmp_path):
    out = tmp_path / "s"
    first = sweep.run(curves, GRID, chunk_size=4, out=out, attrs={"lr": 1e-2}, progress=False)
    again = sweep.run(curves, GRID, out=out, attrs={"lr": 1e-2}, progress=False)  # stored chunk size reused
    assert (first.attrs["chunks_computed"], again.attrs["chunks_computed"], again.attrs["chunks_resumed"]) == (6, 0, 6)
    np.testing.assert_allclose(again["u"].values, reference(), rtol=1e-13)
    xr.testing.assert_identical(first.drop_attrs(), again.drop_attrs())
    with pytest.raises(ValueError, match="holds a different sweep: its 'attrs'"):
        sweep.run(curves, GRID, out=out, attrs={"lr": 2e-2}, progress=False)
    with pytest.raises(ValueError, match="holds a different sweep: its 'grid'"):
        sweep.run(curves, {"noise_var": NOISE[:3], "weight_decay": DECAY}, out=out, attrs={"lr": 1e-2})
    with pytest.raises(ValueError, match="chunk_size = 4"):
        sweep.run(curves, GRID, out=out, chunk_size=5, attrs={"lr": 1e-2})


def test_damaged_chunk_is_recomputed(tmp_path):
    out = tmp_path / "s"
    sweep.run(curves, GRID, chunk_size=8, out=out, progress=False)
    chunk_file = out / "data.zarr" / "u" / "c" / "1" / "0" / "0"
    with open(chunk_file, "r+b") as f:
        f.truncate(os.path.getsize(chunk_file) // 2)
    (out / "chunks" / "2.json").unlink()  # as if killed between its data and its marker
    ds = sweep.run(curves, GRID, chunk_size=8, out=out, progress=False)
    assert (ds.attrs["chunks_computed"], ds.attrs["chunks_resumed"]) == (2, 1)
    np.testing.assert_allclose(ds["u"].values, reference(), rtol=1e-13)


def test_bad_input_names_the_argument(tmp_path):
    (tmp_path / "file").write_text("")
    cases = [
        (dict(grid={}), "grid must be a non-empty dict"),
        (dict(grid={"noise_var": np.ones((2, 2)), "weight_decay": DECAY}), r"grid\['noise_var'\] must be a non-empty 1-D"),
        (dict(grid={"noise_var": [0.0, np.nan], "weight_decay": DECAY}), r"grid\['noise_var'\] must be finite"),
        (dict(grid={"noise": NOISE, "weight_decay": DECAY}), "fn does not accept a parameter named 'noise'"),
        (dict(grid=GRID, out=tmp_path / "file" / "s"), "out = .* is not a writable directory"),
        (dict(grid=GRID, max_memory=64), "max_memory = 64 bytes cannot hold one grid point"),
        (dict(grid=GRID, max_memory="lots"), "max_memory must be a number of bytes"),
        (dict(grid=GRID, chunk_size=0), "chunk_size must be an integer >= 1"),
        (dict(grid=GRID, dims={"v": ("time",)}), "dims names an output fn does not return: 'v'"),
        (dict(grid=GRID, dims={"u": ("time",)}), r"dims\['u'\] = \('time',\) must name 2 dim"),
        (dict(grid=GRID, dims=DIMS, coords={"time": T[:3]}), r"coords\['time'\] must have shape \(6,\)"),
        (dict(grid=GRID, progress="yes"), "progress must be None, True or False"),
        (dict(grid=GRID, key=3), "key must be a single JAX PRNG key"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            sweep.run(curves, **kwargs)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty and holds no jaxdae sweep"):
        sweep.run(curves, GRID, out=tmp_path / "full")


def test_cli_sweep_writes_and_resumes(tmp_path, capsys):
    from jaxdae import data
    from jaxdae.cli import main

    config = tmp_path / "c.toml"
    config.write_text(
        'solver = "exact_loss"\nlr = 0.01\n[grid]\nnoise_var = [0.0, 0.5]\n'
        "weight_decay = { start = 1e-3, stop = 1e-1, num = 3, log = true }\n"
        f'[time]\nstart = 0.0\nstop = 500.0\nnum = 4\n[output]\npath = "{tmp_path / "out"}"\nchunk_size = 4\n'
    )
    assert main(["sweep", str(config), "--no-progress"]) == 0
    assert "6 points" in capsys.readouterr().out
    assert main(["sweep", str(config), "--no-progress"]) == 0
    assert "0 chunk(s) computed, 2 resumed" in capsys.readouterr().out
    lam = np.asarray(Spectrum.from_data(data.digits()).lam)
    back = xr.open_zarr(tmp_path / "out" / "data.zarr", consolidated=False)
    t, wd = np.linspace(0.0, 500.0, 4), np.geomspace(1e-3, 1e-1, 3)[1]
    u = np.asarray(exact.mode_strength(t[:, None], lam, noise_var=0.5, weight_decay=wd, lr=0.01))
    loss = np.sum(lam / 2 * (1 - u) ** 2 + 0.5 / 2 * u**2 + wd * u, axis=-1)
    np.testing.assert_allclose(back["loss"].values[1 * 3 + 1], loss, rtol=1e-12)
