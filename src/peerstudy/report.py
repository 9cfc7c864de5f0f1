"""Run the analysis notebooks with papermill and turn them into a folder of readable reports.

What this adds to papermill (which only warns on unknown parameters and writes notebooks):

* **Typed parameters, checked before any kernel starts.** Each notebook declares its parameters in
  the cell tagged ``parameters``, one per line, as ``name: type = default  # help`` (types ``int``,
  ``float``, ``str``, ``bool``, or ``T | None`` / ``Optional[T]``). :func:`validate_parameters`
  refuses an unknown name or a value of the wrong type with a :class:`ParameterError` naming it.
* **Parallel runs without the kernel start-up race.** jupyter_client picks free TCP ports by
  binding and releasing them, so two kernels started at once can pick the same port
  (``ZMQError: Address already in use``, nteract/papermill#511). Each notebook runs in its own
  worker process, and its kernel talks over IPC sockets named after its own connection file
  (:class:`IPCKernelManager`), so there are no ports to collide on.
* **HTML output** (code hidden unless ``show_code``), an ``index.html`` linking each report with its
  plain-language summary line, ``results.json`` (what each notebook passed to :func:`record`), and
  ``manifest.json`` (parameters, seed, scenario, data SHA-256, package versions, git commit,
  per-notebook timings and status).
* **Atomic output.** Everything is built in a temporary folder beside the target and moved into
  place only when every notebook succeeded. On failure the target is left as it was and the build
  folder is kept as ``DIR.failed/`` for inspection.

Results travel without scrapbook: the runner sets ``PEERSTUDY_RESULTS`` to a per-notebook JSON
file in the kernel's environment, and :func:`record` / :func:`summary` write to it. Run on its
own (JupyterLab, plain ``papermill``), a notebook records nothing and still shows everything.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import difflib
import html
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ._io import atomic_path, dumps_json, sha256_file, write_json
from .exceptions import DataError, ParameterError, ReportError

__all__ = [
    "RESULTS_ENV",
    "Parameter",
    "NotebookSpec",
    "Report",
    "ReportCohort",
    "default_notebook_dir",
    "list_notebooks",
    "read_notebook_spec",
    "parse_parameters",
    "validate_parameters",
    "record",
    "summary",
    "load_report_cohort",
    "run_report",
]

#: Environment variable naming the JSON file a running notebook's :func:`record` writes to.
RESULTS_ENV = "PEERSTUDY_RESULTS"

_TYPES = ("int", "float", "str", "bool")
_PACKAGES = ("peerstudy", "numpy", "scipy", "pandas", "pyarrow", "statsmodels", "lifelines", "matplotlib",
             "seaborn", "papermill", "nbclient", "nbconvert", "nbformat", "ipykernel", "jupyter_client")


# --------------------------------------------------------------------------------------------
# Parameter declarations


@dataclass(frozen=True)
class Parameter:
    """One declared notebook parameter: ``name: type = default  # help``.

    ``type`` is one of ``int``, ``float``, ``str``, ``bool``; ``optional`` allows ``None``.
    """

    name: str
    type: str
    default: Any
    help: str = ""
    optional: bool = False

    @property
    def annotation(self) -> str:
        return f"{self.type} | None" if self.optional else self.type

    def coerce(self, value: Any, *, where: str = "") -> Any:
        """``value`` (a command-line string or a Python value) as this parameter's type.

        Raises
        ------
        ParameterError
            Naming the parameter, its type and the value.
        """
        suffix = f" ({where})" if where else ""
        if isinstance(value, str):
            text = value.strip()
            if self.optional and text.lower() in ("none", "null", ""):
                return None
            parsed = _from_text(self.type, value)
        else:
            if value is None and self.optional:
                return None
            parsed = _from_value(self.type, value)
        if parsed is _INVALID:
            raise ParameterError(f"parameter {self.name!r} must be {self.annotation}; got {value!r}{suffix}")
        return parsed


_INVALID = object()
_INT = re.compile(r"^[+-]?\d+$")
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def _from_text(kind: str, raw: str) -> Any:
    text = raw.strip()
    if kind == "str":
        return raw
    if kind == "int":
        return int(text) if _INT.match(text) else _INVALID
    if kind == "float":
        try:
            v = float(text)
        except ValueError:
            return _INVALID
        return v if math.isfinite(v) else _INVALID
    if kind == "bool":
        low = text.lower()
        return True if low in _TRUE else False if low in _FALSE else _INVALID
    return _INVALID  # pragma: no cover - types are checked when declared


def _from_value(kind: str, value: Any) -> Any:
    if kind == "bool":
        return value if isinstance(value, bool) else _INVALID
    if isinstance(value, bool):
        return _INVALID
    if kind == "int":
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return _INVALID
    if kind == "float":
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else _INVALID
    if kind == "str":
        return value if isinstance(value, str) else _INVALID
    return _INVALID  # pragma: no cover


def _annotation(node: ast.expr, name: str, where: str) -> tuple[str, bool]:
    text = ast.unparse(node).replace(" ", "")
    m = re.fullmatch(r"(?:typing\.)?Optional\[(\w+)\]|(\w+)\|None|None\|(\w+)|optional\[(\w+)\]", text)
    if m:
        kind = next(g for g in m.groups() if g)
        optional = True
    else:
        kind, optional = text, False
    if kind not in _TYPES:
        raise ParameterError(f"parameter {name!r} in {where} has type {ast.unparse(node)!r}; "
                             f"use one of {', '.join(_TYPES)} (or 'T | None')")
    return kind, optional


def parse_parameters(source: str, *, where: str = "the parameters cell") -> dict[str, Parameter]:
    """Parse a ``parameters`` cell written as ``name: type = default  # help`` lines.

    Parameters
    ----------
    source : str
        The cell's source.
    where : str
        Used in messages (e.g. the notebook's name).

    Returns
    -------
    dict
        name -> :class:`Parameter`, in the order declared.

    Raises
    ------
    ParameterError
        A statement that is not a typed assignment of a literal, an unknown type, or a default
        that does not match its type.

    Examples
    --------
    >>> ps = parse_parameters('seed: int = 1  # random seed\\nscenario: str = "outpatient_default"')
    >>> ps["seed"]
    Parameter(name='seed', type='int', default=1, help='random seed', optional=False)
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ParameterError(f"the parameters cell of {where} is not valid Python: {exc.msg} (line {exc.lineno})") from None
    lines = source.splitlines()
    params: dict[str, Parameter] = {}
    for node in tree.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None):
            raise ParameterError(f"line {node.lineno} of the parameters cell of {where} must read "
                                 f"'name: type = default  # help'; got {lines[node.lineno - 1].strip()!r}")
        name = node.target.id
        kind, optional = _annotation(node.annotation, name, where)
        try:
            default = ast.literal_eval(node.value)
        except ValueError:
            raise ParameterError(f"the default of parameter {name!r} in {where} must be a literal; "
                                 f"got {ast.unparse(node.value)!r}") from None
        rest = lines[node.end_lineno - 1][node.end_col_offset:].strip()
        help_text = rest[1:].strip() if rest.startswith("#") else ""
        spec = Parameter(name=name, type=kind, default=default, help=help_text, optional=optional)
        spec.coerce(default, where=f"default in {where}")
        if name in params:
            raise ParameterError(f"parameter {name!r} is declared twice in {where}")
        params[name] = spec
    return params


