"""Status codes and the error that names the failing grid point."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdae import Status
from jaxdae.status import raise_if_failed


def test_codes_and_messages():
    assert [int(s) for s in Status] == [0, 1, 2, 3]
    assert Status.describe(2) == Status.DIVERGED.message and "diverged" in Status.DIVERGED.message
    assert Status.describe(9) == "unknown status code 9"


def test_raise_names_the_first_failing_point_by_value():
    codes = np.zeros((3, 2), np.int32)
    codes[2, 1] = Status.MAX_STEPS_REACHED
    codes[1, 0] = Status.DIVERGED
    with pytest.raises(RuntimeError, match=r"2 of 6 run\(s\) failed \(first at noise_var=0.5, seed=0\): the run diverged"):
        raise_if_failed(codes, where="x", names=("noise_var", "seed"), coords={"noise_var": [0.0, 0.5, 1.0], "seed": [0, 1]})
    with pytest.raises(RuntimeError, match=r"first at batch index \(1, 0\)"):
        raise_if_failed(codes, where="x")
    assert raise_if_failed(np.zeros(4, np.int32), where="x") is not None


def test_traced_status_raises_at_run_time():
    f = jax.jit(lambda c: raise_if_failed(c, where="jaxdae.test", hint="do this") + 0)
    assert int(f(jnp.int32(0))) == 0
    with pytest.raises(Exception, match="jaxdae.test: a run did not succeed; do this"):
        jax.block_until_ready(f(jnp.int32(2)))
