"""`make data` regenerates data/synthetic byte for byte."""

import subprocess
import sys


def test_synthetic_data_regenerates_byte_for_byte(root, tmp_path):
    subprocess.run([sys.executable, "-m", "peerstudy.make_data", str(tmp_path)], check=True, capture_output=True)
    committed = root / "data" / "synthetic"
    made = sorted(p.name for p in tmp_path.iterdir())
    assert made == sorted(p.name for p in committed.iterdir() if p.is_file())
    for name in made:
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), name


def test_reference_cohort_is_what_the_cli_makes(root, tmp_path):
    from peerstudy.cli import main

    assert main(["simulate", "--scenario", "outpatient_default", "--n", "800", "--seed", "2026",
                 "--out", str(tmp_path / "outpatient_default.csv")]) == 0
    assert (tmp_path / "outpatient_default.csv").read_bytes() == (root / "data/synthetic/outpatient_default.csv").read_bytes()
