"""Loaders on small files written in the real formats, and their errors on malformed files."""

import gzip

import numpy as np
import pytest

from jaxdae import data

RNG = np.random.default_rng(0)


def write_idx(path, images, magic=2051, header=None, extra=b""):
    n, rows, cols = images.shape if header is None else header
    head = np.array([magic, n, rows, cols], dtype=">u4").tobytes()
    body = head + images.astype(np.uint8).tobytes() + extra
    if str(path).endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(body)
    else:
        path.write_bytes(body)


def write_cifar(folder, names, n=3, labels=None):
    batches = {}
    for name in names:
        pixels = RNG.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        lab = RNG.integers(0, 10, size=(n, 1), dtype=np.uint8) if labels is None else labels
        (folder / name).write_bytes(np.concatenate([lab, pixels], axis=1).tobytes())
        batches[name] = pixels
    return batches


TRAIN = [f"data_batch_{i}.bin" for i in range(1, 6)]


def test_digits_shape_and_range():
    X = data.digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("split,name", [("train", "train-images-idx3-ubyte"), ("test", "t10k-images-idx3-ubyte")])
def test_mnist_reads_idx(tmp_path, gz, split, name):
    images = RNG.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / (name + (".gz" if gz else "")), images)
    X = data.mnist(tmp_path, split=split)
    assert X.shape == (5, 784) and X.dtype == np.float32
    np.testing.assert_array_equal(X, images.reshape(5, -1) / np.float32(255))
    assert X.min() >= 0 and X.max() <= 1


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(magic=2049), "magic number 2049, expected 2051"),
        (dict(header=(6, 28, 28)), "truncated"),
        (dict(header=(5, 28, 27)), "longer than its header"),
        (dict(header=(0, 28, 28)), "each must be >= 1"),
    ],
)
def test_mnist_malformed(tmp_path, kwargs, match):
    write_idx(tmp_path / "train-images-idx3-ubyte", RNG.integers(0, 256, size=(5, 28, 28)), **kwargs)
    with pytest.raises(ValueError, match=match):
        data.mnist(tmp_path)


def test_mnist_short_header_and_bad_gzip(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03")
    with pytest.raises(ValueError, match="16-byte IDX image header"):
        data.mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").unlink()
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="not a readable IDX file"):
        data.mnist(tmp_path)


def test_mnist_missing(tmp_path):
    with pytest.raises(ValueError, match="put t10k-images-idx3-ubyte or t10k-images-idx3-ubyte.gz"):
        data.mnist(tmp_path, split="test")
    with pytest.raises(ValueError, match="no such folder"):
        data.mnist(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="split must be one of 'train', 'test', got 'val'"):
        data.mnist(tmp_path, split="val")


def test_cifar10_reads_five_batches_in_order(tmp_path):
    batches = write_cifar(tmp_path, TRAIN, n=3)
    X = data.cifar10(tmp_path)
    assert X.shape == (15, 3072) and X.dtype == np.float32
    expected = np.concatenate([batches[n] for n in TRAIN]) / np.float32(255)
    np.testing.assert_array_equal(X, expected)
    test = write_cifar(tmp_path, ["test_batch.bin"], n=2)
    np.testing.assert_array_equal(data.cifar10(tmp_path, split="test"), test["test_batch.bin"] / np.float32(255))


def test_cifar10_malformed(tmp_path):
    write_cifar(tmp_path, TRAIN, n=2)
    with open(tmp_path / "data_batch_3.bin", "ab") as f:
        f.write(b"\x01" * 100)
    with pytest.raises(ValueError, match="data_batch_3.bin has 6246 bytes, not a whole number of 3073-byte"):
        data.cifar10(tmp_path)
    write_cifar(tmp_path, ["data_batch_3.bin"], n=2, labels=np.full((2, 1), 12, np.uint8))
    with pytest.raises(ValueError, match="label byte 12 > 9"):
        data.cifar10(tmp_path)
    (tmp_path / "data_batch_3.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="0 bytes"):
        data.cifar10(tmp_path)


def test_cifar10_missing(tmp_path):
    write_cifar(tmp_path, TRAIN[:4])
    with pytest.raises(ValueError, match="missing CIFAR-10 train batch file.*data_batch_5.bin"):
        data.cifar10(tmp_path)
    with pytest.raises(ValueError, match="no such folder"):
        data.cifar10(tmp_path / "cifar-10-batches-bin")
