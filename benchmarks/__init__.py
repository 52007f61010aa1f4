"""jaxdae's benchmark suite: `python -m benchmarks [--quick] [--accelerator [--smoke]]`.

Each `benchmarks/bench_<name>.py` exposes `run(*, quick: bool = False) -> dict` and `main()`; the
shared protocol and the roofline measurements live in `benchmarks._timing`.
"""
