"""Data files written by someone else: Ids, CSV values, image formats and sizes, folder names.

Each case must end in one ``error: ...`` line naming the culprit (exit code 2
through a command), with a message of bounded length and bounded memory.
"""
import io
import os
import resource
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from PIL import Image
from tiny_runs import TINY_LENET

from hpa.data.cache.source import cache_folder_name
from hpa.data.reading import imageio
from hpa.data.reading.dataset import open_dataset, read_ids_csv, read_labels_csv
from hpa.data.reading.labels import CHANNELS, parse_target
from hpa.runtime.errors import HpaError, quote

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_sample(folder, sample_id, side=8):
    os.makedirs(folder, exist_ok=True)
    for channel in CHANNELS:
        Image.fromarray(np.full((side, side), 9, np.uint8)).save(os.path.join(folder, f"{sample_id}_{channel}.png"))


def run_command(module, *args, limit_gb=None):
    """``python -m module args`` in a fresh process (optionally under an address-space limit)."""
    def limit():
        size = int(limit_gb * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    env = {**os.environ, "PYTHONPATH": ROOT, "HPA_CACHE": os.environ.get("HPA_CACHE", "")}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300, preexec_fn=limit if limit_gb else None)


def assert_one_line_error(result, *names):
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    lines = result.stderr.replace("\r", "\n").strip().splitlines()
    assert "Traceback" not in result.stderr and lines[-1].startswith("error: "), result.stderr[-3000:]
    for name in names:
        assert name in lines[-1], lines[-1]
    return lines[-1]


# --- quoting values from files -----------------------------------------------------------------------------
def test_quote_shortens_long_values_and_shows_control_characters():
    assert quote("abc") == "'abc'"
    long = quote("x" * 10_000)
    assert len(long) < 120 and "10000 characters" in long
    assert "\n" not in quote("a\nb") and "\\n" in quote("a\nb")


def test_a_huge_label_gives_a_short_message():
    with pytest.raises(HpaError) as caught:
        parse_target("1 " + "z" * 1_000_000, where="train.csv line 2")
    assert len(str(caught.value)) < 300


# --- Ids ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad, why", [("../secret", "path"), ("a/b", "path"), ("a\\b", "path"), ("..", "path"),
                                      ("a\x00b", "control"), ("a\tb", "control"), ("a\rb", "control")])
def test_ids_that_are_paths_or_hold_control_characters_are_refused(tmp_path, bad, why):
    (tmp_path / "train.csv").write_text(f'Id,Target\nok,0\n"{bad}",1\n')
    with pytest.raises(HpaError, match=f"line 3: Id .*{why}") as caught:
        read_labels_csv(tmp_path / "train.csv")
    assert "\n" not in str(caught.value) and "\x00" not in str(caught.value)


def test_an_id_with_a_newline_is_refused_not_dropped_from_a_submission(tmp_path):
    (tmp_path / "sample_submission.csv").write_text('Id,Predicted\nt1,0\n"t2\nx",0\n')
    with pytest.raises(HpaError, match="line 3: Id 't2\\\\nx' .*control") as caught:
        read_ids_csv(tmp_path / "sample_submission.csv")
    assert "\n" not in str(caught.value)


def test_an_image_file_name_with_a_newline_is_refused(tmp_path):
    write_sample(tmp_path, "t1")
    write_sample(tmp_path, "t\n2")
    with pytest.raises(HpaError, match="Id 't\\\\n2' .*control"):
        open_dataset(tmp_path, split="test")


def test_a_path_id_is_refused_through_the_command(tmp_path):
    data = tmp_path / "data"
    write_sample(data / "train", "a")
    write_sample(tmp_path, "secret")  # exists: the Id must not reach it
    (data / "train.csv").write_text("Id,Target\na,0\n../../secret,1\n")
    result = run_command("hpa.train", *TINY_LENET, "--data", data, "--epochs", "1", "--out", tmp_path / "run",
                         "--cache-dir", tmp_path / "cache")
    line = assert_one_line_error(result, "train.csv line 3", "'../../secret'")
    assert "cannot hold a path" in line


def test_a_huge_id_is_refused_with_a_short_message(tmp_path):
    huge = "a" * 2_000_000
    (tmp_path / "train.csv").write_text(f"Id,Target\n{huge},0\n")
    with pytest.raises(HpaError, match="line 2: Id 'aaa.*2000000 characters.* longer than") as caught:
        read_labels_csv(tmp_path / "train.csv")
    assert len(str(caught.value)) < 400


def test_a_huge_duplicate_header_or_label_gives_a_short_message(tmp_path):
    (tmp_path / "a.csv").write_text(f"Id,Target\nx,0\nx,{'9' * 100_000}\n")
    with pytest.raises(HpaError) as caught:
        read_labels_csv(tmp_path / "a.csv")
    assert len(str(caught.value)) < 400
    (tmp_path / "b.csv").write_text(f"{'H' * 100_000},Target\nx,0\n")
    with pytest.raises(HpaError, match="no 'Id' column") as caught:
        read_labels_csv(tmp_path / "b.csv")
    assert len(str(caught.value)) < 400


