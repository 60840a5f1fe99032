"""ONNX export: parity with PyTorch, the sidecar, onnxruntime predictions equal to PyTorch's, bad inputs."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medunet import export as export_mod
from medunet.cli import main
from medunet.config import Config
from medunet.export import ExportResult, export_onnx
from medunet.inference.predictor import Predictor
from medunet.training import train

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

#: prediction inputs: whole-image path, odd sizes (padding), and one large enough for sliding windows
SIZES = [(32, 32), (45, 61), (20, 150), (100, 90)]


def _disc(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[: size[0], : size[1]]
    cy, cx = rng.uniform(0.3, 0.7) * size[0], rng.uniform(0.3, 0.7) * size[1]
    mask = ((yy - cy) ** 2 + (xx - cx) ** 2 <= (0.25 * min(size)) ** 2).astype(np.uint8)
    img = np.clip(60 + 120 * mask + rng.normal(0, 20, size), 0, 255).astype(np.uint8)
    return img, mask


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export")
    rng = np.random.default_rng(0)
    for split, n in (("train", 8), ("val", 3)):
        for d in ("images", "masks"):
            (root / "data" / split / d).mkdir(parents=True)
        for i in range(n):
            img, mask = _disc(rng, (32, 32))
            Image.fromarray(img).save(root / "data" / split / "images" / f"c{i}.png")
            Image.fromarray(mask * 255).save(root / "data" / split / "masks" / f"c{i}.png")
    (root / "inputs").mkdir()
    for i, size in enumerate(SIZES):
        Image.fromarray(_disc(rng, size)[0]).save(root / "inputs" / f"x{i}.png")
    cfg = Config().override([f"data.root={json.dumps(str(root / 'data'))}",
                             f"out={json.dumps(str(root / 'run'))}", "model.base_width=4", "model.depth=3",
                             "train.batch_size=4", 'train.device="cpu"', "train.iterations_per_epoch=6",
                             "train.epochs=2", "train.lr=0.01"])
    train(cfg)
    return root / "run"


@pytest.fixture(scope="module")
def exported(run: Path) -> ExportResult:
    return export_onnx(run, run.parent / "onnx" / "model.onnx")


def test_export_parity_sidecar_and_dynamic_axes(exported: ExportResult, run: Path) -> None:
    import onnx

    assert exported.max_abs_diff < 1e-4
    assert exported.opset == 17 and exported.sidecar.name == "model.onnx.json"
    assert [s[0] for s in exported.parity_shapes] == [1, 2]
    doc = json.loads(exported.sidecar.read_text())
    assert doc["format"] == "medunet-onnx" and doc["opset"] == 17
    assert doc["labels"] == {"0": "background", "1": "class_1"} and doc["binary_255"] is True
    assert (doc["in_channels"], doc["num_classes"], doc["divisor"]) == (1, 2, 4)
    assert doc["normalization"] == "zscore" and doc["patch_size"] == [32, 32]
    assert doc["parity"]["max_abs_logit_diff"] == exported.max_abs_diff
    assert doc["medunet_version"]
    proto = onnx.load(str(exported.model))
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 1, "s0", "s1"]
    assert any(p.key == "medunet" for p in proto.metadata_props)
    assert not [p for p in exported.model.parent.iterdir() if p.name.startswith(".tmp-")]


def test_onnx_masks_equal_pytorch_masks(exported: ExportResult, run: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    inputs = run.parent / "inputs"
    assert main(["predict", str(run), str(inputs), "--out", str(tmp_path / "pt"), "--device", "cpu"]) == 0
    assert main(["predict", str(exported.model), str(inputs), "--out", str(tmp_path / "ort")]) == 0
    pt = Predictor.from_run(run, device="cpu")
    total = differ = 0
    for f in sorted(inputs.iterdir()):
        a = np.asarray(Image.open(tmp_path / "pt" / f.name))
        b = np.asarray(Image.open(tmp_path / "ort" / f.name))
        assert a.shape == b.shape == np.asarray(Image.open(f)).shape and a.dtype == b.dtype
        assert set(np.unique(b)) <= {0, 255}
        total += a.size
        diff = a != b
        if diff.any():
            top2 = np.sort(pt.predict_proba(f), axis=0)[-2:]
            assert np.all(top2[1][diff] - top2[0][diff] < 1e-4), f"{f.name}: a mask differs off the boundary"
        differ += int(diff.sum())
    print(f"ONNX vs PyTorch: {differ} of {total} mask pixels differ")
    assert differ <= 1e-5 * total


def test_onnx_predictor_probabilities_and_tta_match(exported: ExportResult, run: Path) -> None:
    pt = Predictor.from_run(run, device="cpu")
    ort = Predictor.from_run(exported.model)
    img = np.random.default_rng(3).uniform(0, 255, (77, 140)).astype(np.float32)
    for tta in (False, True):
        np.testing.assert_allclose(ort.predict_proba(img, tta=tta), pt.predict_proba(img, tta=tta), atol=1e-5)


def test_model_without_sidecar_uses_embedded_metadata(exported: ExportResult, tmp_path: Path) -> None:
    alone = tmp_path / "copy.onnx"
    shutil.copy(exported.model, alone)
    pred = Predictor.from_run(alone)
    assert pred.labels.names == ("background", "class_1") and pred.binary_255 is True


def test_cli_export_reports_parity(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.onnx"
    assert main(["export", str(run), "--format", "onnx", "--out", str(out)]) == 0
    assert out.is_file() and (tmp_path / "m.onnx.json").is_file()
    assert "max |logit difference|" in capsys.readouterr().out


@pytest.mark.parametrize("args", [
    ["--format", "tflite", "--out", "m.onnx"],
    ["--out", "m.txt"],
])
def test_cli_export_bad_options_exit_2(run: Path, tmp_path: Path, args: list[str],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(tmp_path / a) if a.startswith("m.") else a for a in args]
    assert main(["export", str(run), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_cli_export_missing_run_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(tmp_path / "nope"), "--out", str(tmp_path / "m.onnx")]) == 2
    assert str(tmp_path / "nope") in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_failed_parity_writes_nothing(run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_mod, "max_logit_difference", lambda *a, **k: 0.5)
    with pytest.raises(ValueError, match="parity check failed"):
        export_onnx(run, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_predict_bad_onnx_files_exit_2(exported: ExportResult, run: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    inputs = str(run.parent / "inputs")
    assert main(["predict", str(bad), inputs, "--out", str(tmp_path / "o")]) == 2
    assert str(bad) in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "missing.onnx"), inputs, "--out", str(tmp_path / "o")]) == 2
    side = tmp_path / "model.onnx"
    shutil.copy(exported.model, side)
    (tmp_path / "model.onnx.json").write_text("{broken")
    assert main(["predict", str(side), inputs, "--out", str(tmp_path / "o")]) == 2
    assert "model.onnx.json" in capsys.readouterr().err


def test_missing_onnxruntime_names_the_extra(exported: ExportResult, run: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert main(["predict", str(exported.model), str(run.parent / "inputs"), "--out", str(tmp_path)]) == 2
    assert "pip install 'medunet[onnx]'" in capsys.readouterr().err


def test_evaluate_an_onnx_model_on_a_split(exported: ExportResult, run: Path, tmp_path: Path) -> None:
    data = run.parent / "data"
    assert main(["evaluate", str(exported.model), "--data", str(data), "--split", "val",
                 "--out", str(tmp_path / "ort")]) == 0
    assert main(["evaluate", str(run), "--data", str(data), "--split", "val", "--device", "cpu",
                 "--out", str(tmp_path / "pt")]) == 0
    ort, pt = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("ort", "pt"))
    assert ort["pooled"]["confusion_matrix"] == pt["pooled"]["confusion_matrix"]
