"""nnU-Net v2's default trainer, its training length fitted to a wall-clock budget.

``benchmarks/nnunet_setup.sh`` copies this file into the nnU-Net venv as
``nnunetv2/training/nnUNetTrainer/variants/training_length/nnUNetTrainer_TimeBudget.py``, beside
nnU-Net's own ``nnUNetTrainer_Xepochs`` (which fix ``num_epochs`` by hand). It is not part of
medunet and is never imported by it.

Everything is nnU-Net's default (250 training and 50 validation iterations an epoch, SGD with
Nesterov momentum and the poly learning rate, its data augmentation, deep supervision, oversampling
of foreground) except the number of epochs:

* the budget is ``NNUNET_BENCH_BUDGET_MIN`` minutes (required), counted from the end of
  ``on_train_start`` (plans, network, data loaders and the unpacking of the preprocessed data are
  set up by then) to the end of the last epoch; the final validation and the export that
  ``nnUNetv2_train`` runs afterwards are outside it (the side-by-side script times the whole
  process as well);
* the first epoch runs with nnU-Net's default length (1000 epochs) planned - the poly rate of
  epoch 0 is the initial rate whatever the length - and its duration ``t0`` (training plus
  validation iterations) then fixes ``num_epochs = max(1, floor(budget / t0))``; the scheduler's
  ``max_steps`` is set to the same number, so the poly schedule is the one of a run planned with
  that length from the start and decays to (nearly) zero at the end of the budget;
* ``NNUNET_BENCH_EPOCH_ROUNDING=nearest`` uses ``round`` instead of ``floor`` (the run may then
  overrun the budget by up to half an epoch instead of leaving up to one epoch of it unused: with
  ~300 s epochs in a 15-minute budget, floor gives 2 or 3 epochs depending on a few seconds);
* a guard stops at an epoch end when the mean epoch so far would not fit in what is left of the
  budget (it only fires when epochs become slower than the first one, e.g. on a machine that got
  busy); then the schedule is cut short rather than the budget overrun.

Fitting the length once (instead of stopping on the wall clock alone) keeps nnU-Net's recipe
intact: the learning rate reaches its low end, which a plain wall-clock stop of a 1000-epoch
schedule never would.

``NNUNET_BENCH_SMOKE_ITERS=N`` (smoke tests only) sets ``num_iterations_per_epoch = N`` and
``num_val_iterations_per_epoch = max(1, N // 5)`` so that a 1-minute budget runs a few epochs; the
run's ``timebudget.json`` records ``"smoke": true``. Results of such runs are not nnU-Net's
recipe and must be labelled as smoke runs.

``NNUNET_BENCH_SKIP_FINAL_VALIDATION=1`` (speed measurements only) skips the validation of the
fold's cases that ``nnUNetv2_train`` runs after training.

The trainer writes ``<output_folder>/timebudget.json``: budget, planned and done epochs, iterations
per epoch, seconds of every epoch split into training and validation iterations, the part of the
training iterations spent waiting for augmented batches (``data_wait_seconds``: how far the
``nnUNet_n_proc_DA`` workers fall behind), seconds per training iteration, and why it stopped.
"""

import json
import math
import os
from os.path import join
from time import perf_counter

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

BUDGET_ENV = "NNUNET_BENCH_BUDGET_MIN"
SMOKE_ENV = "NNUNET_BENCH_SMOKE_ITERS"
SKIP_VAL_ENV = "NNUNET_BENCH_SKIP_FINAL_VALIDATION"
ROUNDING_ENV = "NNUNET_BENCH_EPOCH_ROUNDING"  # "floor" (default) or "nearest"


def _budget_seconds() -> float:
    raw = os.environ.get(BUDGET_ENV)
    if raw is None:
        raise ValueError(f"{BUDGET_ENV} is not set: export {BUDGET_ENV}=<minutes> before nnUNetv2_train "
                         "-tr nnUNetTrainer_TimeBudget")
    minutes = float(raw)
    if not minutes > 0:
        raise ValueError(f"{BUDGET_ENV}={raw}: the budget must be > 0 minutes")
    return 60.0 * minutes


