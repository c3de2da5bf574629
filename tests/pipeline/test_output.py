"""Output folders: checked before work, never mixed, never half-written."""

from __future__ import annotations

import os

import pytest

from nngraph.pipeline import check_output, write_folder


def _write(names):
    def write(folder):
        for name in names:
            (folder / name).write_text(name)

    return write


def test_a_new_folder_and_its_parents_are_created(tmp_path):
    out = write_folder(tmp_path / "a" / "b" / "run", _write(["x.txt"]))
    assert sorted(p.name for p in out.iterdir()) == ["x.txt"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["run"]  # no temporary left


def test_an_existing_folder_is_refused_without_force_and_left_alone(tmp_path):
    out = write_folder(tmp_path / "run", _write(["old.txt"]))
    with pytest.raises(FileExistsError, match="already exists.*--force"):
        write_folder(out, _write(["new.txt"]))
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]


def test_force_replaces_the_folder_whole(tmp_path):
    out = write_folder(tmp_path / "run", _write(["old.txt", "stale.json"]))
    write_folder(out, _write(["new.txt"]), force=True)
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_an_empty_existing_folder_is_used(tmp_path):
    (tmp_path / "run").mkdir()
    write_folder(tmp_path / "run", _write(["x.txt"]))
    assert (tmp_path / "run" / "x.txt").exists()


def test_the_current_folder_is_refused_before_work(tmp_path, monkeypatch):
    # It would be renamed away under the shell that runs nngraph.
    (tmp_path / "run").mkdir()
    monkeypatch.chdir(tmp_path / "run")
    for folder in (".", str(tmp_path / "run"), str(tmp_path)):
        with pytest.raises(ValueError, match="is the current folder"):
            check_output(folder, force=True)
    check_output(tmp_path / "run" / "sub")  # a new folder inside it is fine


def test_a_symbolic_link_stands_for_its_folder(tmp_path):
    target = write_folder(tmp_path / "target", _write(["old.txt"]))
    (tmp_path / "link").symlink_to(target)
    write_folder(tmp_path / "link", _write(["new.txt"]), force=True)
    assert (tmp_path / "link").is_symlink()
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "target"]  # nothing left


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failed_write_leaves_nothing_and_keeps_the_old_folder(tmp_path, error):
    out = write_folder(tmp_path / "run", _write(["old.txt"]))

    def fail(folder):
        (folder / "half.txt").write_text("half")
        raise error

    with pytest.raises(type(error)):
        write_folder(out, fail, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]


def test_a_file_in_the_way_is_named(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="'.*file' exists and is not a folder"):
        check_output(tmp_path / "file")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        check_output(tmp_path / "file" / "run")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_a_read_only_parent_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(PermissionError, match="cannot write"):
        check_output(ro / "run")


def test_the_folder_gets_the_usual_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    out = write_folder(tmp_path / "run", _write(["x"]))
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask
