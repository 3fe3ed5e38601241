"""Tests for fs.copy_tree, fs.move_tree and fs.can_write: local folders, and URLs
through tf.io.gfile (TensorFlow's ram:// file system standing in for gs://)."""

import pathlib
import uuid

import pytest

from pipeline import fs


def make_tree(root: pathlib.Path) -> dict[str, bytes]:
    """A small nested folder; returns {relative path: content}."""
    files = {
        "saved_model.pb": b"graph",
        "variables/variables.index": b"index",
        "variables/variables.data-00000-of-00001": bytes(range(256)) * 40,
        "assets/vocab.txt": b"red\ngreen\n",
    }
    for relative, content in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(content)
    (root / "empty").mkdir()
    return files


def read_tree(root: str) -> dict[str, bytes]:
    """{relative path: content} of every file under root, local or URL."""
    found = {}
    for path, _, _ in fs.file_stats(root):
        relative = path[len(root) :].lstrip("/")
        found[relative] = fs.read_bytes(path)
    return found


def ram(name: str) -> str:
    return f"ram://mlpipe-fs-copy-{uuid.uuid4().hex[:8]}/{name}"


class TestCopyTree:
    def test_copies_every_file_and_empty_folder(self, tmp_path):
        files = make_tree(tmp_path / "src")
        fs.copy_tree(str(tmp_path / "src"), str(tmp_path / "dst"))
        assert read_tree(str(tmp_path / "dst")) == files
        assert (tmp_path / "dst" / "empty").is_dir()
        assert read_tree(str(tmp_path / "src")) == files

    def test_refuses_an_existing_destination_and_a_missing_source(self, tmp_path):
        make_tree(tmp_path / "src")
        (tmp_path / "dst").mkdir()
        (tmp_path / "dst" / "keep.txt").write_text("mine")
        with pytest.raises(FileExistsError, match="exists"):
            fs.copy_tree(str(tmp_path / "src"), str(tmp_path / "dst"))
        assert read_tree(str(tmp_path / "dst")) == {"keep.txt": b"mine"}
        with pytest.raises(FileNotFoundError, match="it is not a folder"):
            fs.copy_tree(str(tmp_path / "nothing"), str(tmp_path / "other"))
        assert not (tmp_path / "other").exists()

    def test_local_to_url_and_back(self, tmp_path):
        files = make_tree(tmp_path / "src")
        remote = ram("copy")
        fs.copy_tree(str(tmp_path / "src"), remote)
        assert read_tree(remote) == files
        fs.copy_tree(remote, str(tmp_path / "back"))
        assert read_tree(str(tmp_path / "back")) == files


class TestMoveTree:
    def test_moves_a_folder_whole(self, tmp_path):
        files = make_tree(tmp_path / "aside")
        fs.move_tree(str(tmp_path / "aside"), str(tmp_path / "1"))
        assert read_tree(str(tmp_path / "1")) == files
        assert sorted(p.name for p in tmp_path.iterdir()) == ["1"]

    @pytest.mark.parametrize("taken_by", ["full folder", "empty folder", "file"])
    def test_never_replaces_what_is_there(self, tmp_path, taken_by):
        files = make_tree(tmp_path / "aside")
        target = tmp_path / "1"
        if taken_by == "file":
            target.write_text("x")
        else:
            target.mkdir()
            if taken_by == "full folder":
                (target / "saved_model.pb").write_text("the first push")
        with pytest.raises(FileExistsError, match="it exists"):
            fs.move_tree(str(tmp_path / "aside"), str(target))
        assert read_tree(str(tmp_path / "aside")) == files
        if taken_by == "full folder":
            assert (target / "saved_model.pb").read_text() == "the first push"
        assert target.exists()

    def test_a_url_folder_is_moved_file_by_file(self, tmp_path):
        files = make_tree(tmp_path / "src")
        aside = ram("aside")
        target = aside.rsplit("/", 1)[0] + "/7"
        fs.copy_tree(str(tmp_path / "src"), aside)
        fs.move_tree(aside, target)
        assert read_tree(target) == files
        assert not fs.exists(fs.join(aside, "saved_model.pb"))
        fs.copy_tree(str(tmp_path / "src"), aside)
        with pytest.raises(FileExistsError, match="it exists"):
            fs.move_tree(aside, target)
        assert read_tree(aside) == files


class TestCanWrite:
    def test_local_paths(self, tmp_path):
        assert fs.can_write(str(tmp_path))
        assert fs.can_write(str(tmp_path / "a" / "b" / "c"))
        (tmp_path / "file").write_text("")
        assert not fs.can_write(str(tmp_path / "file"))
        assert not fs.can_write(str(tmp_path / "file" / "below"))

    def test_urls_are_writable_unless_a_file_is_in_the_way(self):
        base = ram("base")
        assert fs.can_write(base + "/models/taxi")
        fs.write_text(base + "/file", "x")
        assert not fs.can_write(base + "/file/below")
        assert fs.can_write(base + "/other")
