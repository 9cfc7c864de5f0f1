from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


# Hypothesis: deterministic examples by default so CI is reproducible; explore new ones with
# `pytest --hypothesis-profile=explore`.
from hypothesis import settings as _hyp_settings  # noqa: E402

_hyp_settings.register_profile("ci", derandomize=True, print_blob=True)
_hyp_settings.register_profile("explore", derandomize=False, max_examples=500)
_hyp_settings.load_profile("ci")
