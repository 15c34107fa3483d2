"""Cached loaders shared by every page: checkpoints, datasets, encodings, the session's workspace.

Models are loaded once per process (``st.cache_resource``) and never mutated afterwards.
Datasets are cached as resources too, with their arrays made read-only: ``st.cache_data``
would copy tens of megabytes on every rerun. Small derived arrays use ``st.cache_data``.

A session sees the shipped checkpoints, the published ones (a folder the operator fills)
and its own: models trained in another session are in that session's private workspace
(``explorer/logic/workspace.py``). The operator's settings: ``core/settings.py``.

torch is imported inside the functions that need it, not here: the home page's first
picture (numpy_decoder) and the card list must not wait seconds for it on a cold start.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from core.card import Card
from core.checkpoints import Checkpoint, list_checkpoints, load_checkpoint, read_card  # torch: when loading
from core.codes import load_codes_for
from core.data import DATASETS, Dataset, DatasetError, differences_from_card, load_dataset
from core.npdecode import NumpyDecoder, load_numpy_decoder
from core.settings import settings  # the pages read the operator's settings as loaders.settings()
from explorer.logic import serverdata
from explorer.logic.clients import client_id, client_key
from explorer.logic.workspace import Workspace, new_token, sweep_expired

if TYPE_CHECKING:  # imported where used: torch and the training code take seconds to import
    from core.judge import DigitJudge
    from core.models import LatentModel
    from explorer.logic.jobqueue import JobQueue
    from streamlit.runtime.uploaded_file_manager import UploadedFile

REPO_ROOT = Path(__file__).resolve().parents[2]

# What the other pages import, in the order they need it: torch (through core.models) alone
# takes one to two seconds on a cold server. Measured on fresh servers, the Latent map opened 5 s
# after the home page draws its first picture in 10.1 s with the preload, 18.2 s without
# (bench/results/start-preload.md).
PRELOADED_MODULES = ("torch", "core.models", "core.latent", "explorer.logic.spaces", "explorer.logic.analysis",
                     "mlxtend.data")
PRELOAD_DELAY_S = 1.5  # after the home page's run, before the imports begin
_preload_lock = threading.Lock()
_preload: threading.Thread | None = None


def preload_in_background() -> threading.Thread:
    """Import PRELOADED_MODULES in a daemon thread, once per process, and return that thread.

    The home page calls it after its first picture: while the class reads the home page the
    server gets ready, and the first Latent map does not wait for torch. Idempotent; a module
    that fails to import is logged and left to fail again, with its message, where it is used."""
    global _preload
    with _preload_lock:
        if _preload is None:
            _preload = threading.Thread(target=_import_modules, name="latent-explorer-preload", daemon=True)
            _preload.start()
        return _preload


def _import_modules() -> None:
    # Wait first: the browser is still fetching the home page's pictures and Streamlit's and
    # Plotly's JavaScript, all served by this process, and importing torch holds the GIL for
    # seconds (a 3 KB chunk took 300 ms, the samples' JPEG 400 ms, in bench/bench_start.py's
    # cold start). The class reads the home page for longer than the wait.
    time.sleep(PRELOAD_DELAY_S)
    for name in PRELOADED_MODULES:
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - a preload is an optimisation, never an error of its own
            logging.getLogger(__name__).warning("preloading %s failed: %s", name, err)


def shipped_dir() -> Path:
    """The pre-trained checkpoints ($LATENT_EXPLORER_CHECKPOINTS overrides, for tests)."""
    return settings().checkpoints


def session_token() -> str:
    """This session's workspace token: random, kept only in the session's state."""
    token = st.session_state.get("_workspace_token")
    if not token:
        token = st.session_state["_workspace_token"] = new_token()
    return token


def client() -> str:
    """The key of the client this session belongs to (clients.client_key): its address, or the user
    named by the header the operator trusts (settings.client_header). The queue and the disk quota
    count per client."""
    header = settings().client_header
    return client_key(client_id(st.context.ip_address, st.context.headers if header else None, header))


def session_id() -> str:
    """This browser session's id in Streamlit's runtime ("" when there is none, as under AppTest)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else ""


def session_alive(session: str) -> bool:
    """Whether a browser session is still connected (any thread may ask)."""
    from streamlit.runtime import Runtime

    return not Runtime.exists() or Runtime.instance().is_active_session(session)


def workspace() -> Workspace:
    """This session's private folder (not created until something is written to it)."""
    ws = Workspace.of(settings().workspaces, session_token())
    if ws.root.is_dir():
        ws.touch()
    return ws


