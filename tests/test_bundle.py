"""One-file bundles: predictions equal to the run's bit for bit, contents, and crafted archives
refused without anything being unpickled."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from medunet import __version__
from medunet.bundle import load_bundle, read_bundle, write_bundle
from medunet.checkpoint import load_checkpoint
from medunet.config import Config
from medunet.export import BundleResult, export_bundle, export_model
from medunet.inference.predictor import Predictor
from medunet.training import train


def _disc(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[: size[0], : size[1]]
    cy, cx = rng.uniform(0.3, 0.7) * size[0], rng.uniform(0.3, 0.7) * size[1]
    mask = ((yy - cy) ** 2 + (xx - cx) ** 2 <= (0.25 * min(size)) ** 2).astype(np.uint8)
    img = np.clip(60 + 120 * mask + rng.normal(0, 20, size), 0, 255).astype(np.uint8)
    return img, mask


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny trained binary run (0/255 masks) and a folder of inputs of odd sizes beside it."""
    root = tmp_path_factory.mktemp("bundle")
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("val", 2)):
        for d in ("images", "masks"):
            (root / "data" / split / d).mkdir(parents=True)
        for i in range(n):
            img, mask = _disc(rng, (32, 32))
            Image.fromarray(img).save(root / "data" / split / "images" / f"c{i}.png")
            Image.fromarray(mask * 255).save(root / "data" / split / "masks" / f"c{i}.png")
    (root / "inputs").mkdir()
    for i, size in enumerate([(32, 32), (45, 61), (100, 90)]):
        Image.fromarray(_disc(rng, size)[0]).save(root / "inputs" / f"x{i}.png")
    cfg = Config().override([f"data.root={json.dumps(str(root / 'data'))}",
                             f"out={json.dumps(str(root / 'run'))}", "model.base_width=4", "model.depth=3",
                             "train.batch_size=4", 'train.device="cpu"', "train.iterations_per_epoch=4",
                             "train.epochs=2", "train.lr=0.01"])
    train(cfg)
    return root / "run"


@pytest.fixture(scope="module")
def bundle(run: Path) -> Path:
    return export_bundle(run, run.parent / "out" / "model.medunet").model


def test_bundle_predicts_bit_for_bit_like_the_run(run: Path, bundle: Path) -> None:
    ref = Predictor.from_run(run, device="cpu")
    got = Predictor.from_checkpoint(load_bundle(bundle), device="cpu")
    ref_state, got_state = ref.model.state_dict(), got.model.state_dict()
    assert list(got_state) == list(ref_state)
    assert all(torch.equal(got_state[k], v) and got_state[k].dtype == v.dtype for k, v in ref_state.items())
    assert got.labels == ref.labels and got.binary_255 is ref.binary_255 is True
    assert got.plan == ref.plan
    for f in sorted((run.parent / "inputs").iterdir()):
        assert np.array_equal(got.predict_proba(f), ref.predict_proba(f)), f.name
    out_ref = ref.predict_files(sorted((run.parent / "inputs").iterdir()), run.parent / "p_ref", tta=False)
    out_got = got.predict_files(sorted((run.parent / "inputs").iterdir()), run.parent / "p_got", tta=False)
    for a, b in zip((c.mask for c in out_ref), (c.mask for c in out_got), strict=True):
        assert a.name == b.name and np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


