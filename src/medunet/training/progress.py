"""A tqdm progress display for training, for the CLI (library code only logs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm

from medunet.training.state import Callbacks


@contextmanager
def progress_callbacks(enabled: bool = True) -> Iterator[Callbacks]:
    """Callbacks drawing one bar per epoch (loss) and one line per validation (Dice)."""
    if not enabled:
        yield Callbacks()
        return
    bar: dict[str, Any] = {}

    def on_step(epoch: int, it: int, iters: int, loss: float) -> None:
        if "bar" not in bar or bar.get("epoch") != epoch:
            if "bar" in bar:
                bar["bar"].close()
            bar["bar"] = tqdm(total=iters, desc=f"epoch {epoch + 1}", leave=False, dynamic_ncols=True,
                              initial=it - 1)
            bar["epoch"] = epoch
        bar["bar"].update(1)
        bar["bar"].set_postfix(loss=f"{loss:.3f}")

    def on_epoch(row: dict[str, Any]) -> None:
        if "bar" in bar:
            bar.pop("bar").close()
        dice = " ".join(f"{k[9:]}={v:.3f}" for k, v in row.items()
                        if k.startswith("val_dice_") and k != "val_dice_fg_case_present")
        tqdm.write(f"epoch {row['epoch']:>3}  loss {row['train_loss']:.4f}  val Dice {dice}  "
                   f"lr {row['lr']:.2e}  {row['elapsed'] / 60:.1f} min")

    try:
        yield Callbacks(on_step=on_step, on_epoch=on_epoch)
    finally:
        if "bar" in bar:
            bar["bar"].close()
