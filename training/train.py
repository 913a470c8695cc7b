"""Train the classifier: `--backend local` on this CPU (or inside a SageMaker PyTorch container),
`--backend builtin|script` to launch SageMaker training jobs.

    python -m training.train --backend local --data DIR --output DIR [--epochs N] [--seed S]
        [--max-misroute-rate 0.01]

writes `DIR/model.tar.gz` (SageMaker layout, with the calibration and `decision.json`: the
routing threshold the model earned on validation), `metrics.json` and `training_curves.png`.
Inside a SageMaker training container the SM_* environment supplies the data, model and output
directories and the hyperparameters, so the same entry point runs there unchanged.

This module is the command line and that entry point only: the trainer is `training.trainer`,
one run and its artifacts `training.local_run`, the recipe from SageMaker's hyperparameters
`training.hyperparameters`; `--backend builtin|script` hands the command line to
`training.launch`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from contract.cli import CliParser
from training.dataset import DatasetError
from training.hyperparameters import extra_hyperparameters, recipe_from, sagemaker_hyperparameters
from training.local_run import run_local
from training.trainer import Recipe

log = logging.getLogger("training.train")


def build_parser() -> argparse.ArgumentParser:
    env = os.environ
    explicit = {"epochs", "seed", "ensemble", "lr", "batch_size", "max_misroute_rate"}
    knobs = ", ".join(f"--{f.name}" for f in fields(Recipe) if f.name not in explicit)
    parser = CliParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        # The recipe's other fields come through parse_known_args, as SageMaker hyperparameters do.
        epilog=f"The recipe's other fields are accepted as `--name value` too: {knobs} "
        "(e.g. --pretrained false --ensemble 2 trains two from-scratch members only).",
        # allow_abbrev=False: an abbreviation must not swallow a hyperparameter's name
        allow_abbrev=False,
    )
    parser.add_argument("--backend", choices=("local", "builtin", "script"), default="local")
    parser.add_argument(
        "--data",
        type=Path,
        default=env.get("SM_CHANNEL_TRAIN"),
        help="local: staged dir (<split>/<label>/*.png) or a <label>/*.png folder; "
        "SageMaker backends: the staged data's s3:// prefix",
    )
    parser.add_argument("--validation", type=Path, default=env.get("SM_CHANNEL_VALIDATION"))
    parser.add_argument("--output", type=Path, default=env.get("SM_OUTPUT_DATA_DIR"))
    parser.add_argument("--model-dir", type=Path, default=env.get("SM_MODEL_DIR"))
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--ensemble", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument(
        "--max-misroute-rate",
        type=float,
        help="target misroute rate among routed images the threshold must certify (0.01)",
    )
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.backend != "local":
        # Not at the top: the training job runs this module without the launcher (SCRIPT_SOURCES).
        from training import launch  # noqa: PLC0415

        return launch.main([args.backend, *(argv if argv is not None else sys.argv[1:])])
    if args.data is None or args.output is None:
        parser.error("--data and --output are required (or SM_CHANNEL_TRAIN/SM_OUTPUT_DATA_DIR)")
    from training.pretrained import PretrainedWeightsError

    try:
        # SageMaker passes hyperparameters as `--name value` too; SM_HPS holds them all.
        overrides = sagemaker_hyperparameters() | extra_hyperparameters(extra)
        recipe = recipe_from(args, overrides)
        metrics = run_local(
            args.data,
            args.output,
            recipe,
            validation_dir=args.validation,
            model_dir=args.model_dir,
            progress=not args.no_progress,
        )
    except (DatasetError, ValueError, PretrainedWeightsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    log.info(
        "validation %s; decision threshold %.4f (certified: %s)",
        json.dumps({k: metrics["validation"][k] for k in ("accuracy", "ece")}),
        metrics["decision_threshold"],
        metrics["decision"]["certified"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
