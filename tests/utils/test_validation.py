"""The validator family of nngraph.utils._validation: what each check accepts and refuses."""

from __future__ import annotations

import numpy as np
import pytest

from nngraph.utils import (
    InvalidParameterError,
    canonical_labels,
    check_bool,
    check_choice,
    check_int,
    check_int_sequence,
    check_labels,
    check_real,
    check_seed,
    seed_from,
)


def test_invalid_parameter_error_is_a_value_error_and_a_type_error():
    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(InvalidParameterError, TypeError)
    # Callers may catch either, whatever was wrong with the value.
    with pytest.raises(ValueError):
        check_int("k", "three")
    with pytest.raises(TypeError):
        check_int("k", -1, 0)


# ------------------------------------------------------------------------- seed_from


@pytest.mark.parametrize(
    "random_state",
    [0, 7, np.int64(7), 2**40, np.random.default_rng(0), np.random.SeedSequence(0)],
    ids=["0", "7", "np.int64", "2**40", "Generator", "SeedSequence"],
)
def test_seed_from_gives_a_31_bit_int(random_state):
    seed = seed_from(random_state)
    assert type(seed) is int and 0 <= seed < 2**31 - 1


def test_seed_from_an_int_is_reproducible_and_none_is_fresh():
    assert seed_from(3) == seed_from(3) == seed_from(np.int64(3))
    assert seed_from(3) != seed_from(4)
    assert len({seed_from(None) for _ in range(5)}) > 1


def test_seed_from_a_random_state_draws_from_it():
    first = seed_from(np.random.RandomState(0))
    assert first == seed_from(np.random.RandomState(0))
    state = np.random.RandomState(0)
    assert seed_from(state) == first and seed_from(state) != first  # it advanced


@pytest.mark.parametrize("bad", ["0", 1.5, [0], object()])
def test_seed_from_refuses_other_types(bad):
    with pytest.raises(InvalidParameterError, match="random_state must be"):
        seed_from(bad)


# ------------------------------------------------------------------------- check_int


@pytest.mark.parametrize("value", [0, 5, np.int32(5), np.int64(5), np.uint8(5)])
def test_check_int_accepts_integers_and_returns_a_plain_int(value):
    out = check_int("k", value)
    assert type(out) is int and out == value


@pytest.mark.parametrize("bad", [True, np.bool_(False), 3.0, np.float64(3), "3", None, [3]])
def test_check_int_refuses_non_integers(bad):
    with pytest.raises(InvalidParameterError, match=r"^k must be an integer"):
        check_int("k", bad)


def test_check_int_bounds():
    assert check_int("k", 1, 1) == 1 and check_int("k", 4, 1, maximum=4) == 4
    with pytest.raises(InvalidParameterError, match=r"k must be an integer >= 1, got 0"):
        check_int("k", 0, 1)
    with pytest.raises(InvalidParameterError, match=r">= 1 and <= 4, got 5"):
        check_int("k", 5, 1, maximum=4)
    with pytest.raises(InvalidParameterError, match=r"must be an integer <= 4, got 5"):
        check_int("k", 5, maximum=4)


def test_check_int_none_only_when_allowed():
    assert check_int("k", None, 1, allow_none=True) is None
    with pytest.raises(InvalidParameterError):
        check_int("k", None, 1)


# ------------------------------------------------------------------------- check_real


@pytest.mark.parametrize("value", [0, 0.5, 3, np.float32(0.25), np.int64(2)])
def test_check_real_accepts_finite_non_negative_numbers(value):
    out = check_real("lr", value)
    assert type(out) is float and out == float(value)


@pytest.mark.parametrize("bad", [True, np.bool_(True), "0.1", None, [0.1]])
def test_check_real_refuses_non_numbers(bad):
    with pytest.raises(InvalidParameterError, match="lr must be a number"):
        check_real("lr", bad)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), -float("inf")])
def test_check_real_refuses_negative_and_non_finite(bad):
    with pytest.raises(InvalidParameterError, match="lr must be a finite non-negative number"):
        check_real("lr", bad)


def test_check_real_positive_and_maximum():
    with pytest.raises(InvalidParameterError, match="finite positive number"):
        check_real("lr", 0.0, positive=True)
    assert check_real("p", 1.0, maximum=1.0) == 1.0
    with pytest.raises(InvalidParameterError, match="number <= 1, got 1.5"):
        check_real("p", 1.5, maximum=1.0)
    assert check_real("dropout", 0.999, maximum=1.0, below_maximum=True) == 0.999
    with pytest.raises(InvalidParameterError, match="number < 1, got 1.0"):
        check_real("dropout", 1.0, maximum=1.0, below_maximum=True)


# ------------------------------------------------------------------------- check_bool


@pytest.mark.parametrize("value", [True, False, np.bool_(True), np.bool_(False)])
def test_check_bool_accepts_bools(value):
    out = check_bool("flag", value)
    assert type(out) is bool and out == bool(value)


@pytest.mark.parametrize("bad", [0, 1, "yes", None, np.array([True])])
def test_check_bool_refuses_everything_else(bad):
    with pytest.raises(InvalidParameterError, match="flag must be True or False"):
        check_bool("flag", bad)


# ------------------------------------------------------------------------- check_seed


@pytest.mark.parametrize("value", [0, 1, 2**32 - 1, np.uint32(2**32 - 1)])
def test_check_seed_accepts_32_bit_unsigned(value):
    out = check_seed("seed", value)
    assert type(out) is int and out == int(value)


