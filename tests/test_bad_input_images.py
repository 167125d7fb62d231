"""What hubzoo guarantees on bad image input (README, "What hubzoo guarantees"), on the command line: an image
bomb, a FIFO, socket or device where an image file was expected, or float pixels outside 0..1 end as one
``zoo: error:`` line naming the file, with exit status 2; ``zoo predict`` still labels the other inputs, a
training run leaves no folder, and nothing hangs or silently gives a wrong answer. One row per cause.

The bombs are cheap: a header that declares 20000x20000 pixels over a few bytes of data, so a reader that
decodes before it checks fails here with another message (with a real bomb it took a minute and 11 GB)."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import zlib
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.test_bad_input import assert_one_error_line, run_cli
from tests.user_data import image_folder

LIMIT_HINT = "raise it with --max-image-pixels or ZOO_MAX_IMAGE_PIXELS"
BOMB = f"image is 20000x20000 = 400,000,000 pixels, more than the limit of 89,478,485; {LIMIT_HINT}"
PREDICT = ["predict", "mnist_cnn", "--weights", "digits"]


def png_header(width: int, height: int, colour_type: int = 2) -> bytes:
    """A PNG that declares ``width`` x ``height`` 8-bit pixels (RGB by default) over a few bytes of zeros."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(4096))) + chunk(b"IEND", b"")


