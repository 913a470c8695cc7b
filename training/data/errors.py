"""Typed errors of the data-staging job.

The CLI turns any `DataStagingError` into one line on stderr and exit code 2, so every failure
the job can foresee must raise a subclass of it (never a bare exception with a traceback).
"""

from __future__ import annotations


class DataStagingError(Exception):
    """Base class: a problem with the input, the output or the S3 target, explained in words."""


class SourceError(DataStagingError):
    """The source cannot be found, downloaded or is of an unknown kind."""


class DownloadError(SourceError):
    """The archive could not be downloaded after all retries."""


class ChecksumError(SourceError):
    """The archive's MD5 differs from the expected one."""


class ArchiveFormatError(SourceError):
    """The archive is corrupt or truncated, or lacks the expected files, keys or labels."""


class ImageFolderError(SourceError):
    """An image folder has unknown label directories, unreadable or unsupported files."""


class NoTargetLabelsError(SourceError):
    """The source holds no image of the target classes (bicycle, motorcycle)."""


class SplitError(DataStagingError):
    """The split cannot be made (too few images) or would leak images across splits."""


class OutputError(DataStagingError):
    """The output directory cannot be written or would overwrite something not ours."""


class S3StagingError(DataStagingError):
    """The S3 target is malformed, missing, not accessible, or an upload failed."""


class BucketNotFoundError(S3StagingError):
    """The bucket named in --s3-uri does not exist."""