def published_dir() -> Path:
    """Checkpoints every session sees ($LATENT_EXPLORER_PUBLISHED; the operator copies models in)."""
    return settings().published


def trained_dir() -> Path:
    """Where the Train page saves models: the session's workspace, or the published folder
    when the operator set LATENT_EXPLORER_PUBLISH_TRAINED=1."""
    current = settings()
    return current.published if current.publish_trained else workspace().models


def model_folders() -> list[tuple[str, Path]]:
    """(origin, folder) of every checkpoint this session may see: shipped, published, its own."""
    folders = [("shipped", shipped_dir()), ("trained", published_dir())]
    own = workspace().models
    if own not in (f for _, f in folders):
        folders.append(("trained", own))
    return folders


def _folder_signature(folders: list[tuple[str, Path]]) -> tuple:
    """Changes whenever a card is added, removed or rewritten, so the card cache refreshes
    (lstat: a dangling symbolic link or a FIFO is listed, and refused when read, never followed)."""
    sig = []
    for origin, folder in folders:
        sig.append((origin, str(folder)))
        if folder.is_dir():
            sig.extend((str(p), p.lstat().st_mtime_ns, p.lstat().st_size)
                       for p in sorted([*folder.glob("*.json"), *folder.glob("*.safetensors")]))
    return tuple(sig)


@st.cache_data(show_spinner=False, max_entries=256)
def _cards(folders: tuple[tuple[str, str], ...], signature: tuple) -> list[Card]:
    """The cards of the folders; a card that cannot be read keeps its ``error``, logged once per change.
    Cards from outside the repository (published, a session's own) have their weights checked too."""
    cards = []
    for origin, folder in folders:
        for card in list_checkpoints(folder, check=origin != "shipped"):
            if card.error:  # no server paths for visitors
                card = card.updated(error=card.error.replace(str(Path(folder)) + os.sep, ""))
                logging.getLogger(__name__).warning("checkpoint %s skipped: %s", card.path, card.error)
            cards.append(card.updated(origin=origin))
    return cards


def _listing() -> list[Card]:
    job_queue()  # the first page view of a server starts the queue, which sweeps expired workspaces
    folders = model_folders()
    keys = tuple((origin, str(folder)) for origin, folder in folders)
    return _cards(keys, _folder_signature(folders))


def all_cards() -> list[Card]:
    """Every readable checkpoint card this session may see (shipped first), each with its path."""
    return [c for c in _listing() if not c.error]


def skipped_cards() -> list[tuple[str, str]]:
    """(name, why) of each card in this session's folders that cannot be read: listings skip them."""
    return [(c.name, c.error) for c in _listing() if c.error]


@st.cache_resource(show_spinner="Loading model...", max_entries=64)
def load_model(path: str) -> Checkpoint:
    """The checkpoint at ``path``; its card knows that path, as listed cards do, so a data path
    relative to the checkpoint's folder (a model trained on an upload) resolves (``data_for``)."""
    return load_checkpoint(path)


@st.cache_resource(show_spinner=False)
def judge() -> "DigitJudge | None":
    """The shipped digit classifier (core/judge.py), or None when its files are missing or do not
    match: callers show the judge's verdicts only when it is there."""
    from core import judge as judge_module

    try:
        return judge_module.load_judge()
    except (OSError, ValueError) as err:
        logging.getLogger(__name__).warning("the judge (core/judge.py) is not available: %s", err)
        return None


def judge_applies(card: Card, image_shape: tuple[int, ...]) -> bool:
    """Whether the judge can read this model's images: MNIST digits at the judge's size (1, 28, 28)."""
    from core import judge as judge_module

    return card.dataset_name == "mnist" and tuple(image_shape) == judge_module.IMAGE_SHAPE


def judge_probabilities(images: np.ndarray) -> np.ndarray | None:
    """Class probabilities (N, 11) of 28x28 images (N, 1, 28, 28) in [0, 1] (digits 0-9, then "not a
    digit"), or None without the judge."""
    from core import judge as judge_module

    model = judge()
    return None if model is None else judge_module.probabilities(model, images)


@st.cache_data(show_spinner=False)
def many_draws() -> dict | None:
    """The numbers measured over many draws (explorer/logic/draws.py; scripts/measure_draws.py)."""
    from explorer.logic import draws

    return draws.read_draws()


