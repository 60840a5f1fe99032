"""A tqdm progress display for training, for the CLI (library code only logs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm

from medunet.training.state import Callbacks, LogRow


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

    def on_epoch(row: LogRow) -> None:
        if "bar" in bar:
            bar.pop("bar").close()
        dice = " ".join(f"{name}={v:.3f}" for name, v in {"fg": row.val_dice_fg, **row.val_dice}.items())
        tqdm.write(f"epoch {row.epoch:>3}  loss {row.train_loss:.4f}  val Dice {dice}  "
                   f"lr {row.lr:.2e}  {row.elapsed / 60:.1f} min")

    try:
        yield Callbacks(on_step=on_step, on_epoch=on_epoch)
    finally:
        if "bar" in bar:
            bar["bar"].close()
