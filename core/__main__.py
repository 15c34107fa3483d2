"""Command line: python -m core train | sweep | evaluate | list | pretrain.

Examples:
    python -m core train --model vae --dataset mnist --latent-dim 2 --beta 1 --epochs 30 --out checkpoints/mnist-vae-2
    python -m core sweep --model vae --dataset mnist --latent-dim 2 --betas 0,1,4 --out checkpoints/mnist-vae-2
    python -m core evaluate checkpoints/mnist-vae-2 --json
    python -m core evaluate checkpoints/mnist-vae-2 --json --quadrature --first 20
    python -m core list checkpoints
    torchrun --nproc_per_node 2 -m core train --model vae --dataset digits --batch-size 64 --out runs/digits-vae-ddp
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core import distributed
from core.card import beta_suffix
from core.data import DATASET_NAMES
from core.models import ModelConfig, default_conv_stages
from core.report import format_metrics_table
from core.runsettings import Setting, SettingError
from core.runspec import IMAGE_SIDE, RUN_SETTINGS, RunSpec, command_line
from core.settings import SettingsError, settings
from core.sizes import is_allocation_failure, out_of_memory_message
from core.train import KIND_DEFAULTS, TqdmCallback, TrainConfig, TrainingDiverged, device_problem

MAX_IWAE_K = 10_000  # importance samples: more only costs time (k forward passes per image)
_PER_KIND = {name for defaults in KIND_DEFAULTS.values() for name in defaults}  # flags defaulting per model kind
# The flag behind each setting a SettingError names; the two config fields without a flag of their own
# name the flag that sets them.
_FLAGS = {**{s.name: s.cli_flag for s in RUN_SETTINGS.values() if s.cli_flag},
          "reconstruction_weight": "--kl-only", "image_shape": "--image-size"}


def _integer(low: int, high: int | None = None):
    """An argparse type for an integer in [low, high]: the message names the value and the range."""
    return Setting(0, "", low=low, high=high).parse


def _betas(text: str) -> list[float]:
    """--betas: comma-separated values, each in beta's range."""
    try:
        values = [RUN_SETTINGS["beta"].parse(part.strip()) for part in text.split(",") if part.strip()]
    except argparse.ArgumentTypeError as err:
        raise argparse.ArgumentTypeError(f"{err} (each of the comma-separated betas)") from None
    if not values:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: give at least one beta, e.g. 0,1,4")
    return values


def _image_size(text: str) -> tuple[int, int]:
    try:
        parts = [int(p) for p in text.lower().replace("x", ",").split(",")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or any(IMAGE_SIDE.problem(side) for side in parts):
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected HxW with sides in "
                                         f"[{IMAGE_SIDE.low}, {IMAGE_SIDE.high}], e.g. 28x28")
    return parts[0], parts[1]


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="mnist",
                   help=f"{', '.join(DATASET_NAMES)}, or a folder of images / a .npz or .npy file")
    p.add_argument("--data-dir", default=None, help="where datasets are found or downloaded (default: ~/.cache/latent-explorer)")
    p.add_argument("--no-download", action="store_true", help="never try the network")
    p.add_argument("--image-size", type=_image_size, default=None, help="resize images to HxW (your own data, faces)")
    p.add_argument("--rgb", action="store_true", help="keep colour (3 channels) for your own data; default grayscale")


def _add_run_args(p: argparse.ArgumentParser, with_beta: bool = True) -> None:
    """One flag per run setting (core.runspec.RUN_SETTINGS: name, range, help); the settings each
    model kind sets (core.train.KIND_DEFAULTS) default to None, filled in by RunSpec.for_kind."""
    for s in RUN_SETTINGS.values():
        if s.cli_flag is None or (s.name == "beta" and not with_beta):
            continue
        if s.type is bool:
            p.add_argument(s.cli_flag, dest=s.name, action="store_true", help=s.help)
            continue
        per_kind = s.name in _PER_KIND
        help = s.help + (" (default: per model kind, see core/train.py KIND_DEFAULTS)" if per_kind else "")
        typed = {"choices": s.choices, "type": s.type} if s.choices else {"type": s.parse}
        p.add_argument(s.cli_flag, dest=s.name, default=None if per_kind else s.default, help=help, **typed)
    p.add_argument("--precision", choices=("float32", "float16"), default="float32", help="weight storage")
    p.add_argument("--iwae-k", type=_integer(0, MAX_IWAE_K), default=100,
                   help=f"importance samples for the -log p(x) estimate (0 skips it; at most {MAX_IWAE_K})")


