#!/usr/bin/env bash
# Separate venv with nnU-Net v2 (2.8.1) on the CPU build of torch 2.13.0, for
# benchmarks/nnunet_side_by_side.py. nnU-Net is never a dependency of medunet: this venv lives
# outside the repository.
#
#   bash benchmarks/nnunet_setup.sh [VENV]        (default /work/bench/nnunet-venv)
#
# Idempotent: a second run reinstalls nothing that is already there, re-applies the two patches
# (torchvision out, Primus trainers disabled) and re-copies the time-budget trainer.
# Install problems met on the way and their fixes: benchmarks/README_nnunet.md.
set -euo pipefail

VENV="${1:-/work/bench/nnunet-venv}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3.11}"
NNUNET_VERSION="2.8.1"
TORCH_VERSION="2.13.0"

if [ ! -x "$VENV/bin/python" ]; then
    echo "creating $VENV with $($PYTHON --version)"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"

# torch pinned through a constraints file, so that no dependency of nnU-Net can pull another torch
# (PyPI's Linux torch 2.13.0 is the CUDA build with ~3 GB of nvidia-* wheels; the CPU build
# 2.13.0+cpu is on this machine's local wheel directory, which pip's find-links already names,
# and pip prefers 2.13.0+cpu over 2.13.0 for the pin ==2.13.0).
CONSTRAINTS="$VENV/constraints-medunet-bench.txt"
echo "torch==$TORCH_VERSION" > "$CONSTRAINTS"
installed() {  # both pins already there? (then a second run installs nothing)
    "$PY" -c 'import importlib.metadata as md, sys
sys.exit(0 if md.version("nnunetv2") == sys.argv[1]
         and md.version("torch").split("+")[0] == sys.argv[2] else 1)' \
        "$NNUNET_VERSION" "$TORCH_VERSION" 2> /dev/null
}
if installed; then
    echo "nnunetv2==$NNUNET_VERSION and torch==$TORCH_VERSION already in $VENV"
else
    "$PY" -m pip install --quiet --upgrade pip
    "$PY" -m pip install -c "$CONSTRAINTS" "torch==$TORCH_VERSION" "nnunetv2==$NNUNET_VERSION"
fi

# torchvision: not a requirement of nnunetv2, but a dependency may bring it in; PyPI's build is made
# for the CUDA torch and fails to import beside the CPU torch. nnU-Net's own U-Net does not need it.
if "$PY" -m pip show torchvision > /dev/null 2>&1; then
    "$PY" -m pip uninstall --yes torchvision
fi

SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
NNUNET="$SITE/nnunetv2"
TRAINERS="$NNUNET/training/nnUNetTrainer"

# The Primus trainers import dynamic_network_architectures' Primus (a transformer that needs
# timm/torchvision). nnUNetv2_train finds trainers by importing every module under
# nnunetv2/training/nnUNetTrainer, so one broken import there breaks every trainer. The folder is
# moved aside (kept, renamed, so the patch is visible and reversible) - idempotently.
if [ -d "$TRAINERS/primus" ]; then
    rm -rf "$TRAINERS/primus.disabled-by-medunet-bench"
    mv "$TRAINERS/primus" "$TRAINERS/primus.disabled-by-medunet-bench"
    echo "disabled $TRAINERS/primus (renamed to primus.disabled-by-medunet-bench)"
fi

# The time-budget trainer (nnU-Net's default trainer with num_epochs fitted to a budget).
DEST="$TRAINERS/variants/training_length/nnUNetTrainer_TimeBudget.py"
cp "$HERE/nnunet_trainer_timebudget.py" "$DEST"
echo "installed $DEST"

# Checks: the CLI starts, every trainer module imports, torch is the CPU build 2.13.0.
"$VENV/bin/nnUNetv2_train" -h > /dev/null
"$PY" - <<'EOF'
import importlib.metadata as md
import torch
from nnunetv2.utilities.find_class_by_name import recursive_find_python_class
import nnunetv2
from os.path import join
cls = recursive_find_python_class(join(nnunetv2.__path__[0], "training", "nnUNetTrainer"),
                                  "nnUNetTrainer_TimeBudget", "nnunetv2.training.nnUNetTrainer")
if cls is None:
    raise SystemExit("nnUNetTrainer_TimeBudget not found by nnU-Net's trainer lookup")
if not torch.__version__.startswith("2.13.0") or torch.version.cuda is not None:
    raise SystemExit(f"torch {torch.__version__} (cuda {torch.version.cuda}): expected the CPU build 2.13.0")
for name in ("nnunetv2", "torch", "dynamic_network_architectures", "batchgenerators",
             "batchgeneratorsv2", "acvl_utils", "numpy", "SimpleITK", "scikit-image"):
    print(f"{name}=={md.version(name)}")
print(f"torch.version.cuda={torch.version.cuda}  trainer={cls.__module__}.{cls.__name__}")
EOF
echo "nnU-Net venv ready: $VENV"
