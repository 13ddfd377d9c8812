"""Tests of semcomm.codecs on a few embedded CIFAR-10 (RGB) and MNIST (grayscale) test images:
round trips and PSNR against scikit-image, the bit accounting (constant headers really are
constant and the receiver decodes from header + payload alone), budget fitting, and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from semcomm import codecs
from semcomm.data import load_sample
from semcomm.metrics import psnr

NAMES = ("jpeg", "jpeg2000", "webp", "avif", "hevc")
DATASETS = ("cifar10", "mnist")
N_IMAGES = 6


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    """uint8 [N, H, W, C] per dataset: the first embedded test images."""
    return {name: np.ascontiguousarray(load_sample(name).images[:N_IMAGES].transpose(0, 2, 3, 1)) for name in DATASETS}


@pytest.fixture(scope="module")
def codec_of() -> dict[str, codecs.Codec]:
    """One instance per codec for the module, so ladders are encoded once."""
    return {name: codecs.get(name) for name in NAMES}


def spread(codec: codecs.Codec) -> list:
    """Lowest, middle and highest settings of the ladder."""
    q = codec.qualities
    return [q[0], q[len(q) // 2], q[-1]]


def test_registry_names_and_unknown_codec() -> None:
    assert sorted(codecs.codec_names()) == sorted(NAMES)
    with pytest.raises(ValueError, match="unknown codec 'bpg'; choose one of: ") as info:
        codecs.get("bpg")
    assert "\n" not in str(info.value) and all(name in str(info.value) for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_ladder_definition(name: str) -> None:
    codec = codecs.get(name)
    assert 10 <= len(codec.qualities) <= 32 and len(set(codec.qualities)) == len(codec.qualities)
    assert codec.quality_bits == int(np.ceil(np.log2(len(codec.qualities))))


@pytest.mark.parametrize("name", NAMES)
def test_bad_quality_and_bad_image_are_one_line_errors(name: str, images: dict[str, np.ndarray]) -> None:
    codec = codecs.get(name)
    with pytest.raises(ValueError, match=f"quality 1000 is not on the {name} ladder; expected one of: ") as info:
        codec.encode(images["cifar10"][0], 1000)
    assert "\n" not in str(info.value)
    for bad in (images["cifar10"][0].astype(np.float32), images["cifar10"][:2], images["cifar10"][0][..., :2]):
        with pytest.raises(ValueError, match="image must be a uint8 array"):
            codec.encode(bad, codec.qualities[0])
    other = codecs.get("jpeg" if name != "jpeg" else "webp")
    with pytest.raises(ValueError, match=f"cannot decode a '{other.name}' encoding with the '{name}' codec"):
        codec.decode(other.encode(images["cifar10"][0], other.qualities[0]))


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("name", NAMES)
def test_round_trip_psnr_matches_skimage_and_rises(
    name: str, dataset: str, images: dict[str, np.ndarray], codec_of: dict[str, codecs.Codec]
) -> None:
    codec, x = codec_of[name], images[dataset]
    means = []
    for quality in spread(codec):
        decoded = np.stack([codec.decode(codec.encode(image, quality)) for image in x])
        assert decoded.dtype == np.uint8 and decoded.shape == x.shape
        ours = psnr(*(torch.from_numpy(a).permute(0, 3, 1, 2).double() / 255.0 for a in (decoded, x)))
        ref = [peak_signal_noise_ratio(a, b, data_range=255) for a, b in zip(x, decoded)]
        np.testing.assert_allclose(ours.numpy(), np.minimum(ref, 100.0), rtol=0, atol=1e-9)
        means.append(float(ours.mean()))
    assert means[0] < means[1] < means[2] and means[2] > 30.0, means


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("name", NAMES)
def test_receiver_decodes_from_constant_header_and_padded_payload(
    name: str, dataset: str, images: dict[str, np.ndarray], codec_of: dict[str, codecs.Codec]
) -> None:
    codec, x = codec_of[name], images[dataset]
    shape = x.shape[1:]
    for quality in spread(codec):
        header = codec.header(shape, quality)
        for image in x:
            enc = codec.encode(image, quality)  # raises if this image's header differs
            assert len(header) + len(enc.payload) <= len(enc.file)
            assert enc.payload_bits == 8 * len(enc.payload) + codec.quality_bits <= enc.file_bits
            from_file = np.atleast_3d(codec._decode_file(enc.file, shape))
            for pad in (0, 1, 7, 64):  # the unused rest of a budget
                received = codec.decode_payload(enc.payload + bytes(pad), shape, quality)
                assert np.array_equal(received, from_file)


@pytest.mark.parametrize("name", NAMES)
def test_odd_sizes_come_back_at_their_size(name: str, images: dict[str, np.ndarray]) -> None:
    """Sizes that are not multiples of 8 (or of 2: HEVC pads them and crops back)."""
    codec = codecs.get(name)
    quality = codec.qualities[len(codec.qualities) // 2]
    for image in (images["cifar10"][0, :17, :23], images["mnist"][0, 5:14, 3:16]):
        image = np.ascontiguousarray(image)
        enc = codec.encode(image, quality)
        decoded = codec.decode_payload(enc.payload + bytes(3), image.shape, quality)
        from_file = np.atleast_3d(codec._decode_file(enc.file, image.shape))
        assert decoded.shape == image.shape and np.array_equal(decoded, from_file)
        assert peak_signal_noise_ratio(image, decoded) > 20.0


@pytest.mark.parametrize("name", NAMES)
def test_an_image_dependent_header_is_refused(name: str, images: dict[str, np.ndarray]) -> None:
    """A header holding an image-dependent field (here the payload length) is caught."""
    codec = codecs.get(name)
    split = codec._split

    def split_with_length(file: bytes) -> tuple[bytes, bytes]:
        header, payload = split(file)
        return header + len(payload).to_bytes(4, "big"), payload

    codec._split = split_with_length  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="differs from the constant header"):
        for image in images["cifar10"]:
            codec.encode(image, codec.qualities[-1])


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("name", NAMES)
def test_ladder_sizes(
    name: str, dataset: str, images: dict[str, np.ndarray], codec_of: dict[str, codecs.Codec]
) -> None:
    codec, x = codec_of[name], images[dataset]
    ladder = codec.ladder(x)
    assert ladder.payload_bits.shape == ladder.file_bits.shape == (len(x), len(codec.qualities))
    assert np.all(ladder.payload_bits <= ladder.file_bits)
    assert np.all(np.diff(ladder.payload_bits.mean(axis=0)) >= 0), ladder.payload_bits.mean(axis=0)
    enc = codec.encode(x[1], codec.qualities[3])
    assert ladder.payload_bits[1, 3] == enc.payload_bits and ladder.file_bits[1, 3] == enc.file_bits


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("name", NAMES)
def test_fit_picks_the_best_encoding_within_budget(
    name: str, dataset: str, images: dict[str, np.ndarray], codec_of: dict[str, codecs.Codec]
) -> None:
    codec, x = codec_of[name], images[dataset]
    ladder = codec.ladder(x)
    lo, hi = int(ladder.payload_bits.min()), int(ladder.payload_bits.max())
    rng = np.random.default_rng(0)
    for budget in [lo - 1, lo, (lo + hi) // 2, hi, rng.integers(lo - 50, hi + 50, size=len(x))]:
        fit = codec.fit(x, budget)
        limit = np.broadcast_to(budget, (len(x),))
        for i, q in enumerate(fit.quality_index):
            fitting = np.flatnonzero(ladder.payload_bits[i] <= limit[i])
            if len(fitting) == 0:
                assert q == -1 and not fit.fits[i] and fit.payload_bits[i] == 0 and fit.payloads[i] == b""
                assert not fit.images[i].any()
                continue
            assert q == fitting.max() and fit.fits[i]
            assert fit.payload_bits[i] == ladder.payload_bits[i, q] <= limit[i]
            assert fit.file_bits[i] == ladder.file_bits[i, q]
            enc = codec.encode(x[i], codec.qualities[q])
            assert fit.payloads[i] == enc.payload
            assert np.array_equal(fit.images[i], codec.decode(enc))
    assert not codec.fit(x, lo - 1).fits.any() and codec.fit(x, hi).fits.all()


@pytest.mark.parametrize("name", NAMES)
def test_fit_takes_strided_views(name: str, images: dict[str, np.ndarray], codec_of: dict[str, codecs.Codec]) -> None:
    """``[N, C, H, W]`` data moved to channels-last without a copy, as a caller would pass it."""
    for dataset in DATASETS:
        view = np.moveaxis(load_sample(dataset).images[:N_IMAGES], 1, -1)
        assert view.strides[-1] != 1  # (for MNIST, numpy still calls it contiguous: C = 1)
        budget = int(np.median(codec_of[name].ladder(images[dataset]).payload_bits))
        fresh, cached = codecs.get(name).fit(view, budget), codec_of[name].fit(images[dataset], budget)
        assert fresh.payloads == cached.payloads and np.array_equal(fresh.images, cached.images)


def test_fit_uses_the_cache_and_threads_agree(images: dict[str, np.ndarray]) -> None:
    x = images["cifar10"]
    serial, threaded = codecs.get("hevc"), codecs.get("hevc")
    calls = []
    encode_file = threaded._encode_file

    def counting(image: np.ndarray, quality: int) -> bytes:
        calls.append(quality)
        return encode_file(image, quality)

    threaded._encode_file = counting  # type: ignore[method-assign]
    a = serial.fit(x, 3000, workers=1)
    b = threaded.fit(x, 3000, workers=2)
    assert a.payloads == b.payloads and np.array_equal(a.images, b.images)
    first = len(calls)  # the ladders plus one constant header per quality
    assert first == (len(x) + 1) * len(threaded.qualities)
    threaded.fit(x, 1000, workers=2)
    threaded.fit(x[::-1], np.full(len(x), 3000), workers=2)
    assert len(calls) == first
    threaded.clear_cache()
    threaded.fit(x[:1], 1000)
    assert len(calls) == first + len(threaded.qualities)


def test_fit_rejects_bad_budgets(images: dict[str, np.ndarray]) -> None:
    codec, x = codecs.get("jpeg"), images["cifar10"]
    with pytest.raises(ValueError, match=r"budget_bits must be an int or an int array \[6\], got float64"):
        codec.fit(x, 1000.0)
    with pytest.raises(ValueError, match=r"got int64 \(2,\)"):
        codec.fit(x, np.array([1000, 2000]))
    with pytest.raises(ValueError, match="images must be a uint8 array"):
        codec.fit(x[0], 1000)
