#!/usr/bin/env bash
# Install (into .venv) and start the explorer on the shipped checkpoints: no training, no internet needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh requirements.txt
exec .venv/bin/python -m streamlit run streamlit_app.py "$@"
