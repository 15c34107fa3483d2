"""Every setting the app and the CLI read from outside: one ``Settings``, read once per process.

Read from environment variables, or from a ``[latent_explorer]`` section of a TOML file
(``$LATENT_EXPLORER_CONFIG``, else ``latent-explorer.toml`` in the repository root);
an environment variable wins over the file. ``settings()`` reads them the first time it is
asked and keeps them: a server reads its configuration when it starts (tests that change the
environment call ``settings.cache_clear()``; tests/conftest.py does it for ``monkeypatch``).
Every default is the safe one for a class:

| setting (env / file key) | default | what |
| --- | --- | --- |
| LATENT_EXPLORER_DATA / data | ~/.cache/latent-explorer | the data root: datasets, and DATA below |
| LATENT_EXPLORER_MAX_DATA_BYTES / max_data_bytes | 512M | decoded data one load may hold (bytes; 512M, 2G) |
| LATENT_EXPLORER_ALLOW_DOWNLOAD / allow_download | 0 | 1: the app may download a missing dataset |
| LATENT_EXPLORER_CHECKPOINTS / checkpoints | checkpoints/ of the repository | the shipped checkpoints (tests point it elsewhere) |
| LATENT_EXPLORER_SERVER_DATA_ROOT / server_data_root | off | the folder whose images the Train page may read |
| LATENT_EXPLORER_WORKSPACES / workspaces | DATA/workspaces | one private folder per browser session |
| LATENT_EXPLORER_PUBLISHED / published (old name LATENT_EXPLORER_TRAINED) | DATA/published | checkpoints every session sees |
| LATENT_EXPLORER_PUBLISH_TRAINED / publish_trained | 0 | 1: the Train page saves into the published folder |
| LATENT_EXPLORER_CLIENT_QUOTA_MB / client_quota_mb | 200 | disk one client (all its sessions) may fill |
| LATENT_EXPLORER_TOTAL_QUOTA_MB / total_quota_mb | 2000 | disk all clients together may fill |
| LATENT_EXPLORER_EXPIRY_HOURS / expiry_hours | 24 | a session folder unused this long is deleted |
| LATENT_EXPLORER_TRAIN_WORKERS / train_workers | cores // 2 (at least 1) | training processes at once (at most the cores) |
| LATENT_EXPLORER_TRAIN_QUEUE / train_queue | 20 | jobs waiting at most, all sessions together |
| LATENT_EXPLORER_JOBS_PER_CLIENT / jobs_per_client | 2 | a client's jobs at once: 1 running, the rest waiting |
| LATENT_EXPLORER_CLASSES_DB / classes_db | sqlite:///DATA/classes.sqlite3 | the lessons' classes and their anonymous predictions |
| LATENT_EXPLORER_JOB_MAX_MINUTES / job_max_minutes | 30 | a running job is stopped after this long, saving nothing |
| LATENT_EXPLORER_JOB_MAX_MB / job_max_mb | 100 | disk one job may need (its checkpoint and its upload) |
| LATENT_EXPLORER_CLIENT_HEADER / client_header | off | the header a proxy sets to the user it authenticated |
| LATENT_DIST_TIMEOUT_S / dist_timeout_s | 1800 | seconds a torchrun process waits for the others (core/distributed.py) |

A client is a visitor's address, or the value of ``client_header`` when the operator names
one (explorer/logic/clients.py). The older names session_quota_mb, jobs_per_session
(LATENT_EXPLORER_SESSION_QUOTA_MB, LATENT_EXPLORER_JOBS_PER_SESSION) and
LATENT_EXPLORER_TRAINED are still read. torchrun's own variables (RANK, WORLD_SIZE, ...)
belong to torchrun and are read in core/distributed.py.

Imports nothing from the rest of the project, so every layer may read it.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SECTION = "latent_explorer"
CONFIG_ENV = "LATENT_EXPLORER_CONFIG"
MAX_DATA_BYTES_ENV = "LATENT_EXPLORER_MAX_DATA_BYTES"


class SettingsError(ValueError):
    """A setting the operator gave has a value the app cannot use."""


def _size(name: str, value) -> int:
    """Bytes from "536870912", "512M", "2G", "100K"."""
    text = str(value).strip()
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    try:
        scale = units.get(text[-1].upper(), 1)
        number = int(float(text[:-1] if text[-1].upper() in units else text) * scale)
    except (ValueError, IndexError):
        raise SettingsError(f"{name}={text!r} is not a size (give bytes, or e.g. 512M, 2G)") from None
    if number <= 0:
        raise SettingsError(f"{name}={text!r} must be positive")
    return number


# key: (environment variable, type); "size" is a byte count with an optional K / M / G
_KEYS = {
    "data": ("LATENT_EXPLORER_DATA", str),
    "max_data_bytes": (MAX_DATA_BYTES_ENV, "size"),
    "allow_download": ("LATENT_EXPLORER_ALLOW_DOWNLOAD", bool),
    "checkpoints": ("LATENT_EXPLORER_CHECKPOINTS", str),
    "server_data_root": ("LATENT_EXPLORER_SERVER_DATA_ROOT", str),
    "workspaces": ("LATENT_EXPLORER_WORKSPACES", str),
    "published": ("LATENT_EXPLORER_PUBLISHED", str),
    "publish_trained": ("LATENT_EXPLORER_PUBLISH_TRAINED", bool),
    "client_quota_mb": ("LATENT_EXPLORER_CLIENT_QUOTA_MB", float),
    "total_quota_mb": ("LATENT_EXPLORER_TOTAL_QUOTA_MB", float),
    "expiry_hours": ("LATENT_EXPLORER_EXPIRY_HOURS", float),
    "train_workers": ("LATENT_EXPLORER_TRAIN_WORKERS", int),
    "train_queue": ("LATENT_EXPLORER_TRAIN_QUEUE", int),
    "jobs_per_client": ("LATENT_EXPLORER_JOBS_PER_CLIENT", int),
    "classes_db": ("LATENT_EXPLORER_CLASSES_DB", str),
    "job_max_minutes": ("LATENT_EXPLORER_JOB_MAX_MINUTES", float),
    "job_max_mb": ("LATENT_EXPLORER_JOB_MAX_MB", float),
    "client_header": ("LATENT_EXPLORER_CLIENT_HEADER", str),
    "dist_timeout_s": ("LATENT_DIST_TIMEOUT_S", float),
}
# key: (its older file key or None, its older environment variable); read when the new name is not given
_OLD_NAMES = {
    "published": (None, "LATENT_EXPLORER_TRAINED"),
    "client_quota_mb": ("session_quota_mb", "LATENT_EXPLORER_SESSION_QUOTA_MB"),
    "jobs_per_client": ("jobs_per_session", "LATENT_EXPLORER_JOBS_PER_SESSION"),
}
HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")


@dataclass(frozen=True)
class Settings:
    data: Path = Path.home() / ".cache" / "latent-explorer"
    max_data_bytes: int = 512 * 2**20  # of decoded (float32) data (core/data/limits.py)
    allow_download: bool = False  # the app is offline unless the operator allows it; the CLI asks per run
    checkpoints: Path = REPO_ROOT / "checkpoints"
    server_data_root: Path | None = None  # None: the Train page reads no server folders
    workspaces: Path = Path("workspaces")
    published: Path = Path("published")
    publish_trained: bool = False
    client_quota_mb: float = 200.0
    total_quota_mb: float = 2000.0
    expiry_hours: float = 24.0
    train_workers: int = 1
    train_queue: int = 20
    jobs_per_client: int = 2
    classes_db: str = "sqlite:///classes.sqlite3"  # a database URL (explorer/logic/classroom.py)
    job_max_minutes: float = 30.0
    job_max_mb: float = 100.0
    client_header: str | None = None  # None: clients are told apart by their address only
    dist_timeout_s: float = 1800.0

    @property
    def client_quota_bytes(self) -> int:
        return int(self.client_quota_mb * 1e6)

    @property
    def job_max_bytes(self) -> int:
        return int(self.job_max_mb * 1e6)

    @property
    def job_max_seconds(self) -> float:
        return self.job_max_minutes * 60.0

    @property
    def total_quota_bytes(self) -> int:
        return int(self.total_quota_mb * 1e6)

    @property
    def threads_per_job(self) -> int:
        """Torch threads of one training process, so the workers together fill the cores once."""
        return max(1, (os.cpu_count() or 1) // max(1, self.train_workers))


def _parse(key: str, kind, value) -> object:
    name = _KEYS[key][0]
    if kind == "size":
        return _size(name, value)
    if kind is bool:
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise SettingsError(f"{name}={value!r} must be 1 or 0")
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name}={value!r} must be a number") from None
    if kind is not str and not number > 0:
        raise SettingsError(f"{name}={value!r} must be above 0")
    if key == "client_header" and not HEADER_NAME.match(number):
        raise SettingsError(f"{name}={value!r} must be a header name: letters, digits and '-'")
    return number


def config_file() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or REPO_ROOT / "latent-explorer.toml")


def _file_values(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        import tomllib
    except ImportError:  # Python 3.10: no TOML reader in the standard library
        raise SettingsError(f"{path}: reading it needs Python 3.11; use the environment variables") from None
    try:
        section = tomllib.loads(path.read_text()).get(SECTION, {})
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise SettingsError(f"{path}: {err}") from None
    unknown = sorted(set(section) - set(_KEYS) - {old for old, _ in _OLD_NAMES.values() if old})
    if unknown:
        raise SettingsError(f"{path}: unknown keys in [{SECTION}]: {unknown}; known: {sorted(_KEYS)}")
    return section


def load_settings(environ: dict | None = None) -> Settings:
    """The settings in ``environ`` (default: the process's) over the file over the defaults, read
    now; SettingsError on a bad value. The file is the one ``$LATENT_EXPLORER_CONFIG`` of the
    process names."""
    env = os.environ if environ is None else environ
    values = _file_values(config_file())
    for key, (old_key, _) in _OLD_NAMES.items():
        if old_key in values:
            values.setdefault(key, values.pop(old_key))
    for key, (name, _) in _KEYS.items():
        old_name = _OLD_NAMES.get(key, (None, None))[1]
        for variable in (name, old_name):
            if variable and env.get(variable, "").strip():
                values[key] = env[variable].strip()
                break
    parsed = {key: _parse(key, _KEYS[key][1], v) for key, v in values.items()}
    data = Path(parsed.pop("data", Settings.data)).expanduser()
    root = parsed.pop("server_data_root", None)
    cores = os.cpu_count() or 1
    workers = min(int(parsed.pop("train_workers", max(1, cores // 2))), cores)
    return Settings(
        data=data,
        checkpoints=Path(parsed.pop("checkpoints", Settings.checkpoints)).expanduser(),
        server_data_root=Path(os.path.realpath(Path(root).expanduser())) if root else None,
        workspaces=Path(parsed.pop("workspaces", data / "workspaces")).expanduser(),
        published=Path(parsed.pop("published", data / "published")).expanduser(),
        classes_db=str(parsed.pop("classes_db", f"sqlite:///{data / 'classes.sqlite3'}")),
        train_workers=workers,
        **parsed,
    )


@functools.cache
def settings() -> Settings:
    """The settings in force for this process: read on the first call, then kept."""
    return load_settings()
