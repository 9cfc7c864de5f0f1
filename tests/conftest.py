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


@pytest.fixture(autouse=True)
def _fresh_report_state():
    """Each test starts outside private mode and with no declared design: reading a data file with
    ``load_report_cohort`` puts the process in private mode and declares the cohort's design (as it must in a
    report's kernel), which would otherwise carry over to the next test in the same worker."""
    import os

    saved = os.environ.get("PEERSTUDY_PRIVATE")
    yield
    if saved is None:
        os.environ.pop("PEERSTUDY_PRIVATE", None)
    else:
        os.environ["PEERSTUDY_PRIVATE"] = saved
    try:
        from peerstudy.present.wording import use_design
    except ImportError:  # pragma: no cover - the package is always importable here
        return
    use_design(None)