@dataclass(frozen=True)
class NotebookSpec:
    """A notebook the runner can execute: its path, name (file stem), title and parameters."""

    path: Path
    name: str
    title: str
    parameters: dict[str, Parameter]

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "name": self.name, "title": self.title,
                "parameters": {k: dataclasses.asdict(v) for k, v in self.parameters.items()}}


def read_notebook_spec(path: str | os.PathLike) -> NotebookSpec:
    """Read a notebook's title (its first ``#`` heading) and its declared parameters.

    Raises
    ------
    DataError
        The file is missing or not a notebook.
    ParameterError
        The notebook has no cell tagged ``parameters``, or that cell is malformed.
    """
    path = Path(path)
    # plain JSON, not nbformat: importing nbformat costs ~3 s here (jsonschema builds an RFC 3987 grammar)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = nb["cells"]
    except FileNotFoundError:
        raise DataError(f"notebook not found: {str(path)!r}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"cannot read notebook {str(path)!r}: {exc}") from None
    title = path.stem
    params: dict[str, Parameter] | None = None
    for cell in cells:
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        if cell.get("cell_type") == "markdown" and title == path.stem:
            m = re.search(r"^#\s+(.+)$", source, flags=re.M)
            if m:
                title = m.group(1).strip()
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            params = parse_parameters(source, where=path.name)
            break
    if params is None:
        raise ParameterError(f"notebook {path.name} has no cell tagged 'parameters'")
    return NotebookSpec(path=path.resolve(), name=path.stem, title=title, parameters=params)


def default_notebook_dir() -> Path:
    """``$PEERSTUDY_NOTEBOOKS`` if set, else ``notebooks/`` of the source checkout."""
    env = os.environ.get("PEERSTUDY_NOTEBOOKS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "notebooks"


def list_notebooks(folder: str | os.PathLike | None = None, *, only: Sequence[str] | None = None) -> list[Path]:
    """The notebooks ``NN-*.ipynb`` of ``folder`` in order, or those named by ``only``.

    ``only`` entries match a file name, its stem, or its number prefix (``"02"``).

    Raises
    ------
    ParameterError
        An ``only`` entry matches no notebook (the message lists the available ones).
    DataError
        The folder has no notebooks.
    """
    folder = Path(folder) if folder is not None else default_notebook_dir()
    paths = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if not paths:
        raise DataError(f"no notebooks (*.ipynb) in {str(folder)!r}")
    if not only:
        return paths
    chosen: list[Path] = []
    for item in only:
        key = Path(item).name
        hits = [p for p in paths if key in (p.name, p.stem) or p.stem.split("-", 1)[0] == key]
        if not hits and Path(item).suffix == ".ipynb" and Path(item).is_file():
            hits = [Path(item)]
        if not hits:
            names = ", ".join(p.stem for p in paths)
            raise ParameterError(f"--only {item!r} matches no notebook; available: {names}")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


def validate_parameters(specs: Sequence[NotebookSpec], values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Check ``values`` against every notebook's declarations; typed values per notebook.

    A name must be declared by at least one of the notebooks; each notebook receives the names it
    declares, converted to its declared type.

    Raises
    ------
    ParameterError
        An unknown name (with the closest declared one) or a value of the wrong type, naming both.

    Examples
    --------
    >>> nb = NotebookSpec(Path("a.ipynb"), "a", "A", parse_parameters("seed: int = 1"))
    >>> validate_parameters([nb], {"seed": "7"})
    {'a': {'seed': 7}}
    >>> validate_parameters([nb], {"seed": "seven"})
    Traceback (most recent call last):
    ...
    peerstudy.exceptions.ParameterError: parameter 'seed' must be int; got 'seven' (notebook a)
    """
    declared = sorted({name for s in specs for name in s.parameters})
    for name in values:
        if name not in declared:
            close = difflib.get_close_matches(name, declared, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ParameterError(f"unknown parameter {name!r}{hint}; the notebooks declare: {', '.join(declared)}")
    out: dict[str, dict[str, Any]] = {}
    for s in specs:
        out[s.name] = {name: s.parameters[name].coerce(v, where=f"notebook {s.name}")
                       for name, v in values.items() if name in s.parameters}
    return out


# --------------------------------------------------------------------------------------------
# Called from inside notebooks


def _results_file() -> Path | None:
    target = os.environ.get(RESULTS_ENV)
    return Path(target) if target else None


def record(name: str, value: Any, *, suppress: bool = False) -> Any:
    """Save one result of the running notebook for the report's ``results.json``; return ``value``.

    ``value`` must be JSON-ready or have ``to_dict()`` (result objects do). With ``suppress`` (real
    data: pass ``cohort.suppress``), counts 1-10 are written as "<11" (:func:`privacy.suppress_nested`).
    Outside a report run (no ``PEERSTUDY_RESULTS`` in the environment) nothing is written.
    """
    path = _results_file()
    if path is None:
        return value
    current: dict[str, Any] = {}
    if path.is_file():
        current = json.loads(path.read_text(encoding="utf-8"))
    plain = json.loads(dumps_json(_plain(value)))
    if suppress:
        from .privacy import suppress_nested

        plain = suppress_nested(plain)
    current[str(name)] = plain
    write_json(current, path)
    return value


def _plain(obj: Any) -> Any:
    """Result objects (``to_dict()``) and containers as plain JSON-ready data, recursively."""
    if hasattr(obj, "to_dict") and not isinstance(obj, type):
        obj = obj.to_dict()
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def summary(text: str) -> Any:
    """Record a report's plain-language summary line and display it as Markdown.

    The runner shows it beside the report's link in ``index.html``.
    """
    if not isinstance(text, str) or not text.strip():
        raise ParameterError(f"a summary must be non-empty text; got {text!r}")
    record("summary", text)
    try:
        from IPython.display import Markdown
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return text
    return Markdown(f"**Summary.** {text}")


@dataclass(frozen=True)
class ReportCohort:
    """The cohort a report analyses and where it came from.

    ``real`` is True for data read from a file: reports then suppress small counts and never show rows.
    ``truth`` is the simulation truth (None for real data); ``scenario`` the resolved scenario dict.
    """

    data: Any
    real: bool
    label: str
    scenario: dict | None
    truth: dict | None
    seed: int | None
    flow: dict | None = None

    @property
    def suppress(self) -> bool:
        """Whether counts 1-10 must be hidden (always for real data; synthetic data opt out)."""
        return self.real


def load_report_cohort(*, scenario: str = "outpatient_default", seed: int = 20250101, n: int = 0,
                       data: str = "", mapping: str = "") -> ReportCohort:
    """The cohort of a report: read from ``data`` (with ``mapping``) if given, else simulated.

    Parameters
    ----------
    scenario : str
        Preset name or YAML path (used when ``data`` is empty).
    seed : int
        Seed of the simulation.
    n : int
        Participants to simulate; 0 keeps the scenario's own size.
    data : str
        A canonical cohort (CSV/Parquet) or, with ``mapping``, a programme export.
    mapping : str
        A mapping YAML for :func:`peerstudy.programme.read_export`.

    Raises
    ------
    DataError, SchemaError, ScenarioError
        The data cannot be read or the scenario is invalid.
    """
    if data:
        df, flow = _read_data(data, mapping)
        return ReportCohort(data=df, real=True, label=Path(data).name, scenario=None, truth=None, seed=None,
                            flow=flow)
    from .simulate import simulate_cohort

    df = simulate_cohort(scenario, rng=seed, n=int(n) if n else None)
    label = Path(scenario).stem if scenario.lower().endswith((".yaml", ".yml")) else scenario
    return ReportCohort(data=df, real=False, label=label, scenario=df.attrs.get("scenario"),
                        truth=df.attrs.get("truth"), seed=seed)


def _read_data(data: str, mapping: str = "") -> tuple[Any, dict | None]:
    """The cohort and, for a programme export, its CONSORT-style flow.

    A report on a programme export leaves out rows that break a validation rule and shows how many were
    excluded for each reason (the flow); problems with the whole file (missing columns, one arm) still stop it.
    """
    if mapping:
        try:
            from .programme import read_export
        except ImportError as exc:
            raise DataError(f"--mapping needs peerstudy.programme, which is not available: {exc}") from None
        export = read_export(data, mapping=mapping, invalid_rows="exclude")
        return export.cohort, export.flow
    from .schema import read_cohort

    return read_cohort(data), None


# --------------------------------------------------------------------------------------------
# Execution


def _ipc_kernel_manager(socket_prefix: str):
    """A kernel manager class whose kernels talk over IPC sockets ``socket_prefix-N``.

    TCP ports are picked by binding and releasing them, a race when kernels start at once;
    a private socket folder per notebook leaves nothing to share. (jupyter_client's own IPC
    default, ``kernel-ipc`` in the working directory, would collide between notebooks.)
    """
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", socket_prefix)
            super().__init__(**kwargs)

    return IPCKernelManager


def _kernel_name(requested: str | None) -> str:
    """The kernel to use: ``requested``, else ``peerstudy`` if installed for this interpreter, else ``python3``.

    ``python3`` is the native kernel: jupyter_client runs it with ``sys.executable``.
    """
    if requested:
        return requested
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("peerstudy")
    except NoSuchKernel:
        return "python3"
    exe = spec.argv[0] if spec.argv else ""
    try:
        same = Path(exe).resolve() == Path(sys.executable).resolve() or exe in ("python", "python3")
    except OSError:
        same = False
    return "peerstudy" if same else "python3"


def _worker_init() -> None:
    """Import papermill and nbconvert once per worker, without jsonschema's RFC 3987 grammar.

    jsonschema (via nbformat) builds a grammar for its optional "iri" format check at import,
    measured here at ~2.6 s of the ~3.5 s papermill + nbconvert import; notebooks never use
    that format, and jsonschema skips the check when the module cannot be imported.
    """
    if "rfc3987_syntax" not in sys.modules:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
    import nbconvert  # noqa: F401
    import papermill  # noqa: F401


def _execute(job: dict[str, Any]) -> dict[str, Any]:
    """Run one notebook (in a worker process) and export it to HTML; never raises for a notebook error."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    os.environ[RESULTS_ENV] = job["results"]
    # the kernel inherits this process's stderr: its start-up/shutdown chatter goes to a log file
    log = open(job["log"], "ab", buffering=0)  # noqa: SIM115 - kept open for the kernel's lifetime
    os.dup2(log.fileno(), 2)
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    out_ipynb = Path(job["output"])
    started = time.perf_counter()
    status: dict[str, Any] = {"name": job["name"], "ipynb": out_ipynb.name, "status": "ok"}
    # short private folder: AF_UNIX socket paths are limited to about 100 characters
    sockets = tempfile.mkdtemp(prefix="peerstudy-ipc-")
    try:
        pm.execute_notebook(
            job["input"], str(out_ipynb), parameters=job["parameters"], kernel_name=job["kernel"],
            progress_bar=False, log_output=False, cwd=job["cwd"], start_timeout=60,
            kernel_manager_class=_ipc_kernel_manager(os.path.join(sockets, "k")),
        )
    except PapermillExecutionError as exc:
        index, head = _failed_cell(out_ipynb, exc.exec_count)
        status.update(status="failed", cell=exc.cell_index if index is None else index, exec_count=exc.exec_count,
                      error=f"{exc.ename}: {exc.evalue}", cell_source=head)
    except Exception as exc:  # kernel died, timeout, ...: reported, not raised, so other notebooks finish
        status.update(status="failed", cell=None, error=f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    status["execute_s"] = round(time.perf_counter() - started, 3)
    if status["status"] == "ok":
        t0 = time.perf_counter()
        status["html"] = _export_html(out_ipynb, show_code=job["show_code"]).name
        status["html_s"] = round(time.perf_counter() - t0, 3)
    status["seconds"] = round(time.perf_counter() - started, 3)
    return status


def _failed_cell(ipynb: Path, exec_count: int | None) -> tuple[int | None, str]:
    """Index and first line of the cell that raised, found by its execution count.

    (papermill's ``cell_index`` counts cells before it inserts its error banner at the top.)
    """
    import nbformat

    try:
        cells = nbformat.read(ipynb, as_version=4).cells
    except (OSError, ValueError):
        return None, ""
    for i, cell in enumerate(cells):
        if cell.cell_type == "code" and exec_count is not None and cell.get("execution_count") == exec_count:
            lines = [ln for ln in cell.source.splitlines() if ln.strip()]
            return i, (lines[0].strip()[:80] if lines else "")
    return None, ""


def _export_html(ipynb: Path, *, show_code: bool) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(ipynb, as_version=4)
    exporter = HTMLExporter(template_name="lab", exclude_input=not show_code, exclude_input_prompt=True,
                            exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": ipynb.stem}})
    target = ipynb.with_suffix(".html")
    target.write_text(body, encoding="utf-8")
    return target


def _run_jobs(jobs: list[dict[str, Any]], *, workers: int, progress: bool) -> list[dict[str, Any]]:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="notebooks", unit="nb", file=sys.stderr, leave=True)
    results: list[dict[str, Any]] = []
    # spawn: a clean interpreter per worker (forking a process with threads can deadlock zmq)
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as pool:
        futures = {pool.submit(_execute, job): job["name"] for job in jobs}
        for fut in as_completed(futures):
            res = fut.result()
            results.append(res)
            if bar is not None:
                bar.set_postfix_str(f"{res['name']} {res['status']} ({res['seconds']:.1f} s)")
                bar.update(1)
    if bar is not None:
        bar.close()
    order = {job["name"]: i for i, job in enumerate(jobs)}
    return sorted(results, key=lambda r: order[r["name"]])


# --------------------------------------------------------------------------------------------
# Provenance


def _package_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for name in _PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


def _git_info(folder: Path) -> dict[str, Any] | None:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(dirty)}


# --------------------------------------------------------------------------------------------
# The report


@dataclass(frozen=True)
class Report:
    """A finished report folder: its path, manifest and collected results."""

    path: Path
    manifest: dict[str, Any]
    results: dict[str, Any] = field(repr=False)

    @property
    def index(self) -> Path:
        return self.path / "index.html"

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "manifest": self.manifest, "results": self.results}

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v['status']}</td><td>{v['seconds']:.1f} s</td></tr>"
                       for k, v in self.manifest["notebooks"].items())
        return (f"<p>Report in <code>{html.escape(str(self.path))}</code></p>"
                f"<table><tr><th>notebook</th><th>status</th><th>time</th></tr>{rows}</table>")


