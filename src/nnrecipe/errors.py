"""One small hierarchy for the errors a user can cause.

Every message says what was received, what was expected, and how to fix it, in one sentence.
The CLI maps any `NnrecipeError` to that sentence and exit code 2.
"""

from __future__ import annotations


class NnrecipeError(Exception):
    """Base class of the errors a user can cause (bad data, bad config, bad model)."""


class DataError(NnrecipeError, ValueError):
    """The data cannot be used as given: bad path, empty, corrupt, wrong shapes, NaN targets."""


class ConfigError(NnrecipeError, ValueError):
    """A configuration value is invalid or unknown."""


class ModelError(NnrecipeError, ValueError):
    """The model cannot be used with the data: wrong output size, crashes on a batch."""


class TrainingError(NnrecipeError, RuntimeError):
    """Training had to stop: non-finite loss, nothing to resume, finished run."""


class StorageError(NnrecipeError, OSError):
    """The file system refused a write or a read: full disk, read-only folder, no permission."""


# errno names of the file-system faults that are the machine's, not a bug of nnrecipe.
_FS_FAULTS = {
    "ENOSPC": "no space is left on the device",
    "EDQUOT": "the disk quota is exceeded",
    "EROFS": "the file system is read-only",
    "EACCES": "permission is denied",
    "EPERM": "the operation is not permitted",
    "EIO": "the device reported an input/output error",
    "EFBIG": "the file is too large for the file system",
    "EMFILE": "too many files are open",
    "ENAMETOOLONG": "the file name is too long",
    "ENOTDIR": "a part of the path is a file, not a folder",
    "EISDIR": "the path is a folder, not a file",
    "EEXIST": "a file of that name already exists",
}


def fs_fault(e: BaseException) -> str | None:
    """What a file-system `OSError` means in words, or None when it is not a file-system fault."""
    import errno

    if not isinstance(e, OSError) or isinstance(e, NnrecipeError) or e.errno is None:
        return None
    name = errno.errorcode.get(e.errno, "")
    return _FS_FAULTS.get(name)


def storage_error(e: OSError, *, then: str) -> StorageError:
    """One sentence for a file-system fault: which file, what happened, and `then` (how to go
    on)."""
    import errno

    where = e.filename if e.filename is not None else "a file"
    name = errno.errorcode.get(e.errno or 0, "OSError")
    what = fs_fault(e) or (e.strerror or str(e))
    return StorageError(f"Cannot write {str(where)!r}: {what} ({name}); {then}")
