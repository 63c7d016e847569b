"""genlab.preprocess: safe decoding of untrusted uploads and MNIST/photo model input. Inputs are made here."""
from __future__ import annotations

import io
import struct
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from genlab.preprocess import (MAX_UPLOAD_BYTES, ImageInputError, decode_image, decode_image_info, prepare,
                               prepare_upload)

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / "checkpoints" / "mnist-digits" / "digits.npz"


def encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    """PIL image -> encoded file bytes."""
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def blank_png(w: int, h: int) -> bytes:
    """A genuine all-black 1-bit PNG of w x h: a few KB that would decode to w*h pixels (a bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = zlib.compressobj(9)
    row = b"\0" * (1 + (w + 7) // 8)  # filter byte + packed bits
    idat = b"".join(rows.compress(row * 1000) for _ in range(h // 1000)) + rows.compress(row * (h % 1000))
    idat += rows.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def stroke_rgba(size=(120, 90), box=(20, 15, 45, 70), width=6) -> np.ndarray:
    """Sketchpad-like RGBA [H, W, 4]: transparent background, an opaque black '7' inside box."""
    im = Image.new("RGBA", size, (0, 0, 0, 0))
    x0, y0, x1, y1 = box
    ImageDraw.Draw(im).line([(x0, y0), (x1, y0), (x0 + 5, y1)], fill=(0, 0, 0, 255), width=width)
    return np.asarray(im)


def centre_of_mass(img: np.ndarray) -> np.ndarray:
    """[H, W] or [H, W, 1] -> (cy, cx)."""
    g = img.reshape(img.shape[:2]).astype(np.float64)
    ys, xs = np.indices(g.shape)
    return np.array([(g * ys).sum(), (g * xs).sum()]) / g.sum()


def message(source) -> str:
    """The ImageInputError text decode_image raises for source (fails the test if it does not raise)."""
    with pytest.raises(ImageInputError) as e:
        decode_image(source)
    return str(e.value)


class TestBadInputs:
    def test_nothing_given(self):
        for source in (None, "", {"background": None, "layers": [], "composite": None}):
            assert message(source) == "No image given: upload a file or draw on the sketchpad."

    def test_not_an_image(self):
        assert message(b"hello, this is text " * 10) == (
            "The file is not an image (could not identify its format). Upload a PNG, JPEG, WebP, BMP or GIF.")

    def test_formats_that_shell_out_are_not_opened(self):
        eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
        assert message(eps).startswith("The file is not an image")

    def test_zero_bytes(self, tmp_path):
        (tmp_path / "empty.png").write_bytes(b"")
        assert message(b"") == "The file is empty (0 bytes)."
        assert message(tmp_path / "empty.png") == "The file is empty (0 bytes)."

    def test_truncated_png(self):
        data = encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)))
        assert "damaged or truncated" in message(data[: len(data) // 2])

    def test_missing_file_and_wrong_type(self, tmp_path):
        assert message(tmp_path / "nope.png").startswith("File not found: nope.png")
        assert message(tmp_path).endswith("is not a regular file. Upload an image file.")
        assert message(42) == "Unsupported image input of type int."

    def test_decompression_bomb_refused_without_decoding(self):
        data = blank_png(20_000, 20_000)
        assert len(data) < 200_000  # tiny file, 400 MP of pixels
        t = time.perf_counter()
        msg = message(data)
        assert time.perf_counter() - t < 1.0
        assert msg == "The image is 400 MP; the limit is 40 MP. Resize it and try again."

    def test_pixel_cap_below_pillows_own_limit(self):
        t = time.perf_counter()
        msg = message(blank_png(9_000, 9_000))
        assert time.perf_counter() - t < 1.0
        assert msg == "The image is 9000x9000 = 81 MP; the limit is 40 MP. Resize it and try again."

    def test_between_our_cap_and_pillows_warning_threshold(self):
        data = blank_png(10_000, 10_000)  # 100 MP: Pillow warns, our cap refuses
        with pytest.warns(Image.DecompressionBombWarning):
            assert message(data).startswith("The image is 10000x10000 = 100 MP; the limit is 40 MP.")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a service running with warnings as errors still gets the message
            assert message(data).startswith("The image is 100 MP; the limit is 40 MP.")

    def test_side_cap(self):
        assert "longest side may be at most 20000 px" in message(blank_png(30_000, 10))
        assert "longest side" in message(np.broadcast_to(np.zeros(1, np.uint8), (10, 30_000)))  # no copy made

    def test_oversize_bytes_and_file(self, tmp_path):
        assert message(bytes(MAX_UPLOAD_BYTES + 1)) == "The file is 20.1 MB; the limit is 20 MB."
        big = tmp_path / "big.png"
        with open(big, "wb") as f:
            f.truncate(int(35.2 * 2**20))  # sparse: refused from its size, never read
        assert message(big) == "The file is 35.2 MB; the limit is 20 MB."

    @pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the corrupt metadata it skips
    @pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "TIFF", "WEBP"])
    def test_corrupted_files_only_ever_raise_image_input_error(self, fmt):
        rng = np.random.default_rng(3)
        frames = [Image.fromarray(rng.integers(0, 255, (24, 24, 3), np.uint8)) for _ in range(3)]
        multi = {} if fmt == "JPEG" else {"save_all": True, "append_images": frames[1:]}
        data = encode(frames[0], fmt, **multi)
        for trial in range(60):  # fuzzing found IndexError (GIF) and TypeError (TIFF) escaping Pillow
            d = bytearray(data[: rng.integers(1, len(data))] if trial % 2 else data)
            for i in rng.integers(0, len(d), 4):
                d[i] = rng.integers(0, 256)
            try:
                assert decode_image(bytes(d)).dtype == np.uint8
            except ImageInputError:
                pass

    @pytest.mark.parametrize("bad, words", [
        (np.full((4, 4), np.nan), "NaN or infinite"),
        (np.full((4, 4, 3), np.inf, np.float32), "NaN or infinite"),
        (np.zeros((4, 4, 2), np.uint8), "Unsupported array shape (4, 4, 2)"),
        (np.zeros((1, 4, 4, 3), np.uint8), "Unsupported array shape"),
        (np.zeros((4, 4), np.complex64), "Unsupported array dtype complex64"),
        (np.zeros((0, 4), np.uint8), "The image is empty (4x0 pixels)."),
    ])
    def test_bad_arrays(self, bad, words):
        assert words in message(bad)


class TestModes:
    def test_16bit_png_scaled_not_clipped(self):
        a = np.array([[0, 256, 32768, 65535]], np.uint16)
        data = encode(Image.fromarray(a))
        assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
        rgb, notes = decode_image_info(data)
        assert rgb[0, :, 0].tolist() == [0, 1, 128, 255] and rgb.shape == (1, 4, 3)
        assert "16-bit image converted to 8-bit" in notes

    def test_32bit_int_and_float_pil_images(self):
        as_i = Image.fromarray(np.array([[0, 32768, 65535]], np.int32))
        assert decode_image(as_i)[0, :, 0].tolist() == [0, 128, 255]
        as_f = Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32))
        assert decode_image(as_f)[0, :, 0].tolist() == [0, 128, 255]

    @pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "YCbCr", "CMYK", "RGBX"])
    def test_every_mode_gives_the_same_black_and_white(self, mode):
        a = np.zeros((8, 8, 3), np.uint8)
        a[:, 4:] = 255
        rgb = decode_image(Image.fromarray(a).convert(mode))
        assert rgb.dtype == np.uint8 and rgb.shape == (8, 8, 3)
        assert np.abs(rgb.astype(int) - a).max() <= 2

    def test_cmyk_jpeg(self):
        rgb, notes = decode_image_info(encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG"))
        assert np.abs(rgb[8, 8].astype(int) - [255, 0, 0]).max() <= 8
        assert "CMYK converted to RGB" in notes

    def test_transparent_rgba_becomes_black_on_white(self):
        rgb, notes = decode_image_info(encode(Image.fromarray(stroke_rgba())))
        assert (rgb[0, 0] == 255).all() and (rgb[15, 30] == 0).all()
        assert "transparency composited onto white" in notes

    def test_half_transparent_pixel_blends_with_white(self):
        assert decode_image(np.array([[[0, 0, 0, 128]]], np.uint8))[0, 0].tolist() == [127, 127, 127]

    def test_palette_png_with_transparency(self):
        im = Image.new("P", (10, 10), 0)
        im.putpalette([0, 255, 0, 0, 0, 0])  # index 0 green but transparent, index 1 black
        im.paste(1, (2, 2, 5, 5))
        rgb, notes = decode_image_info(encode(im, transparency=0))
        assert rgb[0, 0].tolist() == [255, 255, 255] and rgb[3, 3].tolist() == [0, 0, 0]
        assert {"palette image converted", "transparency composited onto white"} <= set(notes)

    def test_la_png(self):
        a = np.zeros((6, 6, 2), np.uint8)
        a[2:4, 2:4, 1] = 255  # black, opaque only in the middle
        rgb = decode_image(encode(Image.fromarray(a)))
        assert rgb[0, 0].tolist() == [255] * 3 and rgb[2, 2].tolist() == [0] * 3

    def test_animated_gif_uses_first_frame(self):
        frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
        data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
        rgb, notes = decode_image_info(data)
        assert rgb[4, 4].tolist() == [255, 0, 0]
        assert "animated image: used the first of 3 frames" in notes

    @pytest.mark.parametrize("orientation, red_at_top", [(6, True), (8, False)])
    def test_exif_orientation(self, orientation, red_at_top):
        a = np.zeros((20, 40, 3), np.uint8)  # stored 40 wide, 20 high: left half red, right half blue
        a[:, :20, 0] = 255
        a[:, 20:, 2] = 255
        exif = Image.Exif()
        exif[0x0112] = orientation
        rgb, notes = decode_image_info(encode(Image.fromarray(a), "JPEG", exif=exif.tobytes(), quality=95))
        assert rgb.shape == (40, 20, 3) and "rotated per EXIF orientation" in notes
        top, bottom = rgb[5, 10].astype(int), rgb[35, 10].astype(int)
        red, blue = (top, bottom) if red_at_top else (bottom, top)
        assert red[0] > 200 and red[2] < 60 and blue[2] > 200 and blue[0] < 60


class TestNumpyInput:
    @pytest.mark.parametrize("a, expected", [
        (np.array([[0, 200]], np.uint8), [0, 200]),
        (np.array([[[0], [200]]], np.uint8), [0, 200]),
        (np.array([[[0, 0, 0], [200, 200, 200]]], np.uint8), [0, 200]),
        (np.array([[[0, 0, 0, 255], [200, 200, 200, 255]]], np.uint8), [0, 200]),
        (np.array([[0.0, 1.0]], np.float32), [0, 255]),
        (np.array([[0.5, 200.0]], np.float64), [1, 200]),
        (np.array([[-5.0, 300.0]]), [0, 255]),
        (np.array([[False, True]]), [0, 255]),
        (np.array([[256, 65535]], np.uint16), [1, 255]),  # 16-bit: >> 8, even when small
        (np.array([[3, 999]], np.int64), [3, 255]),
    ])
    def test_accepted_arrays(self, a, expected):
        rgb = decode_image(a)
        assert rgb.dtype == np.uint8 and rgb.shape == (1, 2, 3)
        assert rgb[0, :, 0].tolist() == expected and (rgb == rgb[..., :1]).all()


class TestSketchpad:
    def test_composite_gives_light_digit_centred_by_mass(self):
        value = {"background": None, "layers": [], "composite": stroke_rgba()}
        img, info = prepare_upload(value, 28, 1)
        assert img.shape == (28, 28, 1) and info["inverted"] is True and info["style"] == "mnist"
        assert img.max() == 255 and img[0].max() == 0 and img[:, 0].max() == 0
        assert np.abs(centre_of_mass(img) - 14).max() <= 1.0
        assert info["original_size"] == (120, 90)
        x0, y0, x1, y1 = info["bbox"]
        assert 14 <= x0 <= 20 and 10 <= y0 <= 15 and 45 <= x1 <= 52 and 70 <= y1 <= 76

    def test_layers_flattened_when_no_composite(self, tmp_path):
        background = np.full((90, 120, 4), 255, np.uint8)
        Image.fromarray(stroke_rgba()).save(tmp_path / "layer.png")
        rgb, notes = decode_image_info({"background": background, "layers": [tmp_path / "layer.png"],
                                        "composite": None})
        assert rgb[0, 0].tolist() == [255] * 3 and rgb[15, 30].tolist() == [0] * 3
        assert "flattened 2 sketchpad layers" in notes

    def test_composite_as_path_equals_composite_as_array(self, tmp_path):
        Image.fromarray(stroke_rgba()).save(tmp_path / "c.png")
        a, _ = prepare_upload({"composite": stroke_rgba()}, 28, 1)
        b, _ = prepare_upload({"composite": str(tmp_path / "c.png")}, 28, 1)
        assert np.array_equal(a, b)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    """The shipped real MNIST digits, uint8 [N, 28, 28]."""
    return np.load(DIGITS, allow_pickle=False)["images"]


class TestPrepare:
    def test_inversion_follows_the_background(self):
        dark = np.zeros((60, 60), np.uint8)
        dark[20:40, 28:32] = 255
        assert prepare(decode_image(dark))[1]["inverted"] is False
        light = 255 - dark
        out, info = prepare(decode_image(light))
        assert info["inverted"] is True and "inverted (light background)" in info["notes"]
        assert np.array_equal(out, prepare(decode_image(dark))[0])

    @pytest.mark.parametrize("i", [0, 1, 2, 3, 4, 5, 6, 7])
    def test_real_mnist_digit_recovered_from_a_bigger_canvas(self, digits, i):
        canvas = np.zeros((90, 70), np.uint8)
        canvas[50:78, 3:31] = digits[i]  # off-centre
        out, info = prepare(decode_image(canvas))
        assert info["inverted"] is False
        assert np.abs(out[..., 0].astype(int) - digits[i]).mean() < 2  # brief asked < 25; it is near exact
        assert np.abs(centre_of_mass(out) - centre_of_mass(digits[i])).max() <= 0.5

    def test_big_black_on_white_scan_of_a_digit(self, digits):
        scan = 255 - np.kron(digits[0], np.ones((12, 12), np.uint8))  # 336x336, dark pen on paper
        page = np.full((1500, 2200), 255, np.uint8)
        page[400:736, 900:1236] = scan
        out, info = prepare(decode_image(page))
        assert info["inverted"] and np.abs(out[..., 0].astype(int) - digits[0]).mean() < 25
        x0, y0, x1, y1 = info["bbox"]
        assert abs(y0 - 400 - 12 * 4) <= 30 and 900 <= x0 and x1 <= 1236 and y1 <= 736

    @pytest.mark.parametrize("value", [0, 128, 255])
    def test_blank(self, value):
        with pytest.raises(ImageInputError, match=r"^The image looks blank: no strokes found\.$"):
            prepare(decode_image(np.full((40, 40), value, np.uint8)))

    def test_faint_noise_is_blank(self):
        noise = np.random.default_rng(1).integers(240, 256, (50, 50), np.uint8)
        with pytest.raises(ImageInputError, match="blank"):
            prepare(decode_image(noise))

    def test_photo_style(self):
        photo = np.random.default_rng(2).integers(0, 256, (50, 80, 3), np.uint8)
        out, info = prepare(photo, image_size=32, channels=3)
        assert out.shape == (32, 32, 3) and out.dtype == np.uint8
        assert info["style"] == "photo" and info["bbox"] == (15, 0, 65, 50) and not info["inverted"]
        gray, info = prepare(photo, image_size=32, channels=1, style="photo")
        assert gray.shape == (32, 32, 1) and "converted to grayscale" in info["notes"]

    def test_mnist_style_with_three_channels_and_other_sizes(self):
        rgb = decode_image(stroke_rgba())
        out, _ = prepare(rgb, image_size=28, channels=3, style="mnist")
        assert out.shape == (28, 28, 3) and (out == out[..., :1]).all()
        big, _ = prepare(rgb, image_size=64, channels=1)
        assert big.shape == (64, 64, 1) and np.abs(centre_of_mass(big) - 32).max() <= 1.0

    def test_deterministic(self):
        value = {"composite": stroke_rgba()}
        (a, ia), (b, ib) = prepare_upload(value, 28, 1), prepare_upload(value, 28, 1)
        assert a.tobytes() == b.tobytes() and ia == ib

    def test_notes_merge_decoding_and_preparation(self):
        _, info = prepare_upload(encode(Image.fromarray(stroke_rgba())), 28, 1)
        assert info["notes"][0] == "transparency composited onto white"
        assert "cropped to the strokes and centred by mass in 28x28" in info["notes"]

    def test_bad_arguments(self):
        rgb = np.zeros((8, 8, 3), np.uint8)
        for kw in ({"channels": 2}, {"image_size": 4}, {"style": "sepia"}):
            with pytest.raises(ValueError):
                prepare(rgb, **kw)
