"""Plain-text tables of checkpoint cards, for the terminal (``python -m core list``, train, pretrain)."""

from __future__ import annotations

from core.card import Card


def likelihood_nats(value: float | None, likelihood: str, spec: str = ".1f") -> str:
    """Nats under a model's own likelihood, tagged with it: Bernoulli and Gaussian nats measure
    different things and must never read as one scale (a Gaussian's depend on its variance c)."""
    if value is None:
        return "-"
    return format(value, spec) + (" G" if likelihood == "gaussian" else " B")


def format_metrics_table(cards: list[Card]) -> str:
    """A plain-text table of the cards' test metrics (nats per image).

    MSE and "BCE@mean" (-log Bernoulli(x | decode(mean))) compare every model; recon, -ELBO and
    IWAE are in each model's own likelihood, tagged B (Bernoulli) or G (Gaussian).
    """
    head = ["name", "kind", "dataset", "D", "beta", "MSE", "BCE@mean", "recon", "KL", "-ELBO", "IWAE", "AU",
            "kNN 1%"]
    rows = [head]
    fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    for card in cards:
        if card.error:
            rows.append([card.name, "error: " + card.error] + [""] * (len(head) - 2))
            continue
        m = card.metrics
        own = card.likelihood
        rows.append([
            card.name, card.kind, card.dataset_name, str(card.model_config.get("latent_dim", "?")),
            fmt(card.beta, "g"), fmt(m.get("mse"), ".4f"), fmt(m.get("bernoulli_nll_at_mean"), ".1f"),
            likelihood_nats(m.get("reconstruction"), own), fmt(m.get("kl"), ".2f"),
            likelihood_nats(m.get("neg_elbo"), own), likelihood_nats(m.get("iwae_nll"), own),
            fmt(m.get("active_units"), "d"), fmt(m.get("knn_accuracy"), ".3f"),
        ])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
