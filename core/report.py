"""Plain-text tables of checkpoint cards, for the terminal (``python -m core list``, train, pretrain)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.card import Card


def format_metrics_table(cards: list[Mapping[str, Any]]) -> str:
    """A plain-text table of the cards' test metrics (nats per image)."""
    head = ["name", "kind", "dataset", "D", "beta", "lik.", "MSE", "recon", "KL", "-ELBO", "IWAE", "AU", "kNN 1%"]
    rows = [head]
    fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    for raw in cards:
        if "error" in raw:
            rows.append([raw.get("name", "?"), "error: " + raw["error"]] + [""] * (len(head) - 2))
            continue
        card = Card.of(raw)
        m = card.metrics
        rows.append([
            card.name, card.kind, card.dataset_name, str(card.model_config.get("latent_dim", "?")),
            fmt(card.beta, "g"), card.likelihood, fmt(m.get("mse"), ".4f"), fmt(m.get("reconstruction"), ".1f"),
            fmt(m.get("kl"), ".2f"), fmt(m.get("neg_elbo"), ".1f"), fmt(m.get("iwae_nll"), ".1f"),
            fmt(m.get("active_units"), "d"), fmt(m.get("knn_accuracy"), ".3f"),
        ])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