# --- cache folder names ------------------------------------------------------------------------------------
def test_a_long_data_folder_name_gives_a_short_cache_name(tmp_path):
    long = "d" * 240
    name = cache_folder_name(tmp_path / long, "train", "fixed")
    assert len(name.encode()) <= 100 and name.startswith("d" * 40)
    assert name != cache_folder_name(tmp_path / (long + "x"), "train", "fixed")  # the hash tells them apart
    (tmp_path / name).mkdir()  # ENAMETOOLONG before the fix
    wide = "é" * 200  # 400 bytes of UTF-8
    assert len(cache_folder_name(tmp_path / wide, "test", "max").encode()) <= 100


def test_short_folder_names_keep_their_cache(tmp_path):
    # Existing caches stay valid: a short name is spelt as before.
    import hashlib
    source = os.path.abspath(tmp_path / "kaggle")
    tag = hashlib.sha1(f"{source}|train".encode()).hexdigest()[:12]
    assert cache_folder_name(tmp_path / "kaggle", "train", "fixed") == f"kaggle-train-{tag}"


def test_a_long_data_folder_name_trains_through_the_command(tmp_path, tiny_synthetic):
    data = tmp_path / ("d" * 240)
    data.symlink_to(tiny_synthetic)
    result = run_command("hpa.train", *TINY_LENET, "--data", data, "--epochs", "1", "--out", tmp_path / "run",
                         "--cache-dir", tmp_path / "cache")
    assert result.returncode == 0, result.stderr[-3000:]


# --- image formats -----------------------------------------------------------------------------------------
def _other_format(kind):
    if kind == "eps":
        return b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n%%EOF\n"
    out = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(out, format=kind.upper())
    return out.getvalue()


@pytest.mark.parametrize("kind", ["gif", "bmp", "eps"])
def test_a_file_of_another_format_named_png_is_refused(tmp_path, kind):
    path = tmp_path / "x_red.png"
    path.write_bytes(_other_format(kind))
    with pytest.raises(HpaError, match=f"{path}: unreadable image .*not a PNG, JPEG or TIFF image"):
        imageio.read_channel(path, "red")


def test_a_file_of_another_format_is_refused_through_the_command(tmp_path):
    data = tmp_path / "data"
    for sample_id in "ab":
        write_sample(data / "train", sample_id)
    (data / "train" / "b_green.png").write_bytes(_other_format("gif"))
    (data / "train.csv").write_text("Id,Target\na,0\nb,1\n")
    result = run_command("hpa.train", *TINY_LENET, "--data", data, "--epochs", "1", "--out", tmp_path / "run",
                         "--cache-dir", tmp_path / "cache", "--workers", "1")
    assert_one_line_error(result, "b_green.png", "not a PNG, JPEG or TIFF")


# --- huge images -------------------------------------------------------------------------------------------
def test_16_bit_decoding_stays_within_a_few_bytes_per_pixel(tmp_path):
    side = 1500
    wide = np.random.default_rng(0).integers(0, 65536, (side, side), dtype=np.uint16)
    path = tmp_path / "x_red.png"
    Image.fromarray(wide).save(path)
    for intensity in ("fixed", "max", "percentile"):
        tracemalloc.start()
        plane = imageio.read_channel(path, "red", intensity)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert plane.dtype == np.uint8 and plane.shape == (side, side)
        assert peak <= 6 * side * side, f"{intensity}: {peak / side / side:.1f} bytes per pixel"
    np.testing.assert_array_equal(imageio.read_channel(path, "red"), ((wide.astype(np.int64) + 128) // 257))


def test_an_image_over_the_pixel_cap_is_a_one_line_error(tmp_path, monkeypatch):
    path = tmp_path / "x_red.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(path)
    monkeypatch.setattr(imageio, "MAX_PIXELS", 1000)
    with pytest.raises(HpaError, match=f"{path}: .*4096 pixels.* more than"):
        imageio.read_channel(path, "red")


def _png_header_only(width, height):
    """A PNG whose header declares width x height 16-bit pixels, with almost no data (a few hundred bytes)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(100))) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [13000, 20000])  # under and over Pillow's own DecompressionBombError
def test_a_huge_declared_image_is_refused_from_its_header_in_one_line(tmp_path, side):
    import warnings
    path = tmp_path / "x_red.png"
    path.write_bytes(_png_header_only(side, side))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(HpaError, match=f"{path}: ") as caught:
            imageio.read_channel(path, "red")
    assert not seen, [str(w.message) for w in seen]  # the one-line error says it all: no Pillow warning
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400
    if side * side <= 2 * Image.MAX_IMAGE_PIXELS:  # below Pillow's own refusal, the cap here decides
        assert f"{side * side} pixels ({side}x{side}), more than the" in str(caught.value)


def test_a_deeply_nested_thresholds_file_is_a_one_line_error(tmp_path):
    from hpa.evaluation.thresholds import load_thresholds
    path = tmp_path / "oof_thresholds.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(HpaError, match=f"{path}: cannot read thresholds"):
        load_thresholds(path)
