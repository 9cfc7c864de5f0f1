"""peerstudy.datasets: the packaged copies equal the shared originals; provenance is documented."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from peerstudy.data import datasets

SHARED = Path("/work/shared/data/real")


@pytest.mark.parametrize("loader,name,shape,events", [
    (datasets.load_uis, "uis.csv", (575, 18), ("CENSOR", 464)),
    (datasets.load_pharmaco_smoking, "pharmacoSmoking.csv", (125, 5), ("relapse", 89)),
])
def test_packaged_copies(loader, name, shape, events):
    df = loader()
    assert df.shape == shape and int(df[events[0]].sum()) == events[1]
    if (SHARED / name).is_file():
        pd.testing.assert_frame_equal(df, pd.read_csv(SHARED / name))
    assert "Source:" in loader.__doc__


def test_rossi_and_registry():
    df = datasets.load_rossi()
    assert df.shape == (432, 9) and int(df["arrest"].sum()) == 114
    df.loc[0, "week"] = -1
    assert datasets.load_rossi().loc[0, "week"] != -1  # a fresh copy each time
    assert set(datasets.DATASETS) == {"uis", "pharmaco_smoking", "rossi"}
