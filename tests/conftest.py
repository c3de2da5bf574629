"""Shared fixtures: a seeded generator (never global seeding) and small networks."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator for each test."""
    return np.random.default_rng(12345)
