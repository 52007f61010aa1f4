"""Test-suite settings: float64 everywhere unless a test asks for float32 explicitly.

Under CI (`CI` set) hypothesis derandomizes, so a run is reproducible; locally it explores.
"""

import os

import jax
from hypothesis import settings

jax.config.update("jax_enable_x64", True)

settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