@pytest.mark.parametrize("bad", [-1, 2**32, 1.0, True, None, "0"])
def test_check_seed_refuses_others(bad):
    with pytest.raises(
        InvalidParameterError, match=r"seed must be an integer in \[0, 2\*\*32 - 1\]"
    ):
        check_seed("seed", bad)


# ------------------------------------------------------------------------- check_int_sequence


@pytest.mark.parametrize(
    "value", [[64, 32], (64, 32), np.array([64, 32]), [np.int64(64), 32]], ids=repr
)
def test_check_int_sequence_returns_a_tuple_of_ints(value):
    out = check_int_sequence("hidden", value)
    assert out == (64, 32) and all(type(v) is int for v in out)


def test_check_int_sequence_empty_and_minimum():
    assert check_int_sequence("hidden", []) == ()
    assert check_int_sequence("sizes", [0, 2], minimum=0) == (0, 2)
    with pytest.raises(InvalidParameterError, match="each entry of hidden must be an integer >= 1"):
        check_int_sequence("hidden", [64, 0])
    with pytest.raises(InvalidParameterError, match="each entry of hidden"):
        check_int_sequence("hidden", [64, 2.5])


@pytest.mark.parametrize("bad", ["64", b"64", 64, None, np.ones((2, 2), dtype=int), {64}])
def test_check_int_sequence_refuses_strings_scalars_and_other_containers(bad):
    with pytest.raises(InvalidParameterError, match="hidden must be a sequence of integers >= 1"):
        check_int_sequence("hidden", bad)


# ------------------------------------------------------------------------- check_choice


def test_check_choice():
    assert check_choice("backend", "numba", ("numba", "igraph")) == "numba"
    for bad in ("NUMBA", "", None, 0, ["numba"]):
        with pytest.raises(InvalidParameterError, match=r"backend must be one of \('numba', "):
            check_choice("backend", bad, ["numba", "igraph"])


# ------------------------------------------------------------------------- canonical_labels


def test_canonical_labels_numbers_clusters_by_first_unit():
    out = canonical_labels(np.array([5, -1, 2, 5, 9, 2]))
    np.testing.assert_array_equal(out, [0, -1, 1, 0, 2, 1])
    assert out.dtype == np.int64


def test_canonical_labels_without_clusters():
    np.testing.assert_array_equal(canonical_labels(np.array([-1, -1])), [-1, -1])
    assert canonical_labels(np.array([], dtype=np.int64)).shape == (0,)


# ------------------------------------------------------------------------- check_labels


@pytest.mark.parametrize(
    "labels",
    [[0, 1, -1], (0, 1, -1), np.array([0, 1, -1], dtype=np.int8), np.array([0.0, 1.0, -1.0])],
    ids=["list", "tuple", "int8", "integral floats"],
)
def test_check_labels_gives_int64(labels):
    out = check_labels(labels)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [0, 1, -1])


def test_check_labels_unsigned_and_empty():
    np.testing.assert_array_equal(check_labels(np.array([0, 3], dtype=np.uint64)), [0, 3])
    for empty in ([], np.array([], dtype=np.float64), np.array([], dtype=object)):
        out = check_labels(empty)
        assert out.dtype == np.int64 and out.shape == (0,)


def test_check_labels_length():
    assert check_labels([0, 1], n=2).shape == (2,)
    with pytest.raises(ValueError, match="labels has 2 entries but the graph has 3 units"):
        check_labels([0, 1], n=3)


def test_check_labels_refuses_labels_below_minus_one():
    with pytest.raises(ValueError, match="labels must be >= -1"):
        check_labels([0, -2])


def test_check_labels_refuses_a_label_of_10_to_the_30():
    # A Python int beyond int64 would silently become an object array, or overflow.
    with pytest.raises(ValueError, match=r"integers from -1 to \d+, got 10{30}"):
        check_labels([0, 10**30])
    with pytest.raises(ValueError, match="got -10{30}"):
        check_labels((-(10**30), 0))
    with pytest.raises(TypeError, match="got dtype object"):  # as an array: object dtype
        check_labels(np.array([0, 10**30], dtype=object))


def test_check_labels_refuses_uint64_beyond_int64():
    with pytest.raises(ValueError, match="integers up to"):
        check_labels(np.array([0, 2**63], dtype=np.uint64))


def test_check_labels_refuses_complex_input():
    with pytest.raises(ValueError, match="complex values"):
        check_labels(np.array([0, 1], dtype=complex))
    with pytest.raises(ValueError, match="complex values"):
        check_labels([0, 1 + 0j])


@pytest.mark.parametrize(
    "bad", [[0.5, 1.0], [0.0, float("nan")], [0.0, float("inf")]], ids=["0.5", "nan", "inf"]
)
def test_check_labels_refuses_non_integral_floats(bad):
    with pytest.raises(ValueError, match="non-integral or NaN"):
        check_labels(bad)


def test_check_labels_refuses_floats_beyond_2_to_the_53():
    assert check_labels(np.array([2.0**53]))[0] == 2**53
    with pytest.raises(ValueError, match="at most 2\\*\\*53"):
        check_labels(np.array([2.0**60]))


@pytest.mark.parametrize(
    "bad", [np.array(["a", "b"]), np.array([True, False])], ids=["strings", "bools"]
)
def test_check_labels_refuses_other_dtypes(bad):
    with pytest.raises(TypeError, match="must hold integers, got dtype"):
        check_labels(bad)


def test_check_labels_refuses_other_shapes_and_names_the_labels():
    with pytest.raises(ValueError, match=r"must be a 1-D array, got shape \(2, 2\)"):
        check_labels([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=r"^labels of fc1 must be a 1-D array, got shape \(\)"):
        check_labels(3, name="labels of fc1")
