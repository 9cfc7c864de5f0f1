"""Atomic output: write to a temporary file or folder beside the target, then rename into place.

A reader never sees a half-written file, and a failure leaves nothing behind. Output *folders* (a report,
``analyse --out``, a study) are built whole in a hidden ``.NAME.building-PID-XXXX`` folder beside the target
and renamed into place: the set of files appears complete, together, or not at all. An existing target is
replaced only if peerstudy made it (it holds the marker file :data:`MARKER`) or it is empty; anything else
the user made is refused, never deleted. A build folder left by a killed run (its process is gone) is
removed by the next run into the same place.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from peerstudy.exceptions import DataError

__all__ = ["atomic_path", "write_json", "dumps_json", "sha256_file", "MARKER", "check_output_dir", "OutputDir",
           "die_with_parent", "remove_dead_builds", "replace_dir"]

#: File peerstudy writes into every output folder it makes; only such folders are ever replaced.
MARKER = ".peerstudy-output"


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success.

    On any exception the temporary file is removed and the exception propagates. A target
    whose folder does not exist or is not writable raises :class:`DataError` naming it.
    """
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise DataError(f"output folder does not exist: {str(folder)!r} (for {str(target)!r})")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix or ".tmp", dir=folder)
    except OSError as exc:
        raise DataError(f"cannot write to {str(folder)!r}: {exc.strerror}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps_json(obj: Any) -> str:
    """JSON text with sorted-insertion order kept, 2-space indent, numpy types converted, NaN as null."""
    return json.dumps(_nan_to_none(obj), indent=2, default=_default, allow_nan=False) + "\n"


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, float) and obj in (float("inf"), float("-inf")):
        return None
    if isinstance(obj, dict):
        return {str(k): _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    try:
        import numpy as np

        if isinstance(obj, np.floating) and not np.isfinite(obj):
            return None
    except ImportError:  # pragma: no cover
        pass
    return obj


def write_json(obj: Any, target: str | os.PathLike) -> None:
    """Write ``obj`` as JSON to ``target`` atomically."""
    text = dumps_json(obj)
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file's bytes."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def remove_dead_builds(parent: Path, name: str) -> None:
    """Remove ``.NAME.building-PID-*`` folders whose process has died (a killed earlier run)."""
    import shutil

    for stale in parent.glob(f".{name}.building-*"):
        pid = stale.name[len(f".{name}.building-"):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)) and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def check_output_dir(target: str | os.PathLike, *, option: str = "--out") -> Path:
    """Refuse, before any work, an output folder that peerstudy may not replace; return its resolved path.

    Allowed: a path that does not exist, an empty folder, or a folder peerstudy made (it holds
    :data:`MARKER`). Refused with :class:`DataError`: an existing file, a folder with other content, or a
    target that contains the working directory or would swallow its own parent.
    """
    path = Path(target).expanduser()
    resolved = path.resolve()
    shown = str(target)
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        raise DataError(f"{option} {shown!r} is not a folder peerstudy may write into: choose a new folder name")
    cwd = Path.cwd().resolve()
    if cwd == resolved or resolved in cwd.parents:
        raise DataError(f"{option} {shown!r} is the working folder or holds it; choose a new folder name")
    if resolved.exists() and not resolved.is_dir():
        raise DataError(f"{option} {shown!r} is an existing file; peerstudy writes a folder there and never "
                        "replaces a file: choose a new folder name")
    if resolved.is_dir() and not (resolved / MARKER).is_file() and any(resolved.iterdir()):
        raise DataError(f"{option} {shown!r} is a folder peerstudy did not make and it is not empty; "
                        "peerstudy never replaces your files: choose a new or empty folder")
    return resolved


class OutputDir:
    """Build an output folder beside ``target`` and move it into place whole (see the module docstring).

    >>> import tempfile, pathlib
    >>> base = pathlib.Path(tempfile.mkdtemp())
    >>> with OutputDir(base / "out", made_by="example") as build:
    ...     _ = (build / "a.txt").write_text("a")
    >>> sorted(p.name for p in (base / "out").iterdir())
    ['.peerstudy-output', 'a.txt']
    """

    def __init__(self, target: str | os.PathLike, *, made_by: str, option: str = "--out") -> None:
        self.target = check_output_dir(target, option=option)
        self.made_by = made_by
        self.build: Path | None = None

    def __enter__(self) -> Path:
        parent = self.target.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            remove_dead_builds(parent, self.target.name)
            self.build = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.building-{os.getpid()}-", dir=parent))
            os.chmod(self.build, 0o755)
            (self.build / MARKER).write_text(dumps_json({"made_by": self.made_by}), encoding="utf-8")
        except OSError as exc:
            self._discard()
            raise DataError(f"cannot write the output folder {str(self.target)!r}: {exc.strerror}") from None
        return self.build

    def _discard(self) -> None:
        import shutil

        if self.build is not None and self.build.exists():
            shutil.rmtree(self.build, ignore_errors=True)

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        if kind is not None:
            self._discard()
            if isinstance(exc, OSError) and not isinstance(exc, DataError):
                raise DataError(f"cannot write the output folder {str(self.target)!r}: "
                                f"{exc.strerror or exc}") from None
            return False
        try:
            self.commit()
        except OSError as err:
            self._discard()
            raise DataError(f"cannot move the output into {str(self.target)!r}: {err.strerror}") from None
        return False

    def commit(self) -> None:
        """Move the build folder onto the target (checked again: it may have changed meanwhile)."""
        assert self.build is not None
        replace_dir(self.build, self.target)


def replace_dir(build: Path, target: Path, *, option: str = "--out") -> None:
    """Rename ``build`` onto ``target``, replacing a previous peerstudy folder there (never anything else)."""
    import shutil

    check_output_dir(target, option=option)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.rename(target, old)
    try:
        os.rename(build, target)
    except OSError:
        if old is not None:
            os.rename(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def die_with_parent() -> None:
    """Ask Linux to end this (worker) process when its parent dies, even by SIGKILL (no-op elsewhere)."""
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        return
    if os.getppid() == 1:  # the parent died before the request: end now
        os._exit(1)
