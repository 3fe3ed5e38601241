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

import errno
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


def copy_tree(src: str, dst: str) -> None:
    """Copies the folder ``src`` and everything in it to ``dst``, which must not exist.

    Either side may be a local path or a URL; a copy that fails part-way leaves a
    partial ``dst`` behind, for the caller to remove (``remove_tree``).

    Raises:
        FileExistsError: ``dst`` exists.
        FileNotFoundError: ``src`` is not a folder.

    Example:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> write_text(join(root, "src", "sub", "a.txt"), "a")
        >>> copy_tree(join(root, "src"), join(root, "dst"))
        >>> read_text(join(root, "dst", "sub", "a.txt"))
        'a'
    """
    if not isdir(src):
        raise FileNotFoundError(f"Cannot copy {src!r}: it is not a folder.")
    if exists(dst):
        raise FileExistsError(f"Cannot copy {src!r} to {dst!r}: {dst!r} exists.")
    if not is_remote(src) and not is_remote(dst):
        shutil.copytree(_local(src), _local(dst))
        return
    gfile = _gfile()
    for folder, _, names in gfile.walk(src):
        relative = folder[len(src) :].strip("/")
        target = join(dst, relative) if relative else dst
        gfile.makedirs(target)
        for name in names:
            gfile.copy(join(folder, name), join(target, name), overwrite=False)


def move_tree(src: str, dst: str) -> None:
    """Moves the folder ``src`` to ``dst``, which must not exist; never replaces it.

    Local paths: one rename, so ``dst`` appears whole or not at all, and of two
    moves racing to the same non-empty-folder ``dst`` exactly one wins (POSIX refuses
    to rename a folder onto a non-empty one). URLs: object stores have no folder
    rename, so files are moved one by one, each subfolder's before the top-level
    files (a SavedModel's ``saved_model.pb`` arrives last); neither the whole
    appearance nor the race guarantee holds there.

    Raises:
        FileExistsError: ``dst`` exists (or another move got there first).

    Example:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> write_text(join(root, "aside", "a.txt"), "a")
        >>> move_tree(join(root, "aside"), join(root, "1"))
        >>> listdir(root)
        ['1']
        >>> write_text(join(root, "late", "b.txt"), "b")
        >>> move_tree(join(root, "late"), join(root, "1"))
        Traceback (most recent call last):
        ...
        FileExistsError: Cannot move ... to ...: it exists.
    """
    taken = FileExistsError(f"Cannot move {src!r} to {dst!r}: it exists.")
    if exists(dst):
        raise taken
    if not is_remote(src) and not is_remote(dst):
        try:
            os.rename(_local(src), _local(dst))
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) or os.path.lexists(
                _local(dst)
            ):
                raise taken from exc
            raise
        return
    gfile = _gfile()
    walked = list(gfile.walk(src))
    subfolders_first = walked[1:] + walked[:1]
    for folder, _, names in subfolders_first:
        relative = folder[len(src) :].strip("/")
        target = join(dst, relative) if relative else dst
        gfile.makedirs(target)
        for name in names:
            try:
                gfile.rename(join(folder, name), join(target, name), overwrite=False)
            except Exception as exc:
                if gfile.exists(join(target, name)):
                    raise taken from exc
                raise
    remove_tree(src)


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


def can_write(path: str) -> bool:
    """True if a folder can be made (or written in) at ``path``, as far as can be
    told without writing anything.

    Local paths: ``path``, or the nearest part of it that exists, is a folder this
    process may write in. URLs: True unless ``path`` or an existing parent is a file
    (object stores refuse writes only when one is tried).

    Example:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> can_write(join(root, "new", "folder"))
        True
        >>> write_text(join(root, "file"), "")
        >>> can_write(join(root, "file", "folder"))
        False
    """
    if is_remote(path):
        probe = path.rstrip("/")
        while "/" in probe.split("://", 1)[1]:
            if exists(probe):
                return isdir(probe)
            probe = probe.rsplit("/", 1)[0]
        return True
    probe = os.path.abspath(_local(path))
    while not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    return os.path.isdir(probe) and os.access(probe, os.W_OK | os.X_OK)


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