class nnUNetTrainer_TimeBudget(nnUNetTrainer):
    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device('cuda')):  # noqa: B008 (nnU-Net's signature)
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.budget_seconds = _budget_seconds()
        self.rounding = os.environ.get(ROUNDING_ENV, "floor")
        if self.rounding not in ("floor", "nearest"):
            raise ValueError(f"{ROUNDING_ENV}={self.rounding}: use floor or nearest")
        smoke = os.environ.get(SMOKE_ENV)
        self.smoke = bool(smoke)
        if smoke:
            self.num_iterations_per_epoch = int(smoke)
            self.num_val_iterations_per_epoch = max(1, int(smoke) // 5)
        self.bench = {"budget_seconds": self.budget_seconds, "smoke": self.smoke, "rounding": self.rounding,
                      "num_iterations_per_epoch": self.num_iterations_per_epoch,
                      "num_val_iterations_per_epoch": self.num_val_iterations_per_epoch,
                      "batch_size": None, "patch_size": None, "first_epoch_seconds": None,
                      "num_epochs_planned": None, "epochs_done": 0, "train_seconds": 0.0,
                      "epoch_seconds": [], "train_iter_seconds": [], "val_iter_seconds": [],
                      "data_wait_seconds": [],
                      "stop": None}

    def _fit_length(self, elapsed: float) -> None:
        """After the first epoch: the number of epochs that fits the budget, and the poly LR's length."""
        self.bench["first_epoch_seconds"] = elapsed
        fit = math.floor if self.rounding == "floor" else round
        self.num_epochs = max(1, fit(self.budget_seconds / elapsed))
        self.lr_scheduler.max_steps = self.num_epochs
        self.bench["num_epochs_planned"] = self.num_epochs
        if elapsed > self.budget_seconds:
            self.bench["stop"] = "first_epoch_longer_than_budget"
        self.print_to_log_file(f"time budget {self.budget_seconds:.0f} s, first epoch {elapsed:.1f} s: "
                               f"num_epochs = {self.num_epochs}", also_print_to_console=True)

    def _guard(self, elapsed: float) -> None:
        """Stop at this epoch end when the mean epoch would not fit in the rest of the budget.

        With ``nearest`` rounding an epoch may overrun the budget by up to half an epoch.
        """
        done = self.current_epoch
        slack = 0.5 * elapsed / done if self.rounding == "nearest" else 0.0
        if done < self.num_epochs and elapsed + elapsed / done > self.budget_seconds + slack:
            self.print_to_log_file(f"time budget: stopping after {done} of {self.num_epochs} epochs "
                                   f"({elapsed:.1f} s, epochs slower than the first)",
                                   also_print_to_console=True)
            self.num_epochs = done
            self.bench["stop"] = "wall_clock_guard"

    def _write_bench(self) -> None:
        b = self.bench
        b["epochs_done"] = self.current_epoch
        iters = self.num_iterations_per_epoch * len(b["train_iter_seconds"])
        b["seconds_per_train_iteration"] = sum(b["train_iter_seconds"]) / iters if iters else None
        b["stop"] = b["stop"] or "epochs_done"
        if self.local_rank == 0:
            with open(join(self.output_folder, "timebudget.json"), "w") as f:
                json.dump(b, f, indent=2)

    def perform_actual_validation(self, save_probabilities: bool = False):
        if os.environ.get(SKIP_VAL_ENV):  # speed measurements only: no checkpoint is meant to be used
            self.print_to_log_file(f"{SKIP_VAL_ENV} set: final validation skipped", also_print_to_console=True)
            return
        super().perform_actual_validation(save_probabilities)

    def run_training(self):
        self.on_train_start()
        self.bench["batch_size"] = int(self.batch_size)
        self.bench["patch_size"] = [int(p) for p in self.configuration_manager.patch_size]
        start = perf_counter()
        while self.current_epoch < self.num_epochs:  # not range(): num_epochs changes after epoch 0
            t_epoch = perf_counter()
            self.on_epoch_start()
            self.on_train_epoch_start()
            train_outputs, wait = [], 0.0
            for _ in range(self.num_iterations_per_epoch):
                t_wait = perf_counter()
                batch = next(self.dataloader_train)  # time spent waiting for augmented batches
                wait += perf_counter() - t_wait
                train_outputs.append(self.train_step(batch))
            self.on_train_epoch_end(train_outputs)
            self.bench["data_wait_seconds"].append(wait)
            t_val = perf_counter()
            with torch.no_grad():
                self.on_validation_epoch_start()
                val_outputs = []
                for _ in range(self.num_val_iterations_per_epoch):
                    val_outputs.append(self.validation_step(next(self.dataloader_val)))
                self.on_validation_epoch_end(val_outputs)
            t_end = perf_counter()
            self.bench["train_iter_seconds"].append(t_val - t_epoch)
            self.bench["val_iter_seconds"].append(t_end - t_val)
            self.bench["epoch_seconds"].append(t_end - t_epoch)
            self.on_epoch_end()  # increments current_epoch
            elapsed = perf_counter() - start
            self.bench["train_seconds"] = elapsed
            if self.current_epoch == 1:
                self._fit_length(elapsed)
            self._guard(elapsed)
        self._write_bench()
        self.on_train_end()
