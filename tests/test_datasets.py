"""peerstudy.data.datasets: the packaged copies are the originals; provenance is documented."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from peerstudy.data import datasets

REFERENCE = Path(__file__).parent / "reference"


@pytest.mark.parametrize("loader,shape,events", [
    (datasets.load_uis, (575, 18), ("CENSOR", 464)),
    (datasets.load_pharmaco_smoking, (125, 5), ("relapse", 89)),
])
def test_packaged_copies(loader, shape, events):
    df = loader()
    assert df.shape == shape and int(df[events[0]].sum()) == events[1]
    assert "Source:" in loader.__doc__


def test_uis_is_quantregs_data():
    # fingerprints of quantreg's data(uis), written by tests/reference/datasets.R (pharmacoSmoking, from asaur,
    # is checked against the published model of Moore 2016 in test_survival_cox.py)
    ref = json.loads((REFERENCE / "datasets.json").read_text())["uis"]
    df = datasets.load_uis()
    assert list(df.columns) == ref["columns"] and len(df) == ref["rows"]
    row = np.arange(1, len(df) + 1)
    for col in df.columns:
        x = df[col].to_numpy(float)
        got = [x.sum(), (x ** 2).sum(), (row * x).sum()]
        want = [ref["sum"][col], ref["sum_squares"][col], ref["sum_by_row"][col]]
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=col)


def test_rossi_and_registry():
    df = datasets.load_rossi()
    assert df.shape == (432, 9) and int(df["arrest"].sum()) == 114
    df.loc[0, "week"] = -1
    assert datasets.load_rossi().loc[0, "week"] != -1  # a fresh copy each time
    assert set(datasets.DATASETS) == {"uis", "pharmaco_smoking", "rossi"}
