"""core.card.Card: the shipped cards parse unchanged, and each question has one answer."""

import json
from pathlib import Path

import pytest

from core.card import Card, beta_suffix, beta_text
from core.checkpoints import list_checkpoints, load_checkpoint, read_card
from core.data import DATASET_NAMES, DATASETS
from core.__main__ import build_parser

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints"


def shipped_cards() -> list[Card]:
    cards = list_checkpoints(SHIPPED)
    if not cards:
        pytest.skip("no shipped checkpoints")
    return cards


def test_every_shipped_card_parses_and_round_trips():
    for card_path in sorted(SHIPPED.glob("*.json")):
        raw = json.loads(card_path.read_text())
        card = read_card(card_path)
        assert card.to_dict() == raw and dict(card) == {**raw, "path": str(card_path.with_suffix(""))}
        assert card.name == raw["name"] and card.dataset_name == raw["dataset"]["name"]
        assert card.latent_dim == raw["model_config"]["latent_dim"]
        assert "beta" not in raw  # stored once, in train_config (which the weights file covers)
        if card.kind == "vae":
            assert card.beta == raw["train_config"]["beta"]
        else:
            assert card.beta is None and card.beta_text == "–"


def test_listings_and_loads_give_cards_that_know_their_path(tmp_path):
    """list_checkpoints and load_checkpoint return Card (a broken card too, with its error)."""
    listed = list_checkpoints(SHIPPED)
    assert listed and all(isinstance(c, Card) and not c.error for c in listed)
    first = listed[0]
    assert first.path == str(SHIPPED / first.name)
    loaded = load_checkpoint(first.path).card
    assert isinstance(loaded, Card) and loaded.path == first.path and loaded.to_dict() == first.to_dict()
    (tmp_path / "broken.json").write_text("{")
    (broken,) = list_checkpoints(tmp_path)
    assert isinstance(broken, Card) and broken.name == "broken" and "not valid JSON" in broken.error
    assert broken.path == str(tmp_path / "broken") and "error" not in broken.to_dict()


def test_a_card_written_before_beta_was_stored_once_still_loads(tmp_path):
    """Older cards carry a top-level copy of train_config.beta: they load, and beta is read from
    train_config (which the weights file covers), whatever the copy says."""
    import shutil

    name = "mnist-vae-16-beta4"
    if not (SHIPPED / f"{name}.json").exists():
        pytest.skip("no shipped checkpoints")
    raw = json.loads((SHIPPED / f"{name}.json").read_text())
    shutil.copy(SHIPPED / f"{name}.safetensors", tmp_path / f"{name}.safetensors")
    (tmp_path / f"{name}.json").write_text(json.dumps({**raw, "beta": 2.0}, indent=1))
    card = load_checkpoint(tmp_path / name).card
    assert card.beta == raw["train_config"]["beta"] == 4.0 and card["beta"] == 2.0
    assert [c.beta for c in list_checkpoints(tmp_path, check=True)] == [4.0]


def test_the_kl_only_and_plain_rules():
    cards = {c.name: c for c in shipped_cards()}
    assert cards["mnist-vae-2-klonly"].is_kl_only and not cards["mnist-vae-2-klonly"].is_plain
    assert cards["mnist-vae-2-klonly"].beta_text == "1 (KL only)"
    assert cards["mnist-vae-2"].is_plain and not cards["mnist-vae-2-beta4"].is_plain
    assert cards["mnist-ae-2"].is_plain
    assert cards["mnist-dae-2"].is_denoiser and not cards["mnist-dae-2"].is_plain
    assert not any(c.is_denoiser for name, c in cards.items() if name != "mnist-dae-2")


def test_labels():
    card = Card.from_dict({"name": "m", "kind": "vae", "train_config": {"beta": 4.0}, "origin": "trained",
                           "model_config": {"latent_dim": 2, "likelihood": "gaussian", "gaussian_variance": 0.03}})
    assert card.display_name == "m · VAE, 2-D, beta 4 (trained here)"
    assert card.likelihood_label == "Gaussian, c = 0.03"
    assert card.training_label == "Gaussian, c = 0.03 likelihood, β = 4"
    assert card.updated(path="p").path == "p" and card.path is None
    assert beta_suffix(0.25) == "-beta0.25" and beta_text(None) == "–" and beta_text(2.0, True) == "2 (KL only)"


def test_the_cli_learns_the_datasets_from_the_registry():
    assert DATASET_NAMES == tuple(DATASETS)
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    help_text = next(a.help for a in train._actions if a.dest == "dataset")
    assert all(name in help_text for name in DATASET_NAMES)


def test_a_vae_with_no_active_unit_is_flagged_as_collapsed_with_the_fixes():
    def vae(kl_per_dim, **train):
        return Card.from_dict({"name": "v", "kind": "vae", "model_config": {"latent_dim": len(kl_per_dim)},
                               "train_config": {"beta": 1.0, **train}, "metrics": {"kl_per_dim": kl_per_dim}})

    note = vae([0.003, 0.009]).collapse
    assert note.startswith("posterior collapse") and "none of the 2 latent dimensions" in note
    assert all(fix in note for fix in ("more epochs", "warm the KL up", "smaller β"))
    assert vae([0.5, 0.001]).collapse is None  # one dimension switched off is not collapse
    assert "by design" in vae([0.0, 0.0], reconstruction_weight=0).collapse
    assert Card.from_dict({"name": "a", "kind": "ae", "model_config": {"latent_dim": 2}}).collapse is None
