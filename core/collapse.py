"""Posterior collapse: when a VAE's codes carry no information about its images, and what to do.

The criterion is the active units of the test split: a latent dimension is active when its mean
KL(q(z_d|x) || N(0, 1)) over the test images is above ACTIVE_UNIT_THRESHOLD. That mean KL bounds
the information the dimension carries about the image from above, E_x KL(q(z_d|x) || p(z_d)) =
I(x; z_d) + KL(q(z_d) || p(z_d)) >= I(x; z_d) (Hoffman & Johnson, 2016, "ELBO surgery"), so a run
with no active unit has codes that tell the decoder (almost) nothing: every q(z|x) sits on the
prior, and the decoder draws one average image whatever z is. Burda et al.'s (2016) active units,
Cov_x(E_q[z_d|x]) > 0.01, agree on such a run: a posterior equal to N(0, 1) has its mean at 0 for
every image. A run with some dimensions switched off is not collapsed: a large beta does that on
purpose (the Beta page shows it).

No torch here: the home page reads cards before torch is imported.
"""

from __future__ import annotations

from collections.abc import Sequence

ACTIVE_UNIT_THRESHOLD = 0.01  # nats: a dimension whose mean test KL is above this carries information

FIXES = ("train for more epochs (the KL can rise again once the decoder learns to use z), warm the KL up "
         "from 0 (β schedule \"linear\": Bowman et al., 2016), or train with a smaller β")


def active_units(kl_per_dim: Sequence[float]) -> int:
    """The dimensions whose mean test KL is above ACTIVE_UNIT_THRESHOLD nats."""
    return int(sum(value > ACTIVE_UNIT_THRESHOLD for value in kl_per_dim))


def collapse_note(kl_per_dim: Sequence[float] | None, beta: float | None = None, kl_only: bool = False) -> str | None:
    """Why a VAE's posterior collapsed and how to avoid it, or None when any dimension is active
    (or the model has no KL, ``kl_per_dim`` None)."""
    if kl_per_dim is None or not len(kl_per_dim) or active_units(kl_per_dim) > 0:
        return None
    total = float(sum(kl_per_dim))
    reason = (f"posterior collapse: none of the {len(kl_per_dim)} latent dimensions carries more than "
              f"{ACTIVE_UNIT_THRESHOLD:g} nats about its image (total KL {total:.3f} nats), so every code sits "
              "on the prior N(0, I) and the decoder draws the same average image for every z")
    if kl_only:
        return f"{reason}. Trained on the KL term alone, this model collapses by design."
    cause = (" The KL weight β" + (f" = {beta:g}" if beta is not None else "")
             + " made the code cheaper to switch off than to use before the decoder learned to use it.")
    return f"{reason}.{cause} To avoid it: {FIXES}."