def jpeg_header(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) is patched to declare ``width`` x ``height``."""
    buffer = BytesIO()
    Image.new("L", (8, 8), 99).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def bmp_header(width: int, height: int) -> bytes:
    """A small BMP whose header is patched to declare ``width`` x ``height``."""
    buffer = BytesIO()
    Image.new("L", (8, 8), 99).save(buffer, format="BMP")
    data = bytearray(buffer.getvalue())
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def good_png(path: Path, size: int = 28) -> Path:
    Image.new("L", (size, size), 0).save(path)
    return path


def without_hanging(call, fifos: list[Path], seconds: float = 60.0):
    """``call()`` in a thread; if it still runs after ``seconds`` (stuck opening a FIFO), the FIFOs are opened
    for writing again and again, which lets a stuck reader go on, and the test fails instead of hanging."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        for _ in range(int(seconds * 10)):
            if not thread.is_alive():
                break
            for fifo in fifos:
                try:
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                except OSError:  # no reader waiting on it now
                    pass
            thread.join(0.1)
        pytest.fail(f"still running after {seconds} s: it opened one of {[str(f) for f in fifos]}")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def special_file(path: Path, kind: str) -> Path:
    """A FIFO, a socket, or a link to a character device at ``path``."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        try:
            server.bind(str(path))
        except OSError:  # a path longer than sun_path
            pytest.skip("the temporary path is too long for a Unix socket")
        finally:
            server.close()
    else:
        path.symlink_to(os.devnull)
    return path


WHAT = {"fifo": "a FIFO (named pipe)", "socket": "a socket", "device": "a character device"}


# ------------------------------------------------------------------------------------------------ image bombs


@pytest.mark.parametrize("name, data, message", [
    ("huge.png", png_header(20000, 20000), BOMB),
    ("huge.jpg", jpeg_header(20000, 20000), BOMB),
    ("huge.bmp", bmp_header(20000, 20000), BOMB),
    # above PIL's limit but under twice it, where PIL only warns
    ("big.png", png_header(10000, 10000, colour_type=0),
     f"image is 10000x10000 = 100,000,000 pixels, more than the limit of 89,478,485; {LIMIT_HINT}"),
], ids=["png", "jpeg", "bmp", "png-under-twice-the-limit"])
def test_predict_refuses_an_image_bomb_from_its_header_and_labels_the_others(capsys, tmp_path, name, data, message):
    (tmp_path / name).write_bytes(data)
    good = good_png(tmp_path / "good.png")
    code, out, err = run_cli(capsys, *PREDICT, tmp_path / name, good, "--json")
    assert_one_error_line(code, err, f"{tmp_path / name}: {message}")
    records = {Path(r["input"]).name: r for r in json.loads(out)}
    assert records["good.png"]["label"] is not None and records[name]["label"] is None


@pytest.mark.parametrize("argv, env, message", [
    (["--max-image-pixels", "100"], None, f"good.png: image is 28x28 = 784 pixels, more than the limit of 100; {LIMIT_HINT}"),
    ([], "100", "good.png: image is 28x28 = 784 pixels, more than the limit of 100"),
    (["--max-image-pixels", "0"], None, "--max-image-pixels 0 is not valid: expected at least 1"),
    (["--max-image-pixels", "many"], None, "argument --max-image-pixels: invalid int value: 'many'"),
    # a bad variable is one line, not one per image
    ([], "many", "ZOO_MAX_IMAGE_PIXELS='many' is not valid: expected a number of pixels of at least 1"),
    ([], "0", "ZOO_MAX_IMAGE_PIXELS='0' is not valid: expected a number of pixels of at least 1"),
])
def test_the_pixel_limit_is_set_by_option_or_environment(capsys, tmp_path, monkeypatch, argv, env, message):
    if env is not None:
        monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", env)
    good, small = good_png(tmp_path / "good.png"), good_png(tmp_path / "small.png", size=5)  # 25 pixels: under every limit
    code, _, err = run_cli(capsys, *PREDICT, good, small, *argv)
    assert_one_error_line(code, err, message)


def test_the_option_overrides_the_environment_and_is_gone_after_the_command(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", "100")
    good = good_png(tmp_path / "good.png")
    code, _, err = run_cli(capsys, *PREDICT, good, "--max-image-pixels", "784")
    assert code == 0 and err == "", err
    assert os.environ["ZOO_MAX_IMAGE_PIXELS"] == "100"


def _crop_pct_weights(folder: Path) -> Path:
    """mnist_cnn's digits weights as a file whose preprocessing keeps the aspect ratio and cuts out the centre
    (``crop_pct``, as the ImageNet models' does), to test that resize without loading an ImageNet model."""
    from safetensors.torch import load_file, save_file

    from zoo.weights import read_manifest, shipped_manifest_path

    prep = {"channels": 1, "size": [28, 28], "mean": [0.1307], "std": [0.3081], "resize": "bilinear", "crop_pct": 0.875}
    metadata = {"arch": "mnist_cnn", "model_kwargs": json.dumps({"n_feature": 32}), "dataset": "digits",
                "preprocessing": json.dumps(prep)}
    save_file(load_file(read_manifest(shipped_manifest_path())["mnist_cnn.digits"].path), folder / "crop.safetensors",
              metadata=metadata)
    return folder / "crop.safetensors"


@pytest.mark.parametrize("model, height, argv, message", [
    # the shorter side to 32, the aspect ratio kept: 32x64000, over the limit; the file itself is under it
    ("crop", 2000, ["--max-image-pixels", "10000"], "image is 1x2000; resized for this model with its aspect ratio kept "
                                                    "it would be 32x64000 = 2,048,000 pixels, more than the limit of 10,000"),
    # 256x15,360,000: 47 GB of floats (was a failed allocation, exit 1)
    ("efficientnet_lite0", 60000, [], "image is 1x60000; resized for this model with its aspect ratio kept it would be "
                                      "256x15360000 = 3,932,160,000 pixels, more than the limit of 89,478,485"),
], ids=["crop_pct", "efficientnet_lite0"])
def test_a_strip_too_long_to_resize_with_its_aspect_ratio_is_named(capsys, tmp_path, model, height, argv, message):
    if model == "crop":
        model = ["mnist_cnn", "--weights", _crop_pct_weights(tmp_path)]
    else:
        pytest.importorskip("zoo_timm.models", reason="`make` installs plugins/zoo-timm")
        model = [model]
    strip = tmp_path / "strip.png"
    Image.new("L", (1, height), 99).save(strip)
    code, out, err = run_cli(capsys, "predict", *model, strip, good_png(tmp_path / "good.png"), "--json", *argv)
    assert_one_error_line(code, err, f"{strip}: {message}; crop it to a less extreme shape, or raise the limit with "
                                     "--max-image-pixels or ZOO_MAX_IMAGE_PIXELS")
    assert [r["label"] is None for r in json.loads(out)] == [True, False]


def test_an_unreadable_input_whose_name_holds_a_line_break_is_still_one_line(capsys, tmp_path):
    bad = tmp_path / "not\nan image.png"
    bad.write_bytes(b"GIF89a broken")
    code, _, err = run_cli(capsys, *PREDICT, bad, good_png(tmp_path / "good.png"))
    assert_one_error_line(code, err, "not an image file PIL can read")
    assert err.count("\n") == 1, err


_TWO_CLASSES = {"a": 3, "b": 3}
#: The 10x12 (H x W) images of tests/user_data.py, over a limit of 10 pixels.
SMALL_OVER_10 = f"image is 12x10 = 120 pixels, more than the limit of 10; {LIMIT_HINT}"


@pytest.mark.parametrize("command, bomb, argv, env, message", [
    ("train", ("train/b/huge.png", png_header(20000, 20000)), [], None, f"train/b/huge.png: {BOMB}"),
    ("train", ("test/a/huge.jpg", jpeg_header(20000, 20000)), [], None, f"test/a/huge.jpg: {BOMB}"),
    ("train", None, ["--max-image-pixels", "10"], None, SMALL_OVER_10),
    ("eval", None, ["--max-image-pixels", "10"], None, SMALL_OVER_10),
    ("eval", None, [], "10", SMALL_OVER_10),
    ("eval", ("test/b/huge.bmp", bmp_header(20000, 20000)), [], None, f"test/b/huge.bmp: {BOMB}"),
])
def test_an_image_folder_with_a_bomb_or_over_the_limit_names_the_file(capsys, tmp_path, monkeypatch, command, bomb, argv,
                                                                      env, message):
    if env is not None:
        monkeypatch.setenv("ZOO_MAX_IMAGE_PIXELS", env)
    root = tmp_path / "images"
    for split in ("train", "test"):
        image_folder(root / split, _TWO_CLASSES)
    if bomb:
        (root / bomb[0]).write_bytes(bomb[1])
    out = ["--out", tmp_path / "run", "--quiet"] if command == "train" else []
    code, _, err = run_cli(capsys, command, "mnist_cnn", "--data", "imagefolder", "--root", root, "-k", "num_classes=2",
                           *out, *argv)
    assert_one_error_line(code, err, message)
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- FIFOs, sockets and devices


@pytest.mark.parametrize("kind", ["fifo", "socket", "device"])
def test_predict_given_a_special_file_refuses_it_without_opening_it(capsys, tmp_path, kind):
    special = special_file(tmp_path / f"{kind}.png", kind)
    good = good_png(tmp_path / "good.png")
    code, out, err = without_hanging(lambda: run_cli(capsys, *PREDICT, special, good, "--json"), [special])
    assert_one_error_line(code, err, f"{special} is {WHAT[kind]}, not a regular file: expected an image file")
    assert [r["label"] is None for r in json.loads(out)] == [True, False]


def test_a_luna_model_given_a_fifo_scan_names_it_and_walks_past_one_in_a_folder(capsys, tmp_path):
    pytest.importorskip("SimpleITK")
    (tmp_path / "scans").mkdir()
    fifo = special_file(tmp_path / "scans" / "x.mhd", "fifo")
    code, _, err = without_hanging(lambda: run_cli(capsys, "predict", "luna_classifier", fifo, tmp_path / "scans"), [fifo])
    assert code == 2, err
    assert err.splitlines() == [f"zoo: error: {fifo} is a FIFO (named pipe), not a regular file: expected a .mhd scan",
                                f"zoo: error: {tmp_path / 'scans'}: no .mhd scans in this folder"]


@pytest.mark.parametrize("argv, expected", [
    (["info", "{fifo}"], "a weights file"),  # was "does not exist"
    (["pin", "{run}", "--tag", "t", "--manifest", "{fifo}"], "a weights manifest (a JSON file)"),  # was a hang
], ids=["weights", "manifest"])
def test_a_fifo_given_as_weights_or_a_manifest_is_named_not_read(capsys, tmp_path, argv, expected):
    fifo = special_file(tmp_path / "x.safetensors", "fifo")
    if "pin" in argv:  # a finished run to pin
        code, _, err = run_cli(capsys, "train", "mnist_mlp", "--data", "digits", "--epochs", 1, "--quiet", "--out", tmp_path / "run")
        assert code == 0, err
    argv = [a.format(fifo=fifo, run=tmp_path / "run") for a in argv]
    code, _, err = without_hanging(lambda: run_cli(capsys, *argv), [fifo])
    assert_one_error_line(code, err, f"{fifo} is a FIFO (named pipe), not a regular file: expected {expected}")


def test_resume_given_a_fifo_for_the_runs_settings_names_it(capsys, tmp_path):
    from zoo import runs
    from zoo.runs import TrainConfig

    run = tmp_path / "run"
    runs.write_config(TrainConfig("mnist_mlp", "digits", out=str(run), progress=False).with_lr())  # as train() writes it
    (run / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    (run / "config.json").unlink()
    fifo = special_file(run / "config.json", "fifo")
    code, _, err = without_hanging(lambda: run_cli(capsys, "train", "mnist_mlp", "--data", "digits", "--quiet", "--out", run,
                                                   "--resume"), [fifo])  # was a hang
    assert_one_error_line(code, err, f"{fifo} is a FIFO (named pipe), not a regular file: expected the run's settings")


def test_predict_given_a_device_path_names_what_it_is(capsys, tmp_path):
    good = good_png(tmp_path / "good.png")
    code, _, err = run_cli(capsys, *PREDICT, os.devnull, good)
    assert_one_error_line(code, err, f"{os.devnull} is a character device, not a regular file: expected an image file")


def test_predict_and_imagefolder_walk_past_special_files(capsys, tmp_path):
    root = image_folder(tmp_path / "images", _TWO_CLASSES)
    fifo = special_file(root / "a" / "fifo.png", "fifo")
    special_file(root / "a" / "device.png", "device")
    os.replace(special_file(tmp_path / "s.png", "socket"), root / "b" / "socket.png")  # bound short: sun_path's limit
    (root / "b" / "._000.png").write_bytes(b"\x00\x05\x16\x07 macOS metadata")  # hidden, as imagefolder leaves it out
    code, out, err = without_hanging(lambda: run_cli(capsys, *PREDICT, root, "--json"), [fifo])
    assert code == 0 and err == "", err
    assert [Path(r["input"]).relative_to(root).as_posix() for r in json.loads(out)] == [
        "a/000.png", "a/001.png", "a/002.png", "b/000.png", "b/001.png", "b/002.png"]
    code, _, err = without_hanging(lambda: run_cli(capsys, "eval", "mnist_cnn", "--data", "imagefolder", "--root", root,
                                                   "-k", "num_classes=2", "--json"), [fifo])
    assert code == 0, err


# ------------------------------------------------------------------------------------------- float images


def _float_tiff(path: Path, pixels: np.ndarray) -> Path:
    Image.fromarray(pixels.astype(np.float32), mode="F").save(path)
    return path


def test_a_float_tiff_in_0_to_1_is_labelled_as_its_8_bit_twin_on_the_command_line_and_in_python(capsys, tmp_path):
    from zoo.predict import Predictor

    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255  # a "1"
    Image.fromarray(digit).save(tmp_path / "twin.png")
    tiff = _float_tiff(tmp_path / "one.tif", digit / 255.0)
    code, out, err = run_cli(capsys, *PREDICT, tmp_path / "twin.png", tiff, "--json")
    assert code == 0 and err == "", err
    twin, got = json.loads(out)
    assert (got["label"], got["probability"]) == (twin["label"], pytest.approx(twin["probability"], abs=1e-6))
    with Image.open(tiff) as image:
        python = Predictor.from_name("mnist_cnn", weights="digits").predict([tiff, image, np.asarray(image)])
    assert [label for label, _ in python] == [twin["label"]] * 3
    assert [p for _, p in python] == pytest.approx([twin["probability"]] * 3, abs=1e-6)


@pytest.mark.parametrize("values, message", [
    (np.full((28, 28), 200.0), "float pixel values must lie in 0..1; these run from 200 to 200"),
    (np.linspace(-1, 1, 28 * 28).reshape(28, 28), "float pixel values must lie in 0..1; these run from -1 to 1"),
    (np.full((28, 28), np.nan), "float pixel values must be finite"),
])
def test_a_float_tiff_outside_0_to_1_is_refused_not_clipped(capsys, tmp_path, values, message):
    tiff = _float_tiff(tmp_path / "f.tif", values)
    good = good_png(tmp_path / "good.png")
    code, _, err = run_cli(capsys, *PREDICT, tiff, good)
    assert_one_error_line(code, err, f"{tiff}: {message}")


# ------------------------------------------------------------------------------------- found by the third probe


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


_GOOD_SMALL_PNG = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0))
                   + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 20)) + _png_chunk(b"IEND", b""))


