"""Files and JSON values (nngraph.utils._io): atomic writes, strict JSON, to_jsonable."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from nngraph.utils import atomic_write, json_text, to_jsonable, write_json


class _Boom(Exception):
    pass


def _fail(fh):
    fh.write("half a file")
    raise _Boom("the writer failed")


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


# ------------------------------------------------------------------------- atomic_write


def test_atomic_write_writes_text_and_binary(tmp_path):
    out = atomic_write(tmp_path / "a.txt", lambda fh: fh.write("héllo\n"), binary=False)
    assert out == tmp_path / "a.txt"
    assert out.read_text(encoding="utf-8") == "héllo\n"
    atomic_write(tmp_path / "b.bin", lambda fh: fh.write(b"\x00\x01"), binary=True)
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"


def test_atomic_write_leaves_an_existing_file_untouched_when_the_writer_raises(tmp_path):
    path = tmp_path / "keep.json"
    path.write_text("the old content")
    with pytest.raises(_Boom):
        atomic_write(path, _fail, binary=False)
    assert path.read_text() == "the old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.json"]  # no temporary left


def test_atomic_write_cleans_up_after_ctrl_c(tmp_path):
    def interrupted(fh):
        fh.write("partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "new.txt", interrupted, binary=False)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary


def test_atomic_write_replaces_an_existing_file(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")
    atomic_write(path, lambda fh: fh.write("new"), binary=False)
    assert path.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_atomic_write_gives_the_permissions_of_a_plain_open(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = atomic_write(tmp_path / "f.txt", lambda fh: fh.write("x"), binary=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600


def test_atomic_write_into_a_missing_directory_fails_cleanly(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing" / "f.txt", lambda fh: fh.write("x"), binary=False)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------- strict JSON


def test_write_json_and_json_text_agree(tmp_path):
    document = {"a": [1, 2.5], "b": None}
    text = json_text(document, tmp_path / "d.json")
    assert "\n" in text and not text.endswith("\n")
    assert (tmp_path / "d.json").read_text() == text + "\n"
    assert write_json(tmp_path / "e.json", document) == tmp_path / "e.json"
    assert (tmp_path / "e.json").read_text() == text + "\n"
    assert json.loads(text) == document
    assert json_text(document, indent=None) == '{"a": [1, 2.5], "b": null}'


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_strict_json_refuses_non_finite_numbers_and_writes_nothing(tmp_path, bad):
    with pytest.raises(ValueError):
        write_json(tmp_path / "d.json", {"z": bad})
    with pytest.raises(ValueError):
        json_text({"z": bad}, tmp_path / "d.json")
    assert list(tmp_path.iterdir()) == []


def test_write_json_keeps_the_old_file_when_the_document_is_refused(tmp_path):
    path = tmp_path / "d.json"
    write_json(path, {"v": 1})
    with pytest.raises(TypeError):
        write_json(path, {"v": object()})
    assert json.loads(path.read_text()) == {"v": 1}


# ------------------------------------------------------------------------- to_jsonable


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.int64(3), 3),
        (np.uint8(7), 7),
        (np.float32(0.5), 0.5),
        (np.float64(2.25), 2.25),
        (np.bool_(True), True),
        (np.array(4), 4),
        (np.array(1.5), 1.5),
    ],
    ids=["int64", "uint8", "float32", "float64", "bool_", "0-d int", "0-d float"],
)
def test_to_jsonable_numpy_scalars(value, expected):
    out = to_jsonable(value)
    assert out == expected and type(out) is type(expected)


def test_to_jsonable_bools_stay_bools():
    assert to_jsonable(True) is True and to_jsonable(np.bool_(False)) is False
    assert to_jsonable([True, np.bool_(True)]) == [True, True]
    assert all(type(v) is bool for v in to_jsonable(np.array([True, False])))


def test_to_jsonable_arrays_sequences_and_mappings():
    value = {
        1: np.arange(3),
        "m": np.array([[1.5, 2.0], [3.0, 4.0]], dtype=np.float32),
        "t": (np.int64(1), "a", None),
        "nested": {"x": [np.float64(0.25)]},
    }
    out = to_jsonable(value)
    assert out == {
        "1": [0, 1, 2],
        "m": [[1.5, 2.0], [3.0, 4.0]],
        "t": [1, "a", None],
        "nested": {"x": [0.25]},
    }
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    assert type(out["1"][0]) is int and type(out["m"][0][0]) is float


def test_to_jsonable_non_finite_numbers_become_null():
    out = to_jsonable(
        {"nan": float("nan"), "inf": np.float64(np.inf), "a": np.array([1.0, np.nan])}
    )
    assert out == {"nan": None, "inf": None, "a": [1.0, None]}


@pytest.mark.parametrize(
    "value",
    [float("nan"), np.float32(-np.inf), [1.0, float("inf")], {"k": np.array([np.nan])}],
    ids=["nan", "-inf float32", "in a list", "in an array"],
)
def test_to_jsonable_non_finite_numbers_can_be_refused(value):
    with pytest.raises(ValueError, match="metrics holds a non-finite number"):
        to_jsonable(value, what="metrics", nonfinite="error")


def test_to_jsonable_unknown_objects():
    class Thing:
        def __repr__(self) -> str:
            return "<a thing>"

    with pytest.raises(TypeError, match="params holds a Thing, which is not JSON-serialisable"):
        to_jsonable({"k": Thing()}, what="params")
    assert to_jsonable({"k": [Thing()]}, unknown="repr") == {"k": ["<a thing>"]}
    with pytest.raises(TypeError, match="set"):
        to_jsonable({1, 2})


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32, np.uint8, np.bool_])
@pytest.mark.parametrize("shape", [(0,), (7,), (3, 4), (2, 0, 3), (2, 3, 2)])
def test_to_jsonable_arrays_equal_the_element_by_element_walk(rng, dtype, shape):
    # Arrays take a fast path (tolist, non-finite values patched): it must give exactly
    # what walking the nested lists gives, value by value and type by type.
    a = (rng.normal(size=shape) * 5).astype(dtype)
    if a.dtype.kind == "f" and a.size:
        flat = a.reshape(-1)
        flat[rng.integers(0, a.size, 3)] = [np.nan, np.inf, -np.inf]
    fast = to_jsonable(a)
    slow = to_jsonable(a.tolist())
    assert fast == slow

    def types(v):
        return [types(u) for u in v] if isinstance(v, list) else type(v)

    assert types(fast) == types(slow)
    if a.dtype.kind == "f" and a.size:
        with pytest.raises(ValueError, match="x holds a non-finite number"):
            to_jsonable(a, what="x", nonfinite="error")