def test_bundle_holds_plain_data_and_a_checked_manifest(run: Path, bundle: Path) -> None:
    ckpt = load_checkpoint(run / "best.pt")
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read("manifest.json"))
        assert {"manifest.json", "plan.json", "config.json", "labels.json", "state.json",
                "model_card.md"} <= names and "model.onnx" not in names
        assert {n for n in names if n.startswith("weights/")} == {f"weights/{k}.npy" for k in ckpt["model"]}
        for name, entry in manifest["entries"].items():
            data = zf.read(name)
            assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        arr = np.load(io.BytesIO(zf.read(f"weights/{next(iter(ckpt['model']))}.npy")), allow_pickle=False)
        assert np.array_equal(arr, next(iter(ckpt["model"].values())).numpy())
        assert zf.read("model_card.md").decode() == (run / "model_card.md").read_text()
    assert manifest["format"] == "medunet-bundle" and manifest["version"] == 1
    assert manifest["medunet_version"] == __version__ and manifest["tensors"] == list(ckpt["model"])
    assert set(manifest["entries"]) == names - {"manifest.json"}

    data = load_bundle(bundle)
    def as_json(d: object) -> object:
        return json.loads(json.dumps(d))  # tuples become lists

    assert data["plan"] == as_json(ckpt["plan"]) and data["config"] == as_json(ckpt["config"])
    assert data["labels"] == ckpt["labels"] == {"0": "background", "1": "class_1"}
    assert data["binary_255"] is True and data["state"]["best_epoch"] == ckpt["state"]["best_epoch"]
    assert data["model_card"] == (run / "model_card.md").read_text()
    # the same run gives the same bytes (fixed timestamps, ordered entries)
    again = export_model(run, bundle.parent / "again.medunet", format="bundle")
    assert isinstance(again, BundleResult) and again.model.read_bytes() == bundle.read_bytes()
    assert not [p for p in bundle.parent.iterdir() if p.name.startswith(".tmp-")]


def test_bundle_with_onnx_graph(run: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    res = export_bundle(run, tmp_path / "m.medunet", onnx=True, checkpoint="last")
    assert "model.onnx" in res.entries and res.onnx_max_abs_diff is not None and res.onnx_max_abs_diff < 1e-4
    (tmp_path / "m.onnx").write_bytes(read_bundle(res.model)["model.onnx"])
    ort = Predictor.from_run(tmp_path / "m.onnx")
    img = np.random.default_rng(1).uniform(0, 255, (40, 52)).astype(np.float32)
    ref = Predictor.from_run(run, device="cpu", checkpoint="last")
    np.testing.assert_allclose(ort.predict_proba(img, tta=False), ref.predict_proba(img, tta=False), atol=1e-5)


def test_export_bundle_refuses_bad_output_and_missing_run(run: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"must end in \.medunet"):
        export_bundle(run, tmp_path / "m.zip")
    with pytest.raises(FileNotFoundError, match="run folder not found"):
        export_bundle(tmp_path / "nope", tmp_path / "m.medunet")
    with pytest.raises(ValueError, match="unknown export format"):
        export_model(run, tmp_path / "m.medunet", format="tflite")
    assert list(tmp_path.iterdir()) == []


# --- crafted archives ---------------------------------------------------------------------------------


def _craft(bundle: Path, out: Path, edit: Callable[[dict[str, bytes]], object], rehash: bool = True) -> Path:
    """A copy of ``bundle`` with ``edit`` applied to its entries; ``rehash`` makes the manifest
    list and hash the edited entries, so that only the check under test can catch the edit."""
    with zipfile.ZipFile(bundle) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    edit(entries)
    if rehash:
        manifest = json.loads(entries["manifest.json"])
        manifest["entries"] = {n: {"sha256": hashlib.sha256(b).hexdigest(), "size": len(b)}
                               for n, b in entries.items() if n != "manifest.json"}
        entries["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(out, "w") as zf:
        for n, b in entries.items():
            zf.writestr(n, b)
    return out


class _Payload:
    """Unpickling this creates the folder ``path``: proof that code in a pickle ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        return os.mkdir, (str(self.path),)


def _first_weight(entries: dict[str, bytes]) -> str:
    return next(n for n in entries if n.startswith("weights/"))


def test_pickle_payloads_are_refused_and_never_run(bundle: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    def raw_pickle(e: dict[str, bytes]) -> None:
        e[_first_weight(e)] = pickle.dumps(_Payload(marker))

    def object_array(e: dict[str, bytes]) -> None:
        buf = io.BytesIO()
        np.save(buf, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
        e[_first_weight(e)] = buf.getvalue()

    for edit in (raw_pickle, object_array):
        crafted = _craft(bundle, tmp_path / f"{edit.__name__}.medunet", edit)
        with pytest.raises(ValueError) as exc:
            load_bundle(crafted)
        assert not marker.exists(), f"{edit.__name__}: the pickle ran"
        assert "refused" in str(exc.value) and str(crafted) in str(exc.value) and "\n" not in str(exc.value)
    assert pickle.loads(pickle.dumps(_Payload(marker))) is None and marker.is_dir()  # the payload is live


def _rename(e: dict[str, bytes], old: str, new: str) -> None:
    e[new] = e.pop(old)


CRAFTED: dict[str, tuple[Callable[[dict[str, bytes]], object], bool, str]] = {
    "zip-slip name": (lambda e: _rename(e, "config.json", "../config.json"), True, "refused bundle entry"),
    "absolute name": (lambda e: _rename(e, "model_card.md", "/tmp/model_card.md"), True, "refused bundle entry"),
    "weight name escaping": (lambda e: e.update({"weights/../../x.npy": e[_first_weight(e)]}), True,
                             "refused bundle entry"),
    "missing entry": (lambda e: e.pop("plan.json"), False, r"missing: \['plan.json'\]"),
    "missing and unlisted": (lambda e: e.pop("plan.json"), True, "lacks"),
    "extra entry": (lambda e: e.update({"model.onnx": b"x"}), False, r"not listed: \['model.onnx'\]"),
    "weight not in tensors": (lambda e: e.update({"weights/extra.npy": e[_first_weight(e)]}), True,
                              "tensors list"),
    "bad hash": (lambda e: e.update({_first_weight(e): e[_first_weight(e)][:-4] + b"\0\0\0\1"}), False,
                 "SHA-256"),
    "not a bundle manifest": (lambda e: e.update({"manifest.json": b'{"format": "other"}'}), False,
                              "not a medunet bundle"),
    "newer version": (lambda e: e.update({"manifest.json": e["manifest.json"].replace(
        b'"version": 1', b'"version": 99')}), False, "upgrade"),
}


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_archives_are_refused_naming_the_file(bundle: Path, tmp_path: Path, case: str) -> None:
    edit, rehash, message = CRAFTED[case]
    crafted = _craft(bundle, tmp_path / "crafted.medunet", edit, rehash)
    with pytest.raises(ValueError, match=message) as exc:
        load_bundle(crafted)
    assert str(crafted) in str(exc.value) and "\n" not in str(exc.value)


def test_duplicate_entry_names_are_refused(bundle: Path, tmp_path: Path) -> None:
    crafted = tmp_path / "dup.medunet"
    crafted.write_bytes(bundle.read_bytes())
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(crafted, "a") as zf:
        zf.writestr("labels.json", json.dumps({"labels": {"0": "a", "1": "b"}, "binary_255": False}))
    with pytest.raises(ValueError, match="entry name twice") as exc:
        load_bundle(crafted)
    assert str(crafted) in str(exc.value)


def test_untouched_copy_loads(bundle: Path, tmp_path: Path) -> None:
    """The crafting helper itself leaves a valid bundle: the refusals above come from the edits."""
    copy = _craft(bundle, tmp_path / "copy.medunet", lambda e: None)
    assert load_bundle(copy)["labels"] == load_bundle(bundle)["labels"]


def test_non_zip_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "m.medunet").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="not a readable zip archive") as exc:
        load_bundle(tmp_path / "m.medunet")
    assert str(tmp_path / "m.medunet") in str(exc.value) and "\n" not in str(exc.value)
    (tmp_path / "p.medunet").write_bytes(pickle.dumps({"model": {}}))
    with pytest.raises(ValueError, match="not a readable zip archive"):
        load_bundle(tmp_path / "p.medunet")
    with pytest.raises(FileNotFoundError, match="bundle not found"):
        load_bundle(tmp_path / "absent.medunet")


def test_write_bundle_refuses_unstorable_weights(run: Path, tmp_path: Path) -> None:
    ckpt = load_checkpoint(run / "best.pt")
    key = next(iter(ckpt["model"]))
    with pytest.raises(ValueError, match="bfloat16"):
        write_bundle({**ckpt, "model": {**ckpt["model"], key: ckpt["model"][key].bfloat16()}},
                     tmp_path / "m.medunet")
    with pytest.raises(ValueError, match="entry names"):
        write_bundle({**ckpt, "model": {"../evil": ckpt["model"][key]}}, tmp_path / "m.medunet")
    assert list(tmp_path.iterdir()) == []
