"""Small helpers shared by the tests."""

from __future__ import annotations

import logging

import jax


def compiles(fn):
    """The XLA compilations logged while `fn()` runs."""
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger("jax")
    logger.addHandler(handler)
    try:
        with jax.log_compiles():
            jax.block_until_ready(fn())
    finally:
        logger.removeHandler(handler)
    return [m for m in records if m.startswith("Compiling")]