@pytest.mark.parametrize("name, data, message", [
    ("cut-in-the-header-crc.png", _GOOD_SMALL_PNG[:31], "not an image file PIL can read"),
    ("header-of-12-bytes.png", b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBB", 4, 4, 8, 0, 0, 0))
     + _png_chunk(b"IEND", b""), "cannot be read as an image (Truncated IHDR chunk)"),
    ("undefined-filter-method.png", b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 1, 0))
     + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 20)) + _png_chunk(b"IEND", b""), "not an image file PIL can read"),
], ids=["crc-cut", "ihdr-12-bytes", "filter-method-1"])
def test_a_malformed_png_is_named_in_one_line_and_the_others_are_labelled(capsys, tmp_path, name, data, message):
    """hubzoo's own fast PNG reader leaves every PNG it does not fully understand to PIL, which names what is wrong:
    a chunk cut short was an internal error (struct.error), an undefined filter method was decoded anyway."""
    (tmp_path / name).write_bytes(data)
    assert (tmp_path / "ok.png").write_bytes(_GOOD_SMALL_PNG)
    code, out, err = run_cli(capsys, *PREDICT, tmp_path / name, tmp_path / "ok.png", "--json")
    assert_one_error_line(code, err, f"{tmp_path / name}: {message}")
    records = {Path(r["input"]).name: r for r in json.loads(out)}
    assert records["ok.png"]["label"] is not None and records[name]["label"] is None


def test_a_raised_pixel_limit_holds_for_formats_that_pil_checks_again_while_decoding(capsys, tmp_path):
    """A TIFF is checked by PIL again when it is decoded: the user's raised limit must hold there too, without
    PIL's decompression-bomb error or warning (10,000 x 9,000 = 90 M pixels, just over PIL's 89.5 M)."""
    Image.new("L", (10000, 9000), 7).save(tmp_path / "big.tiff", compression="tiff_deflate")
    code, out, err = run_cli(capsys, *PREDICT, tmp_path / "big.tiff", "--max-image-pixels", "100000000")
    assert code == 0 and err == "" and "big.tiff" in out, err
    code, _, err = run_cli(capsys, *PREDICT, tmp_path / "big.tiff")
    assert_one_error_line(code, err, "image is 10000x9000 = 90,000,000 pixels, more than the limit of 89,478,485")