def _default_out(scenario: str | None, data: str | None) -> Path:
    if data:
        name = Path(data).stem
    else:
        name = Path(scenario).stem if scenario and scenario.lower().endswith((".yaml", ".yml")) else (scenario or "report")
    return Path("reports") / name


def run_report(notebooks: Sequence[str | os.PathLike] | None = None, *, scenario: str | None = None,
               data: str | os.PathLike | None = None, mapping: str | os.PathLike | None = None,
               parameters: Mapping[str, Any] | None = None, only: Sequence[str] | None = None,
               out: str | os.PathLike | None = None, show_code: bool = False, workers: int | None = None,
               kernel_name: str | None = None, progress: bool = True,
               notebook_dir: str | os.PathLike | None = None) -> Report:
    """Execute notebooks with papermill and build ``out/`` with HTML reports, index, results and manifest.

    Parameters
    ----------
    notebooks : sequence of paths, optional
        Notebooks to run; default all ``*.ipynb`` of ``notebook_dir`` (filtered by ``only``).
    scenario : str, optional
        Preset name or YAML file, passed as the ``scenario`` parameter.
    data : path, optional
        A data file (canonical cohort, or a programme export with ``mapping``), passed as ``data``;
        read once here so that an unreadable file fails before any kernel starts. By default only the
        notebooks that declare a ``data`` parameter run (simulation-only ones are left out).
    mapping : path, optional
        Mapping YAML for a programme export, passed as ``mapping``.
    parameters : mapping, optional
        Other parameters (``NAME -> value``; strings are converted to the declared type).
    only : sequence of str, optional
        Notebook names, stems or number prefixes to run.
    out : path, optional
        Report folder; default ``reports/<scenario or data name>/``.
    show_code : bool, default False
        Keep code cells in the HTML.
    workers : int, optional
        Notebooks run at once; default ``min(number of notebooks, CPUs)``.
    kernel_name : str, optional
        Jupyter kernel; default ``peerstudy`` when installed for this interpreter, else ``python3``.
    progress : bool, default True
        Show a progress bar on stderr.

    Returns
    -------
    Report

    Raises
    ------
    ParameterError
        Unknown parameter, wrong type, ``--only`` matching nothing, both ``scenario`` and ``data``.
    DataError, SchemaError, ScenarioError
        Unreadable data or invalid scenario (before any kernel starts).
    ReportError
        A notebook failed: names the notebook, cell and error; ``out`` is left untouched and the
        executed notebooks are kept in ``out.failed/``.
    """
    t_start = time.perf_counter()
    raw = dict(parameters or {})
    if scenario is not None and data is not None:
        raise ParameterError("give either a scenario or a data file, not both")
    for key, value in (("scenario", scenario), ("data", data), ("mapping", mapping)):
        if value is not None:
            if key in raw:
                raise ParameterError(f"parameter {key!r} is given twice (as an option and as -p {key}=...)")
            raw[key] = str(value)
    if mapping is not None and data is None:
        raise ParameterError("a mapping needs a data file (--data FILE --mapping MAP.yaml)")

    paths = [Path(p) for p in notebooks] if notebooks else list_notebooks(notebook_dir, only=only)
    specs = [read_notebook_spec(p) for p in paths]
    for s in specs:
        for required in ("scenario", "seed"):
            if required not in s.parameters:
                raise ParameterError(f"notebook {s.name} must declare parameter {required!r}")
    if data is not None:
        blind = [s.name for s in specs if "data" not in s.parameters]
        if blind and (notebooks or only):
            raise ParameterError(f"notebook(s) {', '.join(blind)} take no 'data' parameter, so cannot analyse "
                                 f"a data file; leave them out with --only")
        # by default a data report runs the notebooks that analyse data; simulation-only ones
        # (study design, observational teaching) are left out rather than quietly simulating
        keep = [i for i, s in enumerate(specs) if "data" in s.parameters]
        if not keep:
            raise ParameterError("no notebook takes a 'data' parameter, so none can analyse a data file")
        paths, specs = [paths[i] for i in keep], [specs[i] for i in keep]
    # resolve paths so the notebooks (run with another cwd) find them
    if raw.get("data"):
        raw["data"] = str(Path(raw["data"]).expanduser().resolve())
    if raw.get("mapping") and Path(raw["mapping"]).expanduser().is_file():  # else a bundled mapping's name
        raw["mapping"] = str(Path(raw["mapping"]).expanduser().resolve())
    if raw.get("scenario") and str(raw["scenario"]).lower().endswith((".yaml", ".yml")):
        raw["scenario"] = str(Path(raw["scenario"]).expanduser().resolve())
    typed = validate_parameters(specs, raw)

    # resolve everything that can fail on bad input before any kernel starts
    first = {k: v for s in reversed(specs) for k, v in ((n, p.default) for n, p in s.parameters.items())}
    resolved = {**first, **{k: v for per in typed.values() for k, v in per.items()}}
    data_path = resolved.get("data") or None
    provenance: dict[str, Any] = {"seed": resolved.get("seed")}
    if data_path:
        provenance["data"] = _check_data(data_path, resolved.get("mapping") or "")
        provenance["scenario"] = None
        provenance["seed"] = None
    else:
        from .scenario import load_scenario

        sc = load_scenario(resolved["scenario"])
        n = resolved.get("n") or 0
        sc_dict = (sc.replace(n=int(n)) if n else sc).to_dict()
        provenance["scenario"] = {"spec": resolved["scenario"], "name": sc.name, "resolved": sc_dict}
        provenance["data"] = None

    target = Path(out) if out is not None else _default_out(resolved.get("scenario") if not data_path else None,
                                                            data_path)
    target = target.expanduser().resolve()
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=parent))
    except OSError as exc:
        raise DataError(f"cannot write the report folder {str(target)!r}: {exc.strerror}") from None
    kept = False
    try:
        kernel = _kernel_name(kernel_name)
        os.chmod(build, 0o755)
        results_dir = build / ".results"
        results_dir.mkdir()
        logs_dir = build / "logs"
        logs_dir.mkdir()
        jobs = [{
            "name": s.name, "input": str(s.path), "output": str(build / f"{s.name}.ipynb"),
            "parameters": typed[s.name], "kernel": kernel, "cwd": str(build), "show_code": show_code,
            "results": str(results_dir / f"{s.name}.json"), "log": str(logs_dir / f"{s.name}.log"),
        } for s in specs]
        n_workers = workers or min(len(jobs), os.cpu_count() or 1)
        if progress:
            print(f"peerstudy report: running {len(jobs)} notebook(s) on {n_workers} worker(s), kernel {kernel!r}",
                  file=sys.stderr, flush=True)
        statuses = _run_jobs(jobs, workers=max(1, n_workers), progress=progress)

        results: dict[str, Any] = {}
        for s in specs:
            f = results_dir / f"{s.name}.json"
            results[s.name] = json.loads(f.read_text(encoding="utf-8")) if f.is_file() else {}
        shutil.rmtree(results_dir)
        failed = [st for st in statuses if st["status"] != "ok"]
        manifest = {
            "peerstudy_report": 1,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "seed": provenance["seed"],
            "scenario": provenance["scenario"],
            "data": provenance["data"],
            "privacy": {"small_counts_suppressed": bool(data_path), "threshold": 11},
            "parameters": {s.name: {**{k: p.default for k, p in s.parameters.items()}, **typed[s.name]} for s in specs},
            "kernel": kernel,
            "show_code": show_code,
            "packages": _package_versions(),
            "git": _git_info(specs[0].path.parent),
            "notebooks": {st["name"]: {k: v for k, v in st.items() if k != "name"} for st in statuses},
            "seconds": None,
        }
        if failed:
            kept = True
            keep = target.with_name(target.name + ".failed")
            if keep.exists():
                shutil.rmtree(keep)
            write_json(manifest, build / "manifest.json")
            os.rename(build, keep)
            parts = []
            for st in failed:
                if st.get("cell") is not None:
                    head = f" `{st['cell_source']}`" if st.get("cell_source") else ""
                    cell = f"cell {st['cell']} (In [{st['exec_count']}]){head} of {st['ipynb']}"
                else:
                    cell = "kernel start"
                parts.append(f"notebook {st['name']} failed at {cell}: {st['error']}")
            raise ReportError("; ".join(parts) + f" (executed notebook kept in {keep}; {target} left untouched)")

        shutil.rmtree(logs_dir)
        write_json(results, build / "results.json")
        (build / "index.html").write_text(_index_html(specs, statuses, results, manifest), encoding="utf-8")
        manifest["seconds"] = round(time.perf_counter() - t_start, 3)
        write_json(manifest, build / "manifest.json")
        _move_into_place(build, target)
    finally:
        if not kept and build.exists():
            shutil.rmtree(build, ignore_errors=True)
    return Report(path=target, manifest=manifest, results=results)


