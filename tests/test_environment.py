"""environment.yml (conda) names the same packages at the same versions as the pip pins."""

import re

import yaml


def _lock(root):
    pins = {}
    for line in (root / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def _direct(root):
    names = []
    for line in (root / "requirements.in").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.append(re.split(r"[\[<>=]", line)[0].strip().lower())
    return names


def test_environment_yml_matches_pip_pins(root):
    env = yaml.safe_load((root / "environment.yml").read_text())
    assert env["name"] == "peerstudy"
    conda = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str) and "=" in dep:
            name, version = dep.split("=", 1)
            conda[name.strip().lower()] = version.strip()
    assert conda.pop("python") == "3.11"
    pins = _lock(root)
    expected = {}
    for name in _direct(root):
        members = ["dask", "distributed"] if name == "dask" else [name]
        for m in members:
            assert m in pins, f"{m} is in requirements.in but not pinned in requirements.lock"
            expected[m] = pins[m]
    assert conda == expected


def test_lock_pins_every_direct_dependency_exactly(root):
    pins = _lock(root)
    for name in _direct(root):
        assert name in pins, name
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", v) for v in pins.values())
