"""CLI: `python -m training.data stage --source SRC --out DIR [--s3-uri s3://bucket/prefix]`."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from contract.cli import CliParser, at_least, finite_number
from training.data.errors import DataStagingError
from training.data.s3 import DEFAULT_WORKERS
from training.data.sources import CIFAR100_SOURCE_NAME
from training.data.stage import (
    DEFAULT_CACHE_DIR,
    DEFAULT_LABELS_TEST_FRACTION,
    DEFAULT_SEED,
    DEFAULT_VALIDATION_FRACTION,
    stage,
)

EXIT_STAGING_ERROR = 2
_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")


def _fraction(value: str) -> float:
    number = finite_number(value)
    if not 0.0 <= number < 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not in [0, 1)")
    return number


def _md5(value: str) -> str:
    if not _MD5.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an MD5 (32 hex digits)")
    return value.lower()


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(prog="python -m training.data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser(
        "stage",
        help="stage bicycles and motorcycles as 32x32 RGB PNG splits (and to S3)",
        description="Stage CIFAR-100 bicycles (0) and motorcycles (1) for training.",
    )
    cmd.add_argument(
        "--source",
        action="append",
        help="'cifar100' (download the official archive, default), an http(s) URL or path of "
        "a CIFAR-100 python .tar.gz, an image folder <dir>/<label>/*.png|jpg, or "
        "labels:s3://bucket/labels/ (or labels:DIR): the images reviewers labelled, from their "
        "label records. Repeat it to stage several sources as one (retraining: the base data "
        "and the reviewers' labels)",
    )
    cmd.add_argument("--out", type=Path, required=True, help="output directory (replaced)")
    cmd.add_argument("--s3-uri", help="also sync the dataset to s3://bucket/prefix")
    cmd.add_argument("--kms-key-id", help="SSE-KMS key (id, ARN or alias) for the S3 objects")
    cmd.add_argument("--seed", type=at_least(0), default=DEFAULT_SEED, help="split seed")
    cmd.add_argument(
        "--validation-fraction",
        type=_fraction,
        default=DEFAULT_VALIDATION_FRACTION,
        help="share of each label of the train split used for validation",
    )
    cmd.add_argument(
        "--labels-test-fraction",
        type=_fraction,
        default=DEFAULT_LABELS_TEST_FRACTION,
        help="share of the reviewers' labelled images held out as test images, the same ones "
        "in every retraining (a labels: source; default %(default)s)",
    )
    cmd.add_argument(
        "--md5", type=_md5, help="expected MD5 of the archive (the official one by default)"
    )
    cmd.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="downloads")
    cmd.add_argument(
        "--duplicates",
        choices=("drop", "error"),
        default="drop",
        help="pixel-identical images: drop them (keeping test's copy) or refuse to stage",
    )
    cmd.add_argument("--workers", type=at_least(1), default=DEFAULT_WORKERS, help="upload threads")
    cmd.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    sources = args.source or [CIFAR100_SOURCE_NAME]
    if args.md5 and (len(sources) > 1 or Path(sources[0]).is_dir()):
        parser.error("--md5 checks an archive, but --source is an image folder or several sources")
    try:
        result = stage(
            sources,
            args.out,
            s3_uri=args.s3_uri,
            kms_key_id=args.kms_key_id,
            seed=args.seed,
            validation_fraction=args.validation_fraction,
            labels_test_fraction=args.labels_test_fraction,
            md5=args.md5,
            cache_dir=args.cache_dir,
            duplicates=args.duplicates,
            workers=args.workers,
            progress=not args.quiet,
        )
    except DataStagingError as error:
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_STAGING_ERROR
    except KeyboardInterrupt:
        print("interrupted; the output directory was left as it was", file=sys.stderr)
        return 130
    print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
