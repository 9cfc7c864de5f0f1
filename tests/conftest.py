from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
