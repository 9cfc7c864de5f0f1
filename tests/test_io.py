"""peerstudy._io: output folders appear whole or not at all; workers die with their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from peerstudy._io import MARKER, OutputDir, check_output_dir
from peerstudy.exceptions import DataError


def test_output_dir_is_moved_into_place_whole(tmp_path):
    with OutputDir(tmp_path / "out", made_by="test") as build:
        (build / "a.csv").write_text("a")
        assert not (tmp_path / "out").exists()  # nothing visible until complete
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [MARKER, "a.csv"]


def test_a_failure_inside_leaves_nothing_and_the_old_folder_stands(tmp_path):
    with OutputDir(tmp_path / "out", made_by="test") as build:
        (build / "old.csv").write_text("old")
    with pytest.raises(RuntimeError):
        with OutputDir(tmp_path / "out", made_by="test") as build:
            (build / "new.csv").write_text("new")
            raise RuntimeError("boom")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [MARKER, "old.csv"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("x"), "is an existing file"),
    (lambda p: (p.mkdir(), (p / "mine.txt").write_text("x")), "is a folder peerstudy did not make"),
])
def test_users_files_are_refused(make, message, tmp_path):
    make(tmp_path / "t")
    with pytest.raises(DataError, match=message):
        check_output_dir(tmp_path / "t")


def test_empty_folder_and_new_path_are_fine(tmp_path):
    (tmp_path / "empty").mkdir()
    assert check_output_dir(tmp_path / "empty") == (tmp_path / "empty").resolve()
    assert check_output_dir(tmp_path / "new") == (tmp_path / "new").resolve()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_workers_die_with_their_parent_even_by_sigkill(tmp_path):
    pidfile = tmp_path / "child.pid"
    (tmp_path / "child.py").write_text("import os, sys, time\nfrom peerstudy._io import die_with_parent\n"
                                       "die_with_parent()\nopen(sys.argv[1], 'w').write(str(os.getpid()))\n"
                                       "time.sleep(60)\n")
    (tmp_path / "parent.py").write_text("import subprocess, sys, time\n"
                                        "subprocess.Popen([sys.executable, sys.argv[1], sys.argv[2]])\ntime.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, str(tmp_path / "parent.py"), str(tmp_path / "child.py"), str(pidfile)])
    for _ in range(200):
        if pidfile.exists() and pidfile.read_text():
            break
        time.sleep(0.05)
    child = int(pidfile.read_text())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    for _ in range(100):
        try:
            with open(f"/proc/{child}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state in ("Z", "X"):  # ended (a zombie until init reaps it)
            return
        time.sleep(0.05)
    os.kill(child, signal.SIGKILL)
    pytest.fail("the child outlived its killed parent")