@st.cache_resource(show_spinner=False, max_entries=32)
def dense_layers(path: str) -> tuple[list | None, list | None]:
    """The checkpoint's dense decoder and encoder layers for the browser components (None where a
    part is convolutional, which the browser cannot run)."""
    model = load_model(path).model
    return model.decoder_layers(), model.encoder_layers()


def browser_model_id(card: Card, part: str) -> str:
    """Names a checkpoint's weights in the browser's cache: its name, ``part`` (what the component
    is sent) and the start of the weights' hash, so new weights under an old name are sent again."""
    digest = card.get("weights_sha256") or hashlib.sha1(str(card.path).encode()).hexdigest()
    return f"{part}-{card.name}-{digest[:12]}"


@st.cache_resource(show_spinner=False, max_entries=64)
def numpy_decoder(path: str) -> NumpyDecoder | None:
    """The checkpoint's decoder in numpy (core/npdecode.py), or None when it is not dense."""
    return load_numpy_decoder(path)


@st.cache_resource(show_spinner="Loading data...", max_entries=16)
def _load_data(key: str, image_size: tuple[int, int] | None, grayscale: bool, data_root: str) -> Dataset | str:
    try:
        dataset = load_dataset(key, data_root, image_size=image_size, grayscale=grayscale,
                               download=settings().allow_download)  # offline unless the operator allows it
    except DatasetError as err:
        return str(err)
    for arr in (dataset.train_images, dataset.test_images, dataset.train_labels, dataset.test_labels):
        if arr is not None:
            arr.flags.writeable = False
    return dataset


def dataset(key: str, image_size: tuple[int, int] | None = None, grayscale: bool = True) -> Dataset | str:
    """A registered dataset by name, or an image folder / .npz / .npy by path, or the error
    message saying how to get it. Native size unless ``image_size`` (H, W) is given."""
    size = None if image_size is None else (int(image_size[0]), int(image_size[1]))
    return _load_data(str(key), size, bool(grayscale), str(settings().data))


def _registered(key: str) -> bool:
    key = key.strip().lower().replace("_", "-")
    return any(key == s.name or key in s.aliases for s in DATASETS.values())


def allowed_data_key(card: Card) -> str | None:
    """What to load for a card's data: a registered name, or a real path inside a folder this
    session may read (its workspace, the published folder, the operator's data root); else None."""
    key = card.dataset_key
    if _registered(key):
        return key
    base = Path(card.path).parent if card.path else Path(".")
    path = Path(key) if os.path.isabs(key) else base / key
    current = settings()
    roots = (lambda: current.server_data_root, lambda: current.published, lambda: workspace().root)
    if any((root := get()) is not None and serverdata.inside(path, root) for get in roots):
        return os.path.realpath(path)
    return None


def data_for(card: Card) -> Dataset | str:
    """The dataset a checkpoint was trained on, or the error message saying how to get it.

    The card's ``dataset.image_size`` (set when the images were resized for training) picks
    the size; without it the native size is tried first, then the model's (H, W).
    """
    shape, size = card.image_shape, card.image_size
    key = allowed_data_key(card)
    if key is None:
        return (f"the data of {card.name} ({Path(card.dataset_key).name}) is not available to this session; "
                "the decoder-only views still work")
    loaded = dataset(key, size, grayscale=shape[0] == 1)
    if isinstance(loaded, Dataset) and loaded.image_shape != shape and not size:
        loaded = dataset(key, shape[1:], grayscale=shape[0] == 1)
    if isinstance(loaded, Dataset) and loaded.image_shape != shape:
        return f"the dataset gives {loaded.image_shape} images but the model reads {shape}"
    return loaded


@st.cache_data(show_spinner=False, max_entries=64)
def data_notes(path: str) -> list[str]:
    """How the data on this machine differ from what the checkpoint's card was trained and
    measured on (other images, a "test" split that overlaps training); empty when they match."""
    card = load_model(path).card
    loaded = data_for(card)
    return [] if isinstance(loaded, str) else differences_from_card(loaded, card.dataset)


