"""``medunet demo``: train on the bundled sample (real brain MRI slices), evaluate, report."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from medunet.config import Config
from medunet.evaluation.arrays import Evaluation
from medunet.evaluation.run import evaluate_run
from medunet.training import Callbacks, TrainResult, train

log = logging.getLogger(__name__)

SAMPLE = "colin27_brain"


def sample_dataset() -> Path:
    """Folder of the bundled sample: Colin27 T1 MRI slices with brain masks (see its NOTICE)."""
    root = Path(str(resources.files("medunet") / "sample" / SAMPLE))
    if not (root / "train").is_dir():
        raise FileNotFoundError(f"{root}: bundled sample data missing; reinstall medunet")
    return root


@dataclass
class DemoResult:
    """Where the demo left its outputs."""

    run: TrainResult
    evaluation: Evaluation
    report: Path


def run_demo(out: str | os.PathLike[str] = "medunet-demo", *, time_budget: float = 2.5,
             callbacks: Callbacks | None = None) -> DemoResult:
    """Train a U-Net on the sample for ``time_budget`` minutes, evaluate it on the sample's test
    split and write the report to ``out/test_report/report.html``.

    An existing demo folder is replaced.
    """
    out = Path(out)
    data = sample_dataset()
    cfg = Config().override([
        f"data.root={json.dumps(str(data))}",
        f"out={json.dumps(str(out / 'run'))}",
        f"train.time_budget={time_budget}",
    ])
    summary = train(cfg, overwrite=True, callbacks=callbacks)
    ev = evaluate_run(out / "run", data, out / "test_report", split="test")
    return DemoResult(summary, ev, out / "test_report" / "report.html")
