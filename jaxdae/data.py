"""Data sets: the embedded default (scikit-learn's handwritten digits), MNIST and CIFAR-10 from
local files, and synthetic spectra.

Nothing here touches the network: the digits ship inside scikit-learn's wheel, and MNIST and
CIFAR-10 are read from files the user already has, in their standard binary formats (IDX and
the CIFAR-10 "binary version"). No data file is ever unpickled.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

__all__ = ["digits", "mnist", "cifar10", "synthetic_spectrum"]

_SPLITS = ("train", "test")
_MNIST_FILES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
_CIFAR_FILES = {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)}
_CIFAR_RECORD = 1 + 3 * 32 * 32
_IDX_IMAGES = 2051


def digits(dtype=np.float32) -> np.ndarray:
    """scikit-learn's bundled handwritten digits, `(1797, 64)`, scaled to `[0, 1]`.

    The raw pixels are integers in `0..16`; they are divided by 16. The rows are the samples
    in scikit-learn's order (no shuffling), so results are reproducible.

    ```python
    >>> from jaxdae import data
    >>> data.digits().shape
    (1797, 64)

    ```
    """
    from sklearn.datasets import load_digits

    return (load_digits().data / 16.0).astype(dtype)


def _folder(path, dataset: str, files) -> Path:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ValueError(
            f"path must be a folder holding the {dataset} files {', '.join(files)}, got {str(path)!r} "
            "(no such folder)"
        )
    return folder


def _read_idx(file: Path) -> np.ndarray:
    """The `(N, rows * cols)` uint8 images of one IDX3 file (gzipped when its name ends in .gz)."""
    opener = gzip.open if file.suffix == ".gz" else open
    try:
        with opener(file, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:  # a damaged gzip stream
        raise ValueError(f"{file} is not a readable IDX file ({err})") from None
    if len(raw) < 16:
        raise ValueError(f"{file} is truncated: {len(raw)} bytes, shorter than the 16-byte IDX image header")
    magic, n, rows, cols = (int(v) for v in np.frombuffer(raw[:16], dtype=">u4"))
    if magic != _IDX_IMAGES:
        raise ValueError(f"{file} has magic number {magic}, expected {_IDX_IMAGES} (IDX unsigned-byte images)")
    if n < 1 or rows < 1 or cols < 1:
        raise ValueError(f"{file} has header dimensions {n} x {rows} x {cols}; each must be >= 1")
    expected = 16 + n * rows * cols
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise ValueError(
            f"{file} is {what}: {len(raw)} bytes, but its header ({n} images of {rows} x {cols}) needs {expected}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols)


def mnist(path, split: str = "train", dtype=np.float32) -> np.ndarray:
    r"""MNIST images from the standard IDX files in the folder `path`, `(N, 784)` in `[0, 1]`.

    Reads `train-images-idx3-ubyte` (`split="train"`, 60 000 images) or
    `t10k-images-idx3-ubyte` (`split="test"`, 10 000), plain or gzipped (`.gz`), as
    distributed. Pixels `0..255` are divided by 255; rows are the images in file order. Only
    the images are read (the autoencoders need no labels). Any IDX3 image file works, so
    Fashion-MNIST's files do too.

    **Arguments:**

    - `path`: the folder holding the files.
    - `split`: `"train"` or `"test"`.
    - `dtype`: floating dtype of the result (default float32).

    **Returns:** `(N, rows * cols)` array of `dtype`.

    **Raises:** `ValueError` when the folder or the file is missing (naming the file to put
    there), when the magic number is not 2051, or when the file's length does not match its
    header (truncated or padded).

    Cost: one pass over the file; memory $N \cdot 784$ bytes plus the float copy.
    """
    from . import _checks

    _checks.choice("split", split, _SPLITS)
    name = _MNIST_FILES[split]
    folder = _folder(path, "MNIST", [name, name + ".gz"])
    for candidate in (folder / name, folder / (name + ".gz")):
        if candidate.is_file():
            return (_read_idx(candidate) / 255.0).astype(dtype)
    raise ValueError(
        f"no MNIST {split} images in {str(folder)!r}: put {name} or {name}.gz (the standard IDX file) in that folder"
    )


def _read_cifar_batch(file: Path) -> np.ndarray:
    """The `(n, 3072)` uint8 pixels of one CIFAR-10 binary batch (records of 1 label + 3072 bytes)."""
    raw = file.read_bytes()
    if len(raw) == 0 or len(raw) % _CIFAR_RECORD:
        raise ValueError(
            f"{file} has {len(raw)} bytes, not a whole number of {_CIFAR_RECORD}-byte CIFAR-10 records "
            "(1 label byte + 3072 pixel bytes; a full batch is 10000 records, 30730000 bytes): truncated or malformed"
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    if records[:, 0].max() > 9:
        raise ValueError(f"{file} has a label byte {int(records[:, 0].max())} > 9: not a CIFAR-10 binary batch")
    return records[:, 1:]


def cifar10(path, split: str = "train", dtype=np.float32) -> np.ndarray:
    r"""CIFAR-10 images from the standard binary batches in the folder `path`, `(N, 3072)` in `[0, 1]`.

    Reads `data_batch_1.bin` ... `data_batch_5.bin` (`split="train"`, 50 000 images) or
    `test_batch.bin` (`split="test"`, 10 000) of the "CIFAR-10 binary version". Each record is
    one label byte and 3072 pixel bytes (the red, green, blue 32 x 32 planes); the pixels are
    kept in that channel-major order and divided by 255, the batches concatenated in order.
    The Python ("pickle") version is deliberately not read: unpickling a file can run code.

    **Arguments:**

    - `path`: the folder holding the `.bin` files (e.g. the unpacked `cifar-10-batches-bin`).
    - `split`: `"train"` or `"test"`.
    - `dtype`: floating dtype of the result (default float32).

    **Returns:** `(N, 3072)` array of `dtype`.

    **Raises:** `ValueError` when the folder or a batch file is missing (naming the files to
    put there), or when a file is not a whole number of 3073-byte records or has a label
    byte above 9.

    Cost: one pass over the files; memory $N \cdot 3072$ bytes plus the float copy.
    """
    from . import _checks

    _checks.choice("split", split, _SPLITS)
    names = _CIFAR_FILES[split]
    folder = _folder(path, "CIFAR-10", names)
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise ValueError(
            f"missing CIFAR-10 {split} batch file(s) {', '.join(missing)} in {str(folder)!r}: put the binary "
            f"batches {', '.join(names)} (from the CIFAR-10 binary version) in that folder"
        )
    pixels = np.concatenate([_read_cifar_batch(folder / n) for n in names])
    return (pixels / 255.0).astype(dtype)


def synthetic_spectrum(dim: int, *, top: float = 1.0, decay: float = 0.9) -> np.ndarray:
    """Geometric eigenvalue spectrum `top * decay**k`, `k = 0..dim-1` (descending), float64."""
    if int(dim) != dim or dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    if not (top > 0 and np.isfinite(top)):
        raise ValueError(f"top must be > 0 and finite, got {top!r}")
    if not (0 < decay <= 1):
        raise ValueError(f"decay must be in (0, 1], got {decay!r}")
    return top * decay ** np.arange(int(dim), dtype=np.float64)
