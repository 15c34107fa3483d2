"""The operator's settings for a shared server: what the app may read, keep, and run.

Read from environment variables, or from a ``[latent_explorer]`` section of a TOML file
(``$LATENT_EXPLORER_CONFIG``, else ``latent-explorer.toml`` in the repository root);
an environment variable wins over the file. Every default is the safe one for a class:

| setting (env / file key) | default | what |
| --- | --- | --- |
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

A client is a visitor's address, or the value of ``client_header`` when the operator names
one (explorer/logic/clients.py). The older names session_quota_mb, jobs_per_session
(LATENT_EXPLORER_SESSION_QUOTA_MB, LATENT_EXPLORER_JOBS_PER_SESSION) and
LATENT_EXPLORER_TRAINED are still read.

Nothing here imports Streamlit.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from core.data import default_data_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
SECTION = "latent_explorer"

# key: (environment variable, type)
_KEYS = {
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
}
# key: (its older file key or None, its older environment variable); read when the new name is not given
_OLD_NAMES = {
    "published": (None, "LATENT_EXPLORER_TRAINED"),
    "client_quota_mb": ("session_quota_mb", "LATENT_EXPLORER_SESSION_QUOTA_MB"),
    "jobs_per_client": ("jobs_per_session", "LATENT_EXPLORER_JOBS_PER_SESSION"),
}
HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class SettingsError(ValueError):
    """A setting the operator gave has a value the app cannot use."""


@dataclass(frozen=True)
class Settings:
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


def _parse(key: str, kind: type, value) -> object:
    name = _KEYS[key][0]
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
    return Path(os.environ.get("LATENT_EXPLORER_CONFIG") or REPO_ROOT / "latent-explorer.toml")


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
    """The settings in force now (environment over file over defaults); SettingsError on a bad value."""
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
    data = default_data_dir()
    root = parsed.pop("server_data_root", None)
    cores = os.cpu_count() or 1
    workers = min(int(parsed.pop("train_workers", max(1, cores // 2))), cores)
    return Settings(
        server_data_root=Path(os.path.realpath(Path(root).expanduser())) if root else None,
        workspaces=Path(parsed.pop("workspaces", data / "workspaces")).expanduser(),
        published=Path(parsed.pop("published", data / "published")).expanduser(),
        classes_db=str(parsed.pop("classes_db", f"sqlite:///{data / 'classes.sqlite3'}")),
        train_workers=workers,
        **parsed,
    )
