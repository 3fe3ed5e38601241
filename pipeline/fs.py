"""The one door to artifact storage.

Local paths use the standard library; URLs with a scheme (``gs://``, ``s3://``,
``hdfs://``) go through ``tf.io.gfile``, imported only when such a URL is used, so a
pipeline on local files never pays TensorFlow's import time for its bookkeeping.

Writes that must appear whole are written aside, then renamed into place.

Example:
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> write_text(join(root, "a", "note.txt"), "hello")
    >>> read_text(join(root, "a", "note.txt"))
    'hello'
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from typing import Any

from pipeline.errors import ArtifactStorageError


def mlpipe_home() -> str:
    """The folder for mlpipe's defaults: ``$MLPIPE_HOME``, else ``~/.mlpipe``."""
    home = os.environ.get("MLPIPE_HOME") or os.path.join("~", ".mlpipe")
    return os.path.abspath(os.path.expanduser(home))


def is_remote(path: str) -> bool:
    """True for a URL with a scheme such as ``gs://bucket/x``; False for local paths."""
    return "://" in path and not path.startswith("file://")


def _local(path: str) -> str:
    return path[len("file://") :] if path.startswith("file://") else path


def _gfile() -> Any:
    import tensorflow as tf  # deferred: only remote storage needs it

    return tf.io.gfile


def join(base: str, *parts: str) -> str:
    """Joins path parts with '/', for local paths and URLs alike."""
    if not is_remote(base):
        return os.path.join(base, *parts)
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def exists(path: str) -> bool:
    """True if a file or folder exists at ``path``."""
    return _gfile().exists(path) if is_remote(path) else os.path.exists(_local(path))


def isdir(path: str) -> bool:
    """True if ``path`` is a folder."""
    return _gfile().isdir(path) if is_remote(path) else os.path.isdir(_local(path))


def makedirs(path: str) -> None:
    """Creates a folder and its parents; an existing folder is fine."""
    if is_remote(path):
        _gfile().makedirs(path)
    else:
        os.makedirs(_local(path), exist_ok=True)


def listdir(path: str) -> list[str]:
    """The names in a folder, sorted."""
    names = _gfile().listdir(path) if is_remote(path) else os.listdir(_local(path))
    return sorted(name.rstrip("/") for name in names)


def glob(pattern: str) -> list[str]:
    """The paths matching a glob pattern, sorted."""
    if is_remote(pattern):
        return sorted(_gfile().glob(pattern))
    import glob as globlib

    return sorted(globlib.glob(_local(pattern)))


def file_stats(path: str) -> list[tuple[str, int, float]]:
    """(path, size, modification time) of every file at ``path``, sorted by path.

    ``path`` is a file, a folder (searched recursively) or a glob pattern; nothing
    matching gives an empty list.
    """
    if is_remote(path):
        gfile = _gfile()
        if gfile.isdir(path):
            paths = [
                join(folder, name)
                for folder, _, names in gfile.walk(path)
                for name in names
            ]
        else:
            paths = gfile.glob(path)
        stats = [(p, gfile.stat(p)) for p in paths]
        return sorted(
            (p, s.length, s.mtime_nsec / 1e9) for p, s in stats if not s.is_directory
        )
    local = _local(path)
    if os.path.isdir(local):
        paths = [os.path.join(f, n) for f, _, names in os.walk(local) for n in names]
    else:
        import glob as globlib

        paths = globlib.glob(local, recursive=True)
    found = []
    for p in paths:
        stat = os.stat(p)
        if not os.path.isdir(p):
            found.append((p, stat.st_size, stat.st_mtime))
    return sorted(found)


def remove_tree(path: str) -> None:
    """Deletes a folder and everything in it; a missing folder is fine."""
    if is_remote(path):
        if _gfile().exists(path):
            _gfile().rmtree(path)
    else:
        shutil.rmtree(_local(path), ignore_errors=True)


def rename(src: str, dst: str) -> None:
    """Moves ``src`` to ``dst`` (atomic for local paths on one file system)."""
    if is_remote(src):
        _gfile().rename(src, dst, overwrite=True)
    else:
        os.replace(_local(src), _local(dst))


def read_bytes(path: str) -> bytes:
    """The whole content of a file."""
    if is_remote(path):
        with _gfile().GFile(path, "rb") as f:
            return f.read()
    with open(_local(path), "rb") as f:
        return f.read()


def read_text(path: str) -> str:
    """The whole content of a UTF-8 text file."""
    return read_bytes(path).decode("utf-8")


def write_bytes(path: str, data: bytes) -> None:
    """Writes a file whole: aside first, then renamed into place. Creates parent folders."""
    parent = (
        os.path.dirname(_local(path)) if not is_remote(path) else path.rsplit("/", 1)[0]
    )
    makedirs(parent)
    aside = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    if is_remote(path):
        with _gfile().GFile(aside, "wb") as f:
            f.write(data)
    else:
        with open(_local(aside), "wb") as f:
            f.write(data)
    try:
        rename(aside, path)
    except BaseException:
        remove_file(aside)
        raise


def write_text(path: str, text: str) -> None:
    """Writes a UTF-8 text file whole (aside, then renamed)."""
    write_bytes(path, text.encode("utf-8"))


def remove_file(path: str) -> None:
    """Deletes one file; a missing file is fine."""
    try:
        if is_remote(path):
            _gfile().remove(path)
        else:
            os.remove(_local(path))
    except (FileNotFoundError, OSError):
        pass


def check_writable(root: str) -> None:
    """Makes sure artifacts can be written under ``root``, creating it if needed.

    Raises:
        ArtifactStorageError: The folder cannot be created or written, saying why.
    """
    try:
        makedirs(root)
        if is_remote(root):
            probe = join(root, f".mlpipe-write-check-{uuid.uuid4().hex[:8]}")
            write_bytes(probe, b"")
            remove_file(probe)
        else:
            fd, probe = tempfile.mkstemp(
                prefix=".mlpipe-write-check-", dir=_local(root)
            )
            os.close(fd)
            os.remove(probe)
    except Exception as exc:
        raise ArtifactStorageError(
            f"The pipeline root {root!r} is not writable: {type(exc).__name__}: {exc}. "
            f"Pass a folder you can write to as Pipeline(root=...) or fix its permissions."
        ) from exc