def _check_data(path: str, mapping: str) -> dict[str, Any]:
    """Read the data once (fails early, before kernels) and describe it for the manifest."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"data file not found: {str(p)!r}")
    try:
        digest = sha256_file(p)
    except OSError as exc:
        raise DataError(f"cannot read data file {str(p)!r}: {exc.strerror}") from None
    df, flow = _read_data(str(p), mapping)
    info: dict[str, Any] = {"path": str(p), "sha256": digest, "rows": int(len(df))}
    if flow is not None:
        from .privacy import format_count, suppressed_mapping

        # the manifest travels with the report: small counts are suppressed like the tables'
        info["flow"] = {"received": format_count(flow["received"]), "analysed": format_count(flow["analysed"]),
                        "excluded": suppressed_mapping(flow.get("excluded", {}))}
    if mapping:
        info["mapping"] = {"spec": str(mapping),
                           "sha256": sha256_file(mapping) if Path(mapping).is_file() else None}
    return info


def _move_into_place(build: Path, target: Path) -> None:
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


def _index_html(specs: Sequence[NotebookSpec], statuses: Sequence[dict[str, Any]], results: Mapping[str, Any],
                manifest: Mapping[str, Any]) -> str:
    by_name = {st["name"]: st for st in statuses}
    items = []
    for s in specs:
        st = by_name[s.name]
        line = results.get(s.name, {}).get("summary", "")
        items.append(
            f'<li><a href="{html.escape(st["html"])}">{html.escape(s.title)}</a>'
            f'<p class="summary">{html.escape(line)}</p>'
            f'<p class="meta">{html.escape(s.name)} &middot; {st["seconds"]:.1f} s</p></li>')
    if manifest.get("data"):
        source = f"data file {html.escape(Path(manifest['data']['path']).name)} (SHA-256 {manifest['data']['sha256'][:12]}...)"
    else:
        sc = manifest["scenario"]
        source = f"simulated scenario {html.escape(sc['name'])}, seed {manifest['seed']}"
    git = manifest.get("git") or {}
    commit = f", peerstudy commit {git['commit'][:10]}{' (modified)' if git.get('dirty') else ''}" if git else ""
    privacy = ("Counts from 1 to 10 are shown as &lt;11." if manifest["privacy"]["small_counts_suppressed"]
               else "Synthetic data: counts are shown as they are.")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>peerstudy report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.45}}
li{{margin-bottom:1.2rem}} .summary{{margin:.3rem 0}} .meta{{color:#666;font-size:.85rem;margin:0}}</style></head>
<body><h1>peerstudy report</h1>
<p>From {source}{commit}. Created {html.escape(manifest['created'])}. {privacy}</p>
<ul>{''.join(items)}</ul>
<p class="meta">Numbers: <a href="results.json">results.json</a>. Provenance: <a href="manifest.json">manifest.json</a>.</p>
</body></html>
"""
