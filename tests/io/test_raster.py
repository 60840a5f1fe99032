"""2D raster reading and writing: every format, every refusal, the 0/255 mapping, round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from medunet.io import ImageMeta, case_stem, is_supported, read_image, read_mask, write_mask

H, W = 12, 17  # non-square so that a transposed axis shows


def _grey8(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W), dtype=np.uint8)


def _save(path: Path, arr: np.ndarray, mode: str | None = None, **kw: object) -> Path:
    Image.fromarray(arr, mode).save(path, **kw) if mode else Image.fromarray(arr).save(path, **kw)
    return path


# --- reading images, format by format ------------------------------------------------------------


def test_png_8bit_grey(tmp_path: Path) -> None:
    a = _grey8()
    img, meta = read_image(_save(tmp_path / "a.png", a))
    assert img.dtype == np.float32 and img.shape == (1, H, W)
    assert np.array_equal(img[0], a)
    assert meta.shape == (H, W) and meta.dtype == "uint8" and meta.mode == "L"
    assert meta.channels == 1 and meta.path == tmp_path / "a.png"


def test_png_16bit_grey_keeps_full_range(tmp_path: Path) -> None:
    a = np.linspace(0, 65535, H * W).astype(np.uint16).reshape(H, W)
    img, meta = read_image(_save(tmp_path / "a.png", a))
    assert img.shape == (1, H, W) and meta.dtype == "uint16"
    assert np.array_equal(img[0], a.astype(np.float32))
    assert img.max() == 65535.0


def test_png_rgb(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8)
    img, meta = read_image(_save(tmp_path / "a.png", rgb))
    assert img.shape == (3, H, W) and meta.channels == 3 and meta.mode == "RGB"
    assert np.array_equal(img, np.moveaxis(rgb, -1, 0).astype(np.float32))


def test_png_rgba_drops_alpha(tmp_path: Path) -> None:
    rgba = np.random.default_rng(2).integers(0, 256, (H, W, 4), dtype=np.uint8)
    img, meta = read_image(_save(tmp_path / "a.png", rgba, "RGBA"))
    assert img.shape == (3, H, W) and meta.channels == 3
    assert np.array_equal(img, np.moveaxis(rgba[..., :3], -1, 0).astype(np.float32))


def test_png_grey_alpha_drops_alpha(tmp_path: Path) -> None:
    la = np.random.default_rng(3).integers(0, 256, (H, W, 2), dtype=np.uint8)
    img, meta = read_image(_save(tmp_path / "a.png", la, "LA"))
    assert img.shape == (1, H, W) and meta.channels == 1
    assert np.array_equal(img[0], la[..., 0].astype(np.float32))


@pytest.mark.parametrize("suffix", [".jpg", ".jpeg"])
def test_jpeg_grey_and_rgb(tmp_path: Path, suffix: str) -> None:
    a = np.full((H, W), 100, np.uint8)  # flat: JPEG reproduces it exactly
    img, meta = read_image(_save(tmp_path / f"g{suffix}", a, quality=95))
    assert img.shape == (1, H, W) and meta.shape == (H, W)
    assert np.abs(img - 100).max() <= 1
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[..., 0] = 200
    img, meta = read_image(_save(tmp_path / f"c{suffix}", rgb, quality=95))
    assert img.shape == (3, H, W) and meta.channels == 3
    assert abs(float(img[0].mean()) - 200) < 3 and float(img[1:].mean()) < 5


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_tiff_grey(tmp_path: Path, dtype: type) -> None:
    a = (np.arange(H * W).reshape(H, W) * (1 if dtype == np.uint8 else 300) % np.iinfo(dtype).max)
    a = a.astype(dtype)
    tifffile.imwrite(tmp_path / "a.tif", a)
    img, meta = read_image(tmp_path / "a.tif")
    assert img.shape == (1, H, W) and meta.dtype == np.dtype(dtype).name
    assert np.array_equal(img[0], a.astype(np.float32))


def test_tiff_rgb_interleaved_and_planar(tmp_path: Path) -> None:
    rgb = np.random.default_rng(4).integers(0, 256, (H, W, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "i.tiff", rgb, photometric="rgb")
    tifffile.imwrite(tmp_path / "p.tif", np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
    expected = np.moveaxis(rgb, -1, 0).astype(np.float32)
    for name in ("i.tiff", "p.tif"):
        img, meta = read_image(tmp_path / name)
        assert img.shape == (3, H, W) and meta.shape == (H, W)
        assert np.array_equal(img, expected)


def test_bmp_grey_and_rgb(tmp_path: Path) -> None:
    a = _grey8(5)
    img, _ = read_image(_save(tmp_path / "g.bmp", a))
    assert np.array_equal(img[0], a)
    rgb = np.random.default_rng(6).integers(0, 256, (H, W, 3), dtype=np.uint8)
    img, meta = read_image(_save(tmp_path / "c.bmp", rgb))
    assert img.shape == (3, H, W) and np.array_equal(img, np.moveaxis(rgb, -1, 0).astype(np.float32))


def test_uppercase_suffix_is_supported(tmp_path: Path) -> None:
    a = _grey8()
    img, _ = read_image(_save(tmp_path / "A.PNG", a, format="PNG"))
    assert np.array_equal(img[0], a)
    assert is_supported("x.TIF") and is_supported("x.jpeg") and not is_supported("x.txt")


def test_reading_does_not_share_memory_between_calls(tmp_path: Path) -> None:
    p = _save(tmp_path / "a.png", _grey8())
    a, _ = read_image(p)
    a[...] = -1
    b, _ = read_image(p)
    assert b.min() >= 0


# --- masks --------------------------------------------------------------------------------------


def test_mask_class_ids_are_kept(tmp_path: Path) -> None:
    m = np.random.default_rng(7).integers(0, 4, (H, W)).astype(np.uint8)
    labels, meta = read_mask(_save(tmp_path / "m.png", m))
    assert labels.dtype == np.int64 and labels.shape == (H, W)
    assert np.array_equal(labels, m) and meta.binary_255 is False


def test_mask_0_255_is_mapped_to_0_1(tmp_path: Path) -> None:
    m = np.zeros((H, W), np.uint8)
    m[3:7, 4:9] = 255
    labels, meta = read_mask(_save(tmp_path / "m.png", m))
    assert meta.binary_255 is True
    assert np.array_equal(labels, (m == 255).astype(np.int64))


def test_mask_all_255_is_binary_255(tmp_path: Path) -> None:
    labels, meta = read_mask(_save(tmp_path / "m.png", np.full((H, W), 255, np.uint8)))
    assert meta.binary_255 is True and (labels == 1).all()


def test_mask_with_255_and_other_values_is_not_remapped(tmp_path: Path) -> None:
    m = np.zeros((H, W), np.uint8)
    m[0, 0], m[1, 1] = 255, 1
    labels, meta = read_mask(_save(tmp_path / "m.png", m))
    assert meta.binary_255 is False and labels.max() == 255 and labels[1, 1] == 1


def test_mask_rgb_with_equal_channels_is_read_as_grey(tmp_path: Path) -> None:
    m = np.random.default_rng(8).integers(0, 3, (H, W)).astype(np.uint8)
    labels, _ = read_mask(_save(tmp_path / "m.png", np.stack([m, m, m], axis=-1)))
    assert np.array_equal(labels, m)


def test_mask_colour_with_differing_channels_is_refused(tmp_path: Path) -> None:
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    with pytest.raises(ValueError, match="differing channels"):
        read_mask(_save(tmp_path / "m.png", rgb))


def test_mask_16bit_labels(tmp_path: Path) -> None:
    m = np.zeros((H, W), np.uint16)
    m[2, 3] = 300
    labels, _ = read_mask(_save(tmp_path / "m.png", m))
    assert labels[2, 3] == 300 and labels.sum() == 300


def test_float_mask_with_integer_values_is_accepted(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "m.tif", np.eye(H, W, dtype=np.float32) * 2)
    labels, _ = read_mask(tmp_path / "m.tif")
    assert labels.dtype == np.int64 and np.array_equal(labels, np.eye(H, W, dtype=np.int64) * 2)


def test_float_mask_with_fractions_is_refused(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "m.tif", np.full((H, W), 0.5, np.float32))
    with pytest.raises(ValueError, match="non-integer") as exc:
        read_mask(tmp_path / "m.tif")
    assert "m.tif" in str(exc.value)


def test_nan_mask_is_refused(tmp_path: Path) -> None:
    m = np.zeros((H, W), np.float32)
    m[1, 1] = np.nan
    tifffile.imwrite(tmp_path / "m.tif", m)
    with pytest.raises(ValueError, match="NaN"):
        read_mask(tmp_path / "m.tif")


def test_negative_mask_is_refused(tmp_path: Path) -> None:
    m = np.zeros((H, W), np.int16)
    m[1, 1] = -1
    tifffile.imwrite(tmp_path / "m.tif", m)
    with pytest.raises(ValueError, match="negative") as exc:
        read_mask(tmp_path / "m.tif")
    assert "m.tif" in str(exc.value)


def test_image_with_nan_is_refused(tmp_path: Path) -> None:
    a = np.zeros((H, W), np.float32)
    a[0, 0] = np.inf
    tifffile.imwrite(tmp_path / "a.tif", a)
    with pytest.raises(ValueError, match="NaN or Inf"):
        read_image(tmp_path / "a.tif")


# --- files that cannot be read ------------------------------------------------------------------


def test_multipage_tiff_is_refused(tmp_path: Path) -> None:
    with tifffile.TiffWriter(tmp_path / "stack.tif") as tw:
        for i in range(3):
            tw.write(np.full((H, W), i, np.uint8))
    for reader in (read_image, read_mask):
        with pytest.raises(ValueError, match="multi-page TIFF with 3 pages") as exc:
            reader(tmp_path / "stack.tif")
        assert str(exc.value).startswith(str(tmp_path / "stack.tif"))


def test_multiframe_gif_like_png_is_refused(tmp_path: Path) -> None:
    frames = [Image.fromarray(np.full((H, W), v, np.uint8)) for v in (0, 50, 100)]
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:])
    with pytest.raises(ValueError, match="3 frames"):
        read_image(tmp_path / "anim.png")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "e.png").write_bytes(b"")
    with pytest.raises(ValueError, match="empty") as exc:
        read_image(tmp_path / "e.png")
    assert str(tmp_path / "e.png") in str(exc.value)


def test_text_file_named_png(tmp_path: Path) -> None:
    (tmp_path / "t.png").write_text("this is not an image\n")
    for reader in (read_image, read_mask):
        with pytest.raises(ValueError, match="not a readable image") as exc:
            reader(tmp_path / "t.png")
        assert str(tmp_path / "t.png") in str(exc.value)


def test_text_file_named_tif(tmp_path: Path) -> None:
    (tmp_path / "t.tif").write_text("this is not an image\n")
    with pytest.raises(ValueError, match="cannot read TIFF") as exc:
        read_image(tmp_path / "t.tif")
    assert str(exc.value).startswith(str(tmp_path / "t.tif"))


def test_truncated_tiff_names_the_file(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "full.tif", np.random.default_rng(11).integers(0, 256, (64, 64), dtype=np.uint8))
    data = (tmp_path / "full.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as exc:
        read_image(tmp_path / "cut.tif")
    assert str(exc.value).startswith(str(tmp_path / "cut.tif"))


def test_truncated_png(tmp_path: Path) -> None:
    p = _save(tmp_path / "full.png", np.random.default_rng(9).integers(0, 256, (64, 64), dtype=np.uint8))
    data = p.read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable image") as exc:
        read_image(tmp_path / "cut.png")
    assert str(tmp_path / "cut.png") in str(exc.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as exc:
        read_image(tmp_path / "nope.png")
    assert "nope.png" in str(exc.value)


def test_unsupported_suffix(tmp_path: Path) -> None:
    (tmp_path / "a.gif").write_bytes(b"GIF89a")
    with pytest.raises(ValueError, match="unsupported file type '.gif'"):
        read_image(tmp_path / "a.gif")


# --- writing masks ------------------------------------------------------------------------------


def _meta_for(tmp_path: Path, shape: tuple[int, int] = (H, W), binary_255: bool = False) -> ImageMeta:
    return ImageMeta(path=tmp_path / "in.png", shape=shape, dtype="uint8", mode="L",
                     binary_255=binary_255)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".bmp"])
def test_write_mask_round_trip(tmp_path: Path, suffix: str) -> None:
    labels = np.random.default_rng(10).integers(0, 4, (H, W)).astype(np.int64)
    before = labels.copy()
    out = write_mask(labels, _meta_for(tmp_path), tmp_path / "out" / f"pred{suffix}")
    assert out == tmp_path / "out" / f"pred{suffix}" and out.is_file()
    back, meta = read_mask(out)
    assert np.array_equal(back, labels) and meta.shape == (H, W)
    assert np.array_equal(labels, before)  # the caller's array is untouched
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temp files left


def test_write_mask_is_uint8_for_small_labels(tmp_path: Path) -> None:
    out = write_mask(np.ones((H, W), np.int64), _meta_for(tmp_path), tmp_path / "m.png")
    with Image.open(out) as im:
        assert im.mode == "L"
        assert np.asarray(im).dtype == np.uint8


def test_write_mask_uses_16_bit_for_large_labels(tmp_path: Path) -> None:
    labels = np.zeros((H, W), np.int64)
    labels[0, 0] = 1000
    back, _ = read_mask(write_mask(labels, _meta_for(tmp_path), tmp_path / "m.png"))
    assert back[0, 0] == 1000


def test_write_mask_binary_255_round_trip(tmp_path: Path) -> None:
    src = np.zeros((H, W), np.uint8)
    src[2:6, 3:8] = 255
    labels, meta = read_mask(_save(tmp_path / "in.png", src))
    out = write_mask(labels, meta, tmp_path / "pred.png")
    with Image.open(out) as im:
        assert np.array_equal(np.asarray(im), src)  # stored as 0/255 like the input
    back, back_meta = read_mask(out)
    assert back_meta.binary_255 and np.array_equal(back, labels)
    # explicit override: store class ids 0/1
    out01 = write_mask(labels, meta, tmp_path / "pred01.png", binary_255=False)
    with Image.open(out01) as im:
        assert np.array_equal(np.asarray(im), (src == 255).astype(np.uint8))


def test_write_mask_binary_255_refuses_multiclass(tmp_path: Path) -> None:
    labels = np.full((H, W), 2, np.int64)
    with pytest.raises(ValueError, match="labels > 1"):
        write_mask(labels, _meta_for(tmp_path, binary_255=True), tmp_path / "m.png")


def test_write_mask_shape_mismatch(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\(12, 16\) does not match the input's shape \(12, 17\)"):
        write_mask(np.zeros((H, W - 1), np.int64), _meta_for(tmp_path), tmp_path / "m.png")
    assert not (tmp_path / "m.png").exists()


def test_write_mask_negative_labels_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="0..65535"):
        write_mask(np.full((H, W), -1, np.int64), _meta_for(tmp_path), tmp_path / "m.png")


def test_case_stem() -> None:
    assert case_stem("/a/b/case_01.png") == "case_01"
    assert case_stem("x.y.TIFF") == "x.y"