@st.cache_resource(show_spinner="Encoding...", max_entries=64)
def encoded(path: str, split: str = "test") -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(means (N, D), logvars (N, D) or None, labels or None) of a checkpoint's dataset split.

    The test split's codes come from NAME.codes.safetensors when it is there and matches the
    checkpoint (core/codes.py: built with the shipped checkpoints), else they are encoded here."""
    if split == "test":
        data = data_for(read_card(path))
        if isinstance(data, str):
            raise DatasetError(data)
        stored = load_codes_for(path, data)  # None when missing, or stale (other weights or test images)
        if stored is not None:
            return stored.means, stored.logvars, stored.labels
    return _encode_split(path, split)


def _encode_split(path: str, split: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    import torch

    from core.evaluate import encode_means

    model = load_model(path).model
    dataset = data_for(load_model(path).card)
    if isinstance(dataset, str):
        raise DatasetError(dataset)
    images = torch.from_numpy(np.array(getattr(dataset, f"{split}_images")))
    labels = getattr(dataset, f"{split}_labels")
    with torch.no_grad():
        if model.variational:
            parts = [model.encode(images[i:i + 2000]) for i in range(0, len(images), 2000)]
            means = torch.cat([p.mean for p in parts]).numpy()
            logvars = torch.cat([p.logvar for p in parts]).numpy()
        else:
            means, logvars = encode_means(model, images).numpy(), None
    for arr in (means, logvars):
        if arr is not None:
            arr.flags.writeable = False
    return means, logvars, labels


def decode(model: LatentModel, z) -> np.ndarray:
    """Latent codes (N, D) (numpy or torch) -> images (N, C, H, W) float32 in [0, 1]."""
    import torch

    if isinstance(z, torch.Tensor):
        z = z.detach().to("cpu", torch.float32)
    else:
        z = torch.from_numpy(np.array(z, dtype=np.float32))  # a copy: inputs may be read-only
    with torch.no_grad():
        return model.decode(z.reshape(-1, model.latent_dim)).numpy()


def encode(model: LatentModel, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    import torch

    with torch.no_grad():
        posterior = model.encode(torch.from_numpy(np.array(images, dtype=np.float32)))  # a copy: inputs may be read-only
    return posterior.mean.numpy(), None if posterior.logvar is None else posterior.logvar.numpy()


# --------------------------------------------------------------------------- the Train page's


def job_queue() -> "JobQueue":
    """The training queue of this server process (shared by every session), for the settings in force."""
    current = settings()
    return _job_queue(current.train_workers, current.train_queue, current.jobs_per_client, current.job_max_seconds,
                      current.job_max_bytes, str(current.workspaces), current.expiry_hours)


@st.cache_resource(show_spinner=False)
def _job_queue(workers: int, waiting: int, per_client: int, max_seconds: float, max_bytes: int, workspaces: str,
               expiry_hours: float) -> "JobQueue":
    from explorer.logic.jobqueue import JobQueue

    def sweep(protected: set[Path]) -> None:
        sweep_expired(Path(workspaces), expiry_hours * 3600, protected)

    # A session gone longer than Streamlit keeps it for a reconnection is gone for good: its
    # workspace token went with it, so nobody could open what its jobs would save.
    grace = float(st.get_option("server.disconnectedSessionTTL"))
    return JobQueue(workers, waiting, per_client, max_seconds=max_seconds, max_bytes=max_bytes,
                    session_alive=session_alive, session_grace_s=grace, sweep=sweep,
                    sweep_every_s=min(600.0, expiry_hours * 900))


def uploaded(upload: "UploadedFile | None", size: tuple[int, int] | None, grayscale: bool) -> Dataset | str:
    """An uploaded .npz / .npy (Streamlit's UploadedFile) as a Dataset, or the error message
    saying what is wrong with it.

    The result is kept in this session's state, one upload at a time, not in a cache shared
    by the server: its arrays go when the session does (or when another file replaces it),
    and the file's bytes are copied out of the upload only when it is parsed. Without a file
    (none yet, or removed) nothing is kept, and the answer says what to do."""
    from explorer.logic.training import load_upload

    if upload is None:
        st.session_state.pop("_uploaded_dataset", None)
        return "Upload a .npz or .npy file."
    key = (upload.file_id, size, bool(grayscale))
    kept = st.session_state.get("_uploaded_dataset")
    if kept is not None and kept[0] == key:
        return kept[1]
    st.session_state.pop("_uploaded_dataset", None)  # the previous upload's arrays go before the next is read
    with st.spinner("Reading the upload..."):
        try:
            result: Dataset | str = load_upload(upload.getvalue(), upload.name, size, grayscale)
        except DatasetError as err:
            result = str(err)
    if isinstance(result, Dataset):
        for arr in (result.train_images, result.test_images, result.train_labels, result.test_labels):
            if arr is not None:
                arr.flags.writeable = False
    st.session_state["_uploaded_dataset"] = (key, result)
    return result
