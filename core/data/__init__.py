"""Datasets: a name or a path in, images ``(N, C, H, W)`` float32 in [0, 1] out.

Registered datasets (``DATASETS`` in core/data/registry.py, one module each)::

    digits         scikit-learn's bundled 1,797 8x8 digits                  offline: yes
    mnist          torchvision's MNIST files under the data root             offline: 5,000-image subset + t10k (shipped)
    fashion-mnist  torchvision's FashionMNIST files under the data root      offline: no
    frey           frey_rawface.mat (1,965 28x20 faces) in the data root     offline: yes (shipped copy)
    olivetti       olivettifaces.mat in the data root (downloaded when online)

Anything else is read as a path (core/data/own.py): an image folder (one subfolder per
class, like torchvision's ImageFolder), a ``.npz`` or a ``.npy`` file.

The data root is ``settings().data`` (core/settings.py) unless ``data_dir`` is given. Files are looked for
in the torchvision / upstream layout (``<root>/MNIST/raw/train-images-idx3-ubyte[.gz]``,
``<root>/frey_rawface.mat`` ...) and also in one lower-case folder per dataset
(``<root>/mnist/``, ``<root>/frey/``, ``<root>/olivetti/``), so a folder laid out like the
project's development data works as a data root too. Downloads go to the first layout.

Nothing is cached at module level: every call reads the files again. Callers that want
caching (the Streamlit app) wrap ``load_dataset`` themselves.

    dataset.py    Dataset, DatasetError, fingerprints of the splits
    limits.py     size caps checked before reading: .npy/.npz headers, zip ratios, open_image (PIL)
    bundled.py    the evaluation data shipped in the repository's data/ (checksummed)
    registry.py   DATASETS (name -> DatasetSource), load_dataset
    arrays.py     argument checks, the seeded split, pixel scaling, resizing
    download.py   finding, reading and fetching files
    idx.py        MNIST's IDX format
    digits.py, mnist.py, fashion_mnist.py, frey.py, olivetti.py: one loader each
    own.py        your own image folders, .npz and .npy files
"""

from core.data.dataset import MAX_CLASSES, Dataset, DatasetError, differences_from_card
from core.data.idx import read_idx
from core.data.limits import (
    FOLDER_FORMATS, MAX_IMAGE_PIXELS, UPLOAD_FORMATS, load_image_file, open_image,
)
from core.data.registry import DATASET_NAMES, DATASETS, DatasetSource, default_likelihood, load_dataset

__all__ = [
    "DATASETS",
    "DATASET_NAMES",
    "default_likelihood",
    "Dataset",
    "DatasetError",
    "DatasetSource",
    "FOLDER_FORMATS",
    "MAX_CLASSES",
    "MAX_IMAGE_PIXELS",
    "UPLOAD_FORMATS",
    "differences_from_card",
    "load_dataset",
    "load_image_file",
    "open_image",
    "read_idx",
]
