"""The benchmarks still measure the code as it is: each module imports, and every place the stage
clock times is a function the pass really calls (a move that leaves a stage timing nothing fails
here, not in a benchmark run weeks later).
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import benchmarks
from benchmarks.stages import ENTRY_POINTS

MODULES = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_each_benchmark_imports(name: str) -> None:
    importlib.import_module(f"benchmarks.{name}")


@pytest.mark.parametrize(
    ("stage", "owner", "name"), ENTRY_POINTS, ids=[f"{s}:{n}" for s, _, n in ENTRY_POINTS]
)
def test_every_timed_entry_point_exists(stage: str, owner: object, name: str) -> None:
    assert callable(getattr(owner, name, None)), f"{stage}: {owner!r} has no {name}"
