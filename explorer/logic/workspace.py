"""Per-session workspaces: where one browser session's trained models and uploads live.

    WORKSPACES/<token>/models/NAME.safetensors + NAME.json   its checkpoints
    WORKSPACES/<token>/models/data/NAME-<job id>.npz          its uploaded datasets
    WORKSPACES/<token>/jobs/<job id>/                         a job's spec, progress and log
    WORKSPACES/<token>/.last-seen                             touched while the session is used
    WORKSPACES/<token>/.client                                the client's key (clients.client_key)

The token is ``secrets.token_urlsafe`` (192 bits), kept only in the session's state, so no
other session can name the folder. Disk quotas (``quota_problem``) count per client: the
workspaces of all its sessions (``client_usage``) and what its running job will still
write; they are checked before a job writes anything and again when it starts.
``sweep_expired`` deletes workspaces unused for a while, never one with an active job.
Nothing here imports Streamlit.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}$")
LAST_SEEN = ".last-seen"
CLIENT = ".client"
TOUCH_EVERY_S = 60.0


def new_token() -> str:
    return secrets.token_urlsafe(24)  # 32 characters


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def of(cls, workspaces: Path, token: str) -> "Workspace":
        if not TOKEN_PATTERN.match(token or ""):
            raise ValueError("not a workspace token")
        return cls(Path(workspaces) / token)

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    def ensure(self, client: str | None = None) -> "Workspace":
        """Create the folders (private to the server's user), note that the session is alive and,
        given ``client`` (a clients.client_key), whose workspace it is."""
        for folder in (self.root, self.models, self.jobs):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if client is not None and self.client() != client:
            (self.root / CLIENT).write_text(client)
        self.touch()
        return self

    def client(self) -> str | None:
        return client_of(self.root)

    def touch(self, every_s: float = TOUCH_EVERY_S) -> None:
        mark = self.root / LAST_SEEN
        try:
            if time.time() - mark.stat().st_mtime < every_s:
                return
        except FileNotFoundError:
            pass
        mark.touch()

    def size(self) -> int:
        return tree_size(self.root)


def tree_size(path: Path) -> int:
    """Bytes of the files under ``path`` (links not followed)."""
    total = 0
    for top, _dirs, files in os.walk(path, followlinks=False):
        for name in files:
            try:
                total += os.lstat(os.path.join(top, name)).st_size
            except OSError:
                pass
    return total


def client_of(root: Path) -> str | None:
    try:
        return (Path(root) / CLIENT).read_text().strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def client_usage(workspaces: Path, client: str) -> int:
    """Bytes on disk in all the workspaces of ``client`` (its key)."""
    try:
        roots = [p for p in Path(workspaces).iterdir() if TOKEN_PATTERN.match(p.name) and not p.is_symlink()]
    except FileNotFoundError:
        return 0
    return sum(tree_size(root) for root in roots if client_of(root) == client)


def megabytes(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def quota_problem(need: int, client_used: int, client_reserved: int, client_quota: int,
                  total_used: int, total_reserved: int, total_quota: int) -> str | None:
    """Why a job needing ``need`` bytes would not fit, or None. ``used``: on disk; ``reserved``: what
    running jobs will still write (waiting jobs reserve nothing: they are checked again when they start)."""
    if client_used + client_reserved + need > client_quota:
        return (f"Not enough room for your models: they and your uploads use {megabytes(client_used)}"
                + (f" (and your job under way will need {megabytes(client_reserved)} more)" if client_reserved else "")
                + f" of the {megabytes(client_quota)} one visitor may keep (all your tabs together), and this job "
                f"needs about {megabytes(need)}. Delete one of your models, or pick a smaller upload or model. "
                "Nothing was saved.")
    if total_used + total_reserved + need > total_quota:
        return (f"The server's room for trained models is full ({megabytes(total_used + total_reserved)} of "
                f"{megabytes(total_quota)}); try again later, or ask whoever runs the server. Nothing was saved.")
    return None


def _has_live_job(root: Path) -> bool:
    """Whether a job folder in the workspace names a process that is still alive."""
    for pid_file in (root / "jobs").glob("*/pid"):
        try:
            os.kill(int(pid_file.read_text().strip()), 0)
            return True
        except (ValueError, OSError) as err:
            if isinstance(err, PermissionError):
                return True  # alive, someone else's
    return False


def last_seen(root: Path) -> float:
    for path in (root / LAST_SEEN, root):
        try:
            return path.stat().st_mtime
        except FileNotFoundError:
            continue
    return 0.0


def sweep_expired(workspaces: Path, max_age_s: float, protected: set[Path] = frozenset(),
                  now: float | None = None) -> list[Path]:
    """Delete workspaces not used for ``max_age_s`` seconds; returns what was deleted.

    Skipped: ``protected`` ones (active jobs), ones whose job folders name a live process,
    and anything whose name is not a workspace token (the folder may hold other things).
    """
    now = time.time() if now is None else now
    keep = {os.path.realpath(p) for p in protected}
    removed = []
    try:
        entries = list(Path(workspaces).iterdir())
    except FileNotFoundError:
        return removed
    for root in entries:
        if not TOKEN_PATTERN.match(root.name) or root.is_symlink() or not root.is_dir():
            continue
        if os.path.realpath(root) in keep or _has_live_job(root) or now - last_seen(root) <= max_age_s:
            continue
        shutil.rmtree(root, ignore_errors=True)
        removed.append(root)
        log.info("deleted the expired workspace %s", root.name[:6])
    return removed
