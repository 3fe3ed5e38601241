"""Tests for pipeline/fs.py: local paths without TensorFlow, URLs through tf.io.gfile."""

import subprocess
import sys

import pytest

from pipeline import fs
from pipeline.errors import ArtifactStorageError


def test_local_write_is_whole_and_leaves_no_temporary_file(tmp_path):
    target = str(tmp_path / "deep" / "folder" / "note.txt")
    fs.write_text(target, "first")
    fs.write_text(target, "second")
    assert fs.read_text(target) == "second"
    assert fs.listdir(str(tmp_path / "deep" / "folder")) == ["note.txt"]


def test_local_tree_operations(tmp_path):
    base = str(tmp_path / "a")
    fs.makedirs(fs.join(base, "b"))
    fs.write_bytes(fs.join(base, "b", "x.bin"), b"\x00\x01")
    assert fs.isdir(base) and fs.exists(fs.join(base, "b", "x.bin"))
    assert fs.glob(fs.join(base, "*", "*.bin")) == [fs.join(base, "b", "x.bin")]
    fs.rename(fs.join(base, "b"), fs.join(base, "c"))
    assert fs.read_bytes(fs.join(base, "c", "x.bin")) == b"\x00\x01"
    fs.remove_tree(base)
    fs.remove_tree(base)  # a second removal is fine
    assert not fs.exists(base)


def test_check_writable_names_the_root_and_the_fix(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ArtifactStorageError, match="Pass a folder you can write to"):
        fs.check_writable(str(blocker / "root"))
    fs.check_writable(str(tmp_path / "new" / "root"))
    assert fs.listdir(str(tmp_path / "new" / "root")) == []


def test_local_paths_never_import_tensorflow(tmp_path):
    code = (
        "import sys; from pipeline import fs; "
        f"fs.check_writable({str(tmp_path)!r}); fs.write_text({str(tmp_path / 'x')!r}, 'y'); "
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_urls_go_through_tf_io_gfile():
    # TensorFlow's in-memory file system stands in for gs://: the same gfile code path.
    root = "ram://mlpipe-test/root"
    fs.check_writable(root)
    fs.write_text(fs.join(root, "a", "note.txt"), "hello")
    assert fs.read_text(fs.join(root, "a", "note.txt")) == "hello"
    assert fs.exists(fs.join(root, "a")) and fs.is_remote(root)
    assert fs.join("gs://bucket/x/", "y", "z") == "gs://bucket/x/y/z"
    fs.remove_tree(fs.join(root, "a"))
    assert not fs.exists(fs.join(root, "a", "note.txt"))
