"""A start without waiting: the home page draws before torch is imported, and once it
has, a background thread gets the modules of the other pages ready.

Each check runs in a fresh interpreter: this test process has long imported torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _fresh(code: str, tmp_path: Path) -> dict:
    """Run ``code`` in a new Python (the repository on its path); it prints one JSON line last."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
                               "LATENT_EXPLORER_WORKSPACES": str(tmp_path / "workspaces")})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_home_page_draws_its_samples_without_torch(tmp_path):
    result = _fresh("""
import json, sys
from explorer.ui import loaders
seen = []
loaders.preload_in_background = lambda: seen.append(sorted(m for m in ("torch", "torchvision", "scipy.stats")
                                                          if m in sys.modules))
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("streamlit_app.py", default_timeout=120).run()
print(json.dumps({"exceptions": [e.value for e in at.exception], "images": len(at.image), "seen": seen,
                  "charts": len(at.get("plotly_chart"))}))
""", tmp_path)
    assert result["exceptions"] == []
    assert result["images"] >= 1, "no samples from the prior on the home page"
    assert result["charts"] == 1, "the teaser map (the stored codes of the samples' VAE) is missing"
    assert result["seen"] == [[]], "the home page imported torch (or scipy.stats) before its end"


def test_the_preload_imports_the_other_pages_modules_once(tmp_path):
    result = _fresh("""
import json, sys
from explorer.ui import loaders
before = "torch" in sys.modules
import time
first = loaders.preload_in_background()
again = loaders.preload_in_background()
time.sleep(loaders.PRELOAD_DELAY_S / 3)
early = "torch" in sys.modules  # the browser is still fetching the home page's pictures from this process
first.join(240)
print(json.dumps({"before": before, "early": early, "same": first is again, "alive": first.is_alive(), "daemon": first.daemon,
                  "loaded": [m for m in loaders.PRELOADED_MODULES if m in sys.modules]}))
""", tmp_path)
    from explorer.ui.loaders import PRELOADED_MODULES

    assert result["before"] is False, "importing the loaders already imported torch"
    assert result["early"] is False, "the preload imported torch before its delay"
    assert result["same"] and result["daemon"] and not result["alive"]
    assert result["loaded"] == list(PRELOADED_MODULES)
