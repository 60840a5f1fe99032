"""The ``medunet inspect`` and ``medunet evaluate`` commands, in-process, end to end."""

from __future__ import annotations

import argparse
import errno
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from medunet.cli import COMMANDS, main
from medunet.errors import DatasetError, Problem, TrainingDiverged


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


# --- inspect ------------------------------------------------------------------------------------


def test_inspect_valid_dataset_writes_json(tmp_path: Path, make_dataset: Callable[..., Path],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    root = make_dataset(tmp_path / "d", n=2, classes=3)
    out = tmp_path / "summary.json"
    assert main(["inspect", str(root), "--json", str(out)]) == 0
    err = capsys.readouterr().err
    assert _errors(err) == [] and "Traceback" not in err
    doc = json.loads(out.read_text())
    assert doc["splits"] == {s: {"cases": 2, "with_foreground": 2} for s in ("train", "val", "test")}
    assert doc["labels"] == {"0": "background", "1": "class_1", "2": "class_2"}
    assert doc["labels_declared"] is False and doc["problems"] == []
    assert doc["shapes"] == {"32x40": 6} and doc["channels"] == {"1": 6}


def test_inspect_declared_labels_and_names(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(tmp_path / "d", splits=None, n=2)
    out = tmp_path / "s.json"
    assert main(["inspect", str(root), "--labels", "0,1", "--label-names", "bg,cell",
                 "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["labels"] == {"0": "bg", "1": "cell"} and doc["labels_declared"] is True


def test_inspect_problems_exit_2_and_json_lists_them(
    tmp_path: Path, make_dataset: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_dataset(tmp_path / "d", splits=None, n=3)
    (root / "masks" / "case_01.png").unlink()
    out = tmp_path / "s.json"
    assert main(["inspect", str(root), "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = _errors(err)
    assert line.startswith(f"error: {root / 'images' / 'case_01.png'}: ")
    doc = json.loads(out.read_text())
    assert len(doc["problems"]) == 1 and doc["splits"]["all"]["cases"] == 2


def test_inspect_missing_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert _errors(err) == [f"error: {tmp_path / 'nope'}: dataset folder does not exist; check the path"]
    assert "Traceback" not in err


def test_inspect_bad_dataset_json(tmp_path: Path, make_dataset: Callable[..., Path],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    root = make_dataset(tmp_path / "d", splits=None, n=1)
    (root / "dataset.json").write_text("{broken")
    assert main(["inspect", str(root)]) == 2
    err = capsys.readouterr().err
    (line,) = _errors(err)
    assert str(root / "dataset.json") in line and "Traceback" not in err


@pytest.mark.parametrize("bad", ["a,b", "0,1.5", "x"])
def test_bad_labels_argument_exits_2(tmp_path: Path, bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["inspect", str(tmp_path), "--labels", bad])
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_labels_with_a_gap_exit_2(tmp_path: Path, make_dataset: Callable[..., Path],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    root = make_dataset(tmp_path / "d", splits=None, n=1)
    assert main(["inspect", str(root), "--labels", "0,2"]) == 2
    assert len(_errors(capsys.readouterr().err)) == 1


def test_inspect_real_sample(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    assert main(["inspect", str(shared_data / "dsb_nuclei"), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["labels_declared"] is True and len(doc["labels"]) == 2
    assert {s: v["cases"] for s, v in doc["splits"].items()} == {"train": 8, "val": 4, "test": 4}
    assert doc["shapes"] == {"128x128": 16}


# --- evaluate -----------------------------------------------------------------------------------


def _pred_ref(root: Path, write_png: Callable, n: int = 3) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    for i in range(n):
        ref = np.zeros((16, 20), np.uint8)
        ref[3:12, 4:15] = 1
        pred = ref.copy()
        pred[rng.random(ref.shape) < 0.1] ^= 1
        write_png(root / "ref" / f"c{i}_mask.png", ref)
        write_png(root / "pred" / f"c{i}.png", pred)
        write_png(root / "img" / f"c{i}.png", (ref * 100 + 20).astype(np.uint8))
    return root / "pred", root / "ref"


def test_evaluate_writes_the_report(tmp_path: Path, write_png: Callable,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    pred, ref = _pred_ref(tmp_path, write_png)
    out = tmp_path / "eval"
    code = main(["evaluate", str(pred), str(ref), "--out", str(out), "--labels", "0,1",
                 "--label-names", "bg,organ", "--images", str(tmp_path / "img")])
    assert code == 0, capsys.readouterr().err
    assert {p.name for p in out.iterdir()} >= {"metrics.json", "metrics.csv", "report.html"}
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["labels"] == {"0": "bg", "1": "organ"} and doc["num_cases"] == 3
    assert [r["case"] for r in doc["per_case"]] == ["c0", "c1", "c2"]
    assert 0.8 < doc["pooled"]["accuracy"] < 1.0
    assert len((out / "metrics.csv").read_text().splitlines()) == 4
    assert (out / "report.html").stat().st_size > 0


def test_evaluate_problems_exit_2(tmp_path: Path, write_png: Callable,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    pred, ref = _pred_ref(tmp_path, write_png)
    (pred / "c0.png").unlink()
    write_png(pred / "extra.png", np.zeros((16, 20), np.uint8))
    write_png(pred / "c1.png", np.full((16, 20), 3, np.uint8))
    out = tmp_path / "eval"
    assert main(["evaluate", str(pred), str(ref), "--out", str(out), "--labels", "0,1"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    # pairing is checked first, every unpaired file at once
    named = sorted(line.split(": ")[1] for line in _errors(err))
    assert named == sorted([str(ref / "c0_mask.png"), str(pred / "extra.png")])
    assert not (out / "metrics.json").exists()
    # then the contents
    (pred / "extra.png").rename(pred / "c0.png")
    assert main(["evaluate", str(pred), str(ref), "--out", str(out), "--labels", "0,1"]) == 2
    (line,) = _errors(capsys.readouterr().err)
    assert line.startswith(f"error: {pred / 'c1.png'}: ") and "[3]" in line
    assert not (out / "metrics.json").exists()


def test_evaluate_without_ref_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pred").mkdir()
    assert main(["evaluate", str(tmp_path / "pred"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert len(_errors(err)) == 1 and "Traceback" not in err


def test_evaluate_missing_out_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(tmp_path), str(tmp_path)])
    assert exc.value.code == 2


def test_evaluate_bad_labels_argument(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(tmp_path), str(tmp_path), "--out", str(tmp_path / "o"), "--labels", "a,b"])
    assert exc.value.code == 2


def test_evaluate_lesions_intervals_and_the_headline(tmp_path: Path, write_png: Callable,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    pred, ref = _pred_ref(tmp_path, write_png)
    out = tmp_path / "eval"
    assert main(["evaluate", str(pred), str(ref), "--out", str(out), "--bootstrap", "300",
                 "--seed", "3", "--ci-method", "percentile", "--ci-level", "0.9",
                 "--lesion-iou", "0.5", "--min-lesion-size", "2", "--nsd-tolerance", "2",
                 "--hd-convention", "max_directed", "--nsd-surface", "surfel"]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    ci = doc["confidence_intervals"]["pooled.foreground_dice"]
    assert (ci["method"], ci["level"], ci["n_resamples"], ci["seed"], ci["reliable"]) == (
        "percentile", 0.9, 300, 3, False)
    assert doc["lesions"]["settings"]["iou_threshold"] == 0.5
    assert doc["lesions"]["settings"]["min_size"] == 2.0
    assert doc["distance_conventions"] == {"hd95": "max_directed", "nsd_surface": "surfel",
                                           "nsd_tolerance": 2.0}
    assert (out / "lesions.csv").is_file()
    lines = capsys.readouterr().out.splitlines()
    # the headline: CIs beside both foreground Dice values, flagged (3 cases); one lesion line
    (dice_line,) = [ln for ln in lines if ln.startswith("foreground Dice")]
    mc = doc["confidence_intervals"]["mean_case.foreground_dice"]
    mean_part, pooled_part = dice_line.split(", pooled ")
    assert f"90% CI {mc['low']:.4f}–{mc['high']:.4f}, unreliable: only 3 cases" in mean_part
    assert f"90% CI {ci['low']:.4f}–{ci['high']:.4f}, unreliable: only 3 cases" in pooled_part
    pooled = doc["lesions"]["pooled"]["class_1"]
    (lesion_line,) = [ln for ln in lines if ln.startswith("lesions:")]
    assert f"TP {pooled['tp']} FP {pooled['fp']} FN {pooled['fn']}" in lesion_line
    assert f"note: {doc['notes'][0]}" in lines


def test_evaluate_without_lesions_or_bootstrap_and_by_group(tmp_path: Path, write_png: Callable) -> None:
    pred, ref = _pred_ref(tmp_path, write_png)
    out = tmp_path / "eval"
    assert main(["evaluate", str(pred), str(ref), "--out", str(out), "--no-lesions",
                 "--bootstrap", "0"]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert "lesions" not in doc and "confidence_intervals" not in doc
    assert not (out / "lesions.csv").exists()
    assert main(["evaluate", str(pred), str(ref), "--out", str(out), "--group-by", r"^c(\d)"]) == 0
    ci = json.loads((out / "metrics.json").read_text())["confidence_intervals"]["pooled.f1"]
    assert (ci["unit"], ci["n_units"]) == ("group", 3)


def test_evaluate_passes_the_geometry_and_group_options(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import medunet.evaluation
    from medunet.data.labels import LabelSet
    from medunet.evaluation.arrays import evaluate_arrays

    seen: dict[str, object] = {}

    def fake(*args: object, **kwargs: object) -> object:
        seen.update(kwargs)
        return evaluate_arrays([], LabelSet.from_count(2))

    monkeypatch.setattr(medunet.evaluation, "evaluate", fake)
    assert main(["evaluate", str(tmp_path), str(tmp_path), "--out", str(tmp_path / "o"),
                 "--resample-to-reference", "--group-by", "^(p)", "--no-lesions"]) == 0
    assert (seen["geometry"], seen["group_by"], seen["lesions"]) == ("resample", "^(p)", None)
    assert main(["evaluate", str(tmp_path), str(tmp_path), "--out", str(tmp_path / "o")]) == 0
    assert (seen["geometry"], seen["group_by"]) == ("check", None)


@pytest.mark.parametrize("option", [["--ci-level", "1.5"], ["--bootstrap", "-1"],
                                    ["--lesion-iou", "1.0"], ["--group-by", "("],
                                    ["--nsd-tolerance", "-1"]])
def test_evaluate_bad_metric_options_exit_2(tmp_path: Path, write_png: Callable, option: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    pred, ref = _pred_ref(tmp_path, write_png)
    assert main(["evaluate", str(pred), str(ref), "--out", str(tmp_path / "o"), *option]) == 2
    assert len(_errors(capsys.readouterr().err)) == 1
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_compare_command(tmp_path: Path, write_png: Callable, capsys: pytest.CaptureFixture[str]) -> None:
    pred, ref = _pred_ref(tmp_path, write_png)
    for i in range(3):  # a second method: the reference with one row cut off
        mask = np.zeros((16, 20), np.uint8)
        mask[3:11, 4:15] = 1
        write_png(tmp_path / "other" / f"c{i}.png", mask)
    out = tmp_path / "cmp"
    assert main(["compare", str(pred), str(tmp_path / "other"), str(ref), "--out", str(out),
                 "--names", "noisy,cut", "--metric", "dice.class_1", "--bootstrap", "300"]) == 0
    doc = json.loads((out / "compare.json").read_text())
    assert doc["metric"] == "dice.class_1" and list(doc["methods"]) == ["noisy", "cut"]
    (pair,) = doc["comparisons"]
    assert (pair["method_a"], pair["method_b"], pair["n_cases"]) == ("noisy", "cut", 3)
    assert pair["mean_difference"]["n_resamples"] == 300
    assert {p.name for p in out.iterdir()} == {"compare.json", "compare.csv", "report.html"}
    assert "cut vs noisy" in capsys.readouterr().out
    assert main(["compare", str(pred), str(ref), "--out", str(out)]) == 2  # one method only
    assert main(["compare", str(pred), str(pred), str(ref), "--out", str(out),
                 "--bootstrap", "0"]) == 2


def test_python_dash_m_runs_the_cli(tmp_path: Path, make_dataset: Callable[..., Path]) -> None:
    root = make_dataset(tmp_path / "d", n=1)
    out = tmp_path / "summary.json"
    proc = subprocess.run([sys.executable, "-m", "medunet", "inspect", str(root), "--json", str(out)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["splits"]["train"]["cases"] == 1
    bad = subprocess.run([sys.executable, "-m", "medunet", "inspect", str(tmp_path / "missing")],
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_inspect_label_names_rename_the_dataset_json_classes(
    tmp_path: Path, make_dataset: Callable[..., Path]
) -> None:
    root = make_dataset(tmp_path / "d", splits=None, n=1)
    (root / "dataset.json").write_text(json.dumps({"classes": {"0": "background", "1": "nucleus"}}))
    out = tmp_path / "s.json"
    assert main(["inspect", str(root), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["labels"] == {"0": "background", "1": "nucleus"}
    assert main(["inspect", str(root), "--label-names", "bg,cell", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["labels"] == {"0": "bg", "1": "cell"} and doc["labels_declared"] is True


# --- dispatch and exit codes ---------------------------------------------------------------------


def _raising(exc: BaseException) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        raise exc
    return handler


@pytest.mark.parametrize(("exc", "code", "lines"), [
    (DatasetError([Problem(Path("a.png"), "bad"), Problem(Path("b.png"), "worse")]), 2,
     ["error: a.png: bad", "error: b.png: worse"]),
    (ValueError("x.png: wrong"), 2, ["error: x.png: wrong"]),
    (FileNotFoundError("run: not found"), 2, ["error: run: not found"]),
    (ImportError("onnxruntime is not installed"), 2, ["error: onnxruntime is not installed"]),
    (OSError(errno.ENOSPC, "No space left on device", "out/m.png"), 2,
     ["error: out/m.png: No space left on device; free some disk space and run again"]),
    (TrainingDiverged("losses are NaN"), 3, ["error: losses are NaN"]),
    (KeyboardInterrupt(), 130, ["interrupted"]),
], ids=["dataset", "value", "missing", "import", "disk-full", "diverged", "interrupted"])
def test_errors_become_exit_codes_and_one_line_each(
    exc: BaseException, code: int, lines: list[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(COMMANDS, "inspect", (COMMANDS["inspect"][0], _raising(exc)))
    assert main(["inspect", str(tmp_path)]) == code
    assert capsys.readouterr().err.splitlines() == lines


def test_verbose_shows_the_traceback_of_errors_but_not_of_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(COMMANDS, "inspect", (COMMANDS["inspect"][0], _raising(ValueError("boom"))))
    with pytest.raises(ValueError, match="boom"):
        main(["-v", "inspect", str(tmp_path)])
    problems = DatasetError([Problem(tmp_path, "bad")])
    monkeypatch.setitem(COMMANDS, "inspect", (COMMANDS["inspect"][0], _raising(problems)))
    assert main(["-v", "inspect", str(tmp_path)]) == 2


def test_a_bug_is_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(COMMANDS, "inspect", (COMMANDS["inspect"][0], _raising(KeyError("bug"))))
    with pytest.raises(KeyError):
        main(["inspect", str(tmp_path)])


def test_every_command_dispatches_to_its_own_handler(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    argv = {"inspect": [str(tmp_path)], "plan": [str(tmp_path)], "evaluate": [str(tmp_path), "--out", str(tmp_path)],
            "compare": [str(tmp_path)] * 3 + ["--out", str(tmp_path)],
            "train": [str(tmp_path), "--out", str(tmp_path)], "predict": [str(tmp_path)] * 2 + ["--out", "o"],
            "export": [str(tmp_path), "--out", "m.onnx"], "demo": []}
    assert set(argv) == set(COMMANDS)
    for i, name in enumerate(COMMANDS):
        monkeypatch.setitem(COMMANDS, name, (COMMANDS[name][0], lambda args, i=i: 40 + i))
    assert [main([name, *args]) for name, args in argv.items()] == [40 + i for i in range(len(argv))]
