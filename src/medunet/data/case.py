"""The unit every stage consumes: one case (its image files in channel order and its mask).

Whatever the layout on disk (medunet's ``images/`` + ``masks/``, nnU-Net v2's ``imagesTr/`` +
``labelsTr/``, the Decathlon's ``dataset.json`` listing), discovery ends in :class:`Case` objects,
so nothing downstream needs to know the layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from medunet.io import ImageMeta, read_images


@dataclass(frozen=True)
class Case:
    """One image and its (optional) mask.

    Parameters
    ----------
    case_id : str
        The case's name (the image's file stem, without a ``_0000`` channel suffix); unique
        within a split.
    image : Path
    mask : Path or None
        ``None`` for prediction-only inputs.
    split : str
        ``"train"``, ``"val"``, ``"test"`` or ``"all"`` (unsplit dataset).
    channels : tuple of Path
        Further channel files of a multi-channel case (``_0001``, ``_0002``, ...) in order;
        ``image`` is then the ``_0000`` file. Empty for single-file cases (a 4D NIfTI file
        holds all its channels itself).
    """

    case_id: str
    image: Path
    mask: Path | None
    split: str
    channels: tuple[Path, ...] = ()

    @property
    def image_files(self) -> tuple[Path, ...]:
        """Every image file of the case in channel order."""
        return (self.image, *self.channels)


def read_case_image(case: Case) -> tuple[np.ndarray, ImageMeta]:
    """Read every channel file of ``case`` as one ``(C, *S)`` float32 image.

    Raises
    ------
    ValueError
        A file is unreadable, or the channels differ in size or geometry.
    """
    return read_images(case.image_files)