# --------------------------------------------------------------------------- scale-out (torchrun, streamed folders)
# The flags and settings for large runs, in one place (to move into the run spec as a unit):
# streaming a folder with DataLoader workers, the conv depth for 64x64, and
# the torchrun process group around train/sweep (core/distributed.py).


def _add_scale_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stream", action="store_true",
                   help="read an image folder from disk while training (datasets too large for memory)")
    p.add_argument("--workers", type=_integer(0, 64), default=4,
                   help="DataLoader worker processes decoding images with --stream (default 4)")
    p.add_argument("--max-eval-images", type=_integer(1), default=10_000,
                   help="with --stream: test images decoded into memory for the metrics (a seeded sample)")


def _load_stream(parser: argparse.ArgumentParser, args: argparse.Namespace, name: str):
    from core.data import DatasetError
    from core.streaming import load_streamed

    try:
        return load_streamed(name, args.image_size, grayscale=not args.rgb, seed=0, workers=args.workers,
                             max_eval_images=args.max_eval_images)
    except DatasetError as err:
        parser.error(f"argument --dataset: {err}")


def _run_distributed(parser: argparse.ArgumentParser, args: argparse.Namespace, run) -> int:
    """Run ``run()`` inside torchrun's process group (if any), destroyed at the end; one process: just run()."""
    try:
        started = distributed.init_from_env(args.device)
    except (RuntimeError, ValueError) as err:
        parser.error(f"cannot start the distributed process group: {err}")
    try:
        return run()
    finally:
        if started:
            distributed.shutdown()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Train, evaluate and list latent models.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train one model and save NAME.safetensors + NAME.json")
    _add_data_args(p)
    _add_run_args(p)
    _add_scale_args(p)
    p.add_argument("--out", required=True, help="output path without extension, e.g. checkpoints/mnist-vae-2")
    p.add_argument("--force", action="store_true", help="replace an existing checkpoint of that name")

    p = sub.add_parser("sweep", help="one model per beta value, same settings")
    _add_data_args(p)
    _add_run_args(p, with_beta=False)
    _add_scale_args(p)
    p.add_argument("--betas", type=_betas, required=True, help="comma-separated, e.g. 0,0.5,1,2,4,8")
    p.add_argument("--out", required=True, help="output prefix; writes PREFIX-beta<B>.safetensors/.json")
    p.add_argument("--force", action="store_true", help="replace existing checkpoints of those names")

    p = sub.add_parser("evaluate", help="metrics of a checkpoint on its dataset's test split")
    p.add_argument("checkpoint", help="path to NAME (or NAME.json / NAME.safetensors)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--no-download", action="store_true")
    p.add_argument("--iwae-k", type=_integer(0, MAX_IWAE_K), default=100)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--quadrature", action="store_true",
                   help="a 2-D VAE: also -log p(x) by quadrature, the optimised q and the ELBO's two gaps")
    p.add_argument("--first", type=_integer(1, 10**7), default=None,
                   help="measure the first N test images only (every metric on the same images)")

    p = sub.add_parser("list", help="the checkpoints in a folder, with their metrics")
    p.add_argument("folder", nargs="?", default="checkpoints")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("pretrain", help="rebuild the shipped checkpoints (deterministic)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default="checkpoints", help="folder to write into")
    p.add_argument("--only", action="append", default=None, help="rebuild only this NAME (repeatable)")
    p.add_argument("--list", action="store_true", help="list the names it would build and exit")
    return parser


def outputs(args: argparse.Namespace) -> list[str]:
    """The checkpoint paths a train or sweep command will write."""
    if args.command == "train":
        return [args.out]
    if args.command == "sweep":
        return [args.out + beta_suffix(beta) for beta in args.betas]
    return []


def args_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with parsed arguments that can be checked before loading data (the device
    is there; every output can be written and replaces no checkpoint without --force), or None."""
    from core.outpath import folder_problem, output_problem

    if getattr(args, "device", None) and (problem := device_problem(args.device)):
        return f"argument --device: {problem}"
    for out in outputs(args):
        if problem := output_problem(out, overwrite=args.force):
            return f"argument --out: {problem}"
    if args.command == "pretrain" and not args.list and (problem := folder_problem(args.out)):
        return f"argument --out: {problem}"
    return None


def parse_args(argv: list[str] | None = None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """Parse and check ``argv``: a namespace, or SystemExit(2) with a message on stderr."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if problem := args_problem(args):
        parser.error(problem)
    return parser, args


def _load_data(parser: argparse.ArgumentParser, args: argparse.Namespace, name: str):
    from core.data import DatasetError, load_dataset

    if getattr(args, "stream", False):  # the training images stay on disk
        return _load_stream(parser, args, name)
    try:
        dataset = load_dataset(name, args.data_dir, download=not args.no_download,
                               image_size=getattr(args, "image_size", None), grayscale=not getattr(args, "rgb", False))
    except DatasetError as err:
        parser.error(f"argument --dataset: {err}")
    if dataset.notice:
        print(f"note: {dataset.notice}", file=sys.stderr)
    return dataset


def _run_spec(args: argparse.Namespace, beta: float, image_shape: tuple[int, int, int]) -> RunSpec:
    """The run the flags describe; flags left out take the model kind's training defaults."""
    flags = {s.name: getattr(args, s.name) for s in RUN_SETTINGS.values() if s.cli_flag and s.name != "beta"}
    if getattr(args, "stream", False) and flags["validation_fraction"] is None and flags["patience"] is None:
        # Streamed training images have no in-memory validation split: no early stopping by default.
        flags.update(validation_fraction=0.0, patience=0)
    conv_stages = default_conv_stages(image_shape) if args.architecture == "conv" else 2
    return RunSpec.for_kind(**flags, beta=beta, conv_stages=conv_stages)


def _configs(parser, args, dataset, beta: float) -> tuple[ModelConfig, TrainConfig]:
    try:
        return _run_spec(args, beta, dataset.image_shape).configs(dataset)
    except SettingError as err:
        flag = _FLAGS.get(err.setting)
        parser.error(f"argument {flag}: {err}" if flag else str(err))


def _train_one(parser, args, dataset, beta: float, out: str) -> int:
    from core.checkpoints import CheckpointError, read_card
    from core.pipeline import train_and_save

    model_config, train_config = _configs(parser, args, dataset, beta)
    command = command_line(args.argv[0], args.argv[1:])  # what was typed
    # What `evaluate` needs to load the same data again: the file/folder of custom data and the resize.
    ds_card = dataset.describe()
    if dataset.name.startswith("custom:"):  # save_checkpoint stores it relative to the checkpoint's folder
        ds_card["path"] = str(Path(args.dataset).expanduser().resolve())
    if args.image_size:
        ds_card["image_size"] = list(args.image_size)
    main_rank = distributed.is_main()  # under torchrun only rank 0 shows progress, saves and prints
    unwritable = distributed.check_output_writable(out) if distributed.info().active else None
    if unwritable:  # every rank gets rank 0's verdict and stops before training
        if main_rank:
            print(f"error: argument --out: {unwritable}", file=sys.stderr)
        return 2
    from core.data import DatasetError

    try:
        trained = train_and_save(
            dataset, model_config, train_config, out,
            [TqdmCallback(train_config.epochs, Path(out).name)] if main_rank else [],
            command=command, precision=args.precision, iwae_k=args.iwae_k if args.kind == "vae" else 0,
            extra_card={"dataset": ds_card}, overwrite=args.force,
        )
    except (TrainingDiverged, DatasetError, CheckpointError) as err:  # DatasetError: a streamed file that
        # cannot be decoded; CheckpointError: a checkpoint of that name was created meanwhile (no --force)
        if main_rank or not isinstance(err, TrainingDiverged):
            print(f"error: {err}", file=sys.stderr)
        return 1
    if not main_rank:
        return 0
    print(f"saved {out}.safetensors and {out}.json")
    print(format_metrics_table([read_card(out)]))
    if trained.card.get("collapse"):
        print(f"warning: {trained.card['collapse']}", file=sys.stderr)
    return 0


def _evaluate(parser, args) -> int:
    import torch

    from core.checkpoints import CheckpointError, load_checkpoint
    from core.evaluate import evaluate

    try:
        model, card = load_checkpoint(args.checkpoint)
    except CheckpointError as err:
        parser.error(f"argument checkpoint: {err}")
    args.image_size = card.image_size
    args.rgb = model.image_shape[0] == 3
    dataset = _load_data(parser, args, card.dataset_key or "mnist")
    if dataset.image_shape != model.image_shape:
        parser.error(f"argument checkpoint: the model reads {model.image_shape} images, the dataset gives {dataset.image_shape}")
    if args.quadrature and not (model.variational and model.latent_dim == 2):
        parser.error("argument --quadrature: needs a VAE with 2 latent dims")
    first = slice(None, args.first)
    metrics = evaluate(
        model, torch.from_numpy(dataset.test_images[first]), None if dataset.test_labels is None else dataset.test_labels[first],
        torch.from_numpy(dataset.train_images), dataset.train_labels, iwae_k=args.iwae_k if model.variational else 0,
        quadrature=args.quadrature,
    )
    result = {"checkpoint": str(args.checkpoint), "dataset": dataset.describe(), "metrics": metrics.to_dict()}
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(format_metrics_table([card.updated(metrics=metrics.to_dict())]))
        print(f"units: nats per image, {metrics.likelihood} likelihood; MSE per pixel; test images: {metrics.n_test}")
        if metrics.nll_quadrature is not None:
            print(f"-log p(x) by quadrature: {metrics.nll_quadrature:.2f} (doubling a grid changed it by at most "
                  f"{metrics.quadrature_change:.3f}); -ELBO of the encoder's q {metrics.neg_elbo_encoder:.2f}, of the "
                  f"optimised q {metrics.neg_elbo_optimised:.2f}; amortization gap {metrics.amortization_gap:.2f}, "
                  f"approximation gap {metrics.approximation_gap:.2f}")
    return 0


def _train_or_sweep(parser, args) -> int:
    with distributed.main_first():  # under torchrun rank 0 loads (downloads) first, the others after it
        dataset = _load_data(parser, args, args.dataset)
    if args.command == "train":
        return _train_one(parser, args, dataset, args.beta, args.out)
    for beta in args.betas:
        status = _train_one(parser, args, dataset, beta, args.out + beta_suffix(beta))
        if status:
            return status
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # syntax and ranges: SystemExit(2) with argparse's message
    if problem := args_problem(args):  # checked before any data is loaded; status 2 like argparse
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {problem}", file=sys.stderr)
        return 2
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded in the card's "command"
    try:
        settings()  # a bad environment variable or latent-explorer.toml stops the run before any work
    except SettingsError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    try:
        return _run_command(parser, args)
    except (MemoryError, RuntimeError) as err:
        if not is_allocation_failure(err):
            raise
    print(f"error: {out_of_memory_message('python -m core ' + args.command)}", file=sys.stderr)  # err is gone: its
    return 1  # frames, and the memory they held, were freed when the except block ended


def _run_command(parser, args) -> int:
    if args.command in ("train", "sweep"):
        return _run_distributed(parser, args, lambda: _train_or_sweep(parser, args))
    if args.command == "evaluate":
        return _evaluate(parser, args)
    if args.command == "list":
        from core.checkpoints import list_checkpoints

        cards = list_checkpoints(args.folder, check=True)
        if args.json:  # a card that cannot be read is an entry with its "error"
            print(json.dumps([dict(c) for c in cards], indent=1))
            return 0
        for bad in (c for c in cards if c.error):  # named once, on stderr; the table goes on
            print(f"warning: skipped {bad.name}: {bad.error}".replace("\n", "\\n"), file=sys.stderr)
        good = [c for c in cards if not c.error]
        print(format_metrics_table(good) if good else f"no {'readable ' * bool(cards)}checkpoints in {args.folder}")
        return 0
    if args.command == "pretrain":
        from core.pretrain import run_pretrain

        return run_pretrain(out=args.out, data_dir=args.data_dir, only=args.only, list_only=args.list)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
