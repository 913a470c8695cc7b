"""Data staging: CIFAR-100 bicycles and motorcycles (or an image folder) to PNG splits and S3.

CLI: `python -m training.data stage --source SRC --out DIR [--s3-uri s3://bucket/prefix]`.
Public API: `stage`, `StageResult`, the error classes, and the helpers re-exported below.
"""

from training.data.errors import (
    ArchiveFormatError,
    BucketNotFoundError,
    ChecksumError,
    DataStagingError,
    DownloadError,
    ImageFolderError,
    NoTargetLabelsError,
    OutputError,
    S3StagingError,
    SourceError,
    SplitError,
)
from training.data.images import decode_image, encode_png, to_model_pixels
from training.data.s3 import UploadReport, parse_s3_uri, sync_dataset
from training.data.sources import CIFAR100_MD5, CIFAR100_URL, SourceData
from training.data.split import SPLITS, Splits, make_splits
from training.data.stage import (
    DEFAULT_SEED,
    DEFAULT_VALIDATION_FRACTION,
    StageResult,
    stage,
)
from training.data.write import CARD_NAME, image_path
from training.dataset import ImageSet

__all__ = [
    "CARD_NAME",
    "CIFAR100_MD5",
    "CIFAR100_URL",
    "DEFAULT_SEED",
    "DEFAULT_VALIDATION_FRACTION",
    "SPLITS",
    "ArchiveFormatError",
    "BucketNotFoundError",
    "ChecksumError",
    "DataStagingError",
    "DownloadError",
    "ImageFolderError",
    "ImageSet",
    "NoTargetLabelsError",
    "OutputError",
    "S3StagingError",
    "SourceData",
    "SourceError",
    "SplitError",
    "Splits",
    "StageResult",
    "UploadReport",
    "decode_image",
    "encode_png",
    "image_path",
    "make_splits",
    "parse_s3_uri",
    "stage",
    "sync_dataset",
    "to_model_pixels",
]
