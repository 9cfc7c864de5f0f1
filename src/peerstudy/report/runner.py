"""Run the analysis notebooks with papermill and turn them into a folder of readable reports.

What this adds to papermill (which only warns on unknown parameters and writes notebooks):

* **Typed parameters, checked before any kernel starts** (:mod:`peerstudy.report.parameters`).
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
"""

from __future__ import annotations
import html
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence
from peerstudy._io import (MARKER, check_output_dir, die_with_parent, dumps_json, remove_dead_builds, replace_dir,
                           sha256_file, write_json)
from peerstudy.exceptions import DataError, ParameterError, PrivacyAuditError, ReportError
from peerstudy.report.assemble import (check_formats, export_html, find_chromium, index_html, print_pdf,
                                       single_html)
from peerstudy.report.parameters import NotebookSpec, list_notebooks, read_notebook_spec, validate_parameters
from peerstudy.report.provenance import git_info, package_versions
from peerstudy.present.privacy import PRIVATE_ENV, private_document, scrub_text

#: Environment variable naming the JSON file a running notebook's ``record`` writes to.
RESULTS_ENV = "PEERSTUDY_RESULTS"

#: Environment variable naming the prefix under which a running notebook's figures are also saved as PDF and PNG
#: (read by :mod:`peerstudy.present.plots._axes`, which keeps the same name).
FIGURES_ENV = "PEERSTUDY_FIGURES"

__all__ = ["Report", "run_report", "report_command"]


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

    ``python3`` is the native kernel: jupyter_client runs it with ``sys.executable``. A ``peerstudy``
    kernel counts as this interpreter's when its executable is ``sys.executable`` of the same folder: the
    pythons of all virtual environments made from one base interpreter are links to the same file, so
    comparing resolved files alone would take another environment's kernel for this one's.
    """
    if requested:
        return requested
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("peerstudy")
    except NoSuchKernel:
        return "python3"
    exe = spec.argv[0] if spec.argv else ""
    if exe in ("python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])):
        return "peerstudy"  # jupyter_client runs these names with sys.executable
    here, there = Path(sys.executable), Path(exe)
    try:
        same = there.is_absolute() and there.parent.resolve() == here.parent.resolve() \
            and there.resolve() == here.resolve()
    except OSError:
        same = False
    return "peerstudy" if same else "python3"


def _worker_init() -> None:
    """Import papermill and nbconvert once per worker, without jsonschema's RFC 3987 grammar.

    jsonschema (via nbformat) builds a grammar for its optional "iri" format check at import,
    measured here at ~2.6 s of the ~3.5 s papermill + nbconvert import; notebooks never use
    that format, and jsonschema skips the check when the module cannot be imported.
    """
    die_with_parent()  # a killed report takes its workers with it
    if "rfc3987_syntax" not in sys.modules:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]
    import nbconvert  # noqa: F401
    import papermill  # noqa: F401


def _execute(job: dict[str, Any]) -> dict[str, Any]:
    """Run one notebook (in a worker process) and export it to HTML; never raises for a notebook error."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    os.environ[RESULTS_ENV] = job["results"]
    if job.get("figures"):
        os.environ[FIGURES_ENV] = job["figures"]
    if job.get("private"):  # the kernel inherits it: records, figures and tables follow the privacy rules
        os.environ[PRIVATE_ENV] = "1"
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
        index, head = _failed_cell(out_ipynb, exc.exec_count, exc.traceback)
        status.update(status="failed", cell=exc.cell_index if index is None else index, exec_count=exc.exec_count,
                      error=f"{exc.ename}: {exc.evalue}", cell_source=head)
    except Exception as exc:  # kernel died, timeout, ...: reported, not raised, so other notebooks finish
        status.update(status="failed", cell=None, error=f"{type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    status["execute_s"] = round(time.perf_counter() - started, 3)
    if status["status"] == "ok":
        t0 = time.perf_counter()
        status["html"] = export_html(out_ipynb, show_code=job["show_code"], command=job.get("command")).name
        status["html_s"] = round(time.perf_counter() - t0, 3)
    if job.get("private"):
        _strip_outputs(out_ipynb)
        for key in ("error", "cell_source"):
            if key in status:
                status[key] = scrub_text(status[key])
    status["seconds"] = round(time.perf_counter() - started, 3)
    return status


def _failed_cell(ipynb: Path, exec_count: int | None, traceback: Sequence[str] = ()) -> tuple[int | None, str]:
    """Index of the cell that raised (found by its execution count) and the line of it that raised.

    The line is read from IPython's traceback (``Cell In[5], line 9``): the statement that failed, not the
    cell's first line (an ``import`` at the top of a cell says nothing). Without a traceback line, the cell's
    first line. (papermill's ``cell_index`` counts cells before it inserts its error banner at the top.)
    """
    import nbformat

    try:
        cells = nbformat.read(ipynb, as_version=4).cells
    except (OSError, ValueError):
        return None, ""
    for i, cell in enumerate(cells):
        if cell.cell_type == "code" and exec_count is not None and cell.get("execution_count") == exec_count:
            src = cell.source.splitlines()
            line = _raising_line(traceback, exec_count)
            if line is not None and 1 <= line <= len(src) and src[line - 1].strip():
                return i, f"line {line}: {src[line - 1].strip()[:80]}"
            lines = [ln for ln in src if ln.strip()]
            return i, (lines[0].strip()[:80] if lines else "")
    return None, ""


def _raising_line(traceback: Sequence[str], exec_count: int) -> int | None:
    """The line of cell ``In [exec_count]`` that raised, from IPython's traceback frames (the last one there)."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(traceback or ()))
    hits = re.findall(rf"Cell In\[{int(exec_count)}\], line (\d+)", text)
    return int(hits[-1]) if hits else None


def _strip_outputs(ipynb: Path) -> None:
    """Remove every output and execution count from an executed notebook of a private report.

    The outputs hold object reprs (arrays of days, residuals) that the HTML page never shows; the page is
    the report, the notebook is kept only to show what ran.
    """
    import nbformat

    try:
        nb = nbformat.read(ipynb, as_version=4)
    except (OSError, ValueError):
        return
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("papermill", None)  # holds the parameters (the data file's path) and exception details
    nbformat.write(nb, ipynb)


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
               notebook_dir: str | os.PathLike | None = None,
               check_data: Callable[[str, str], dict[str, Any]] | None = None,
               formats: Sequence[str] | str | None = None) -> Report:
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
    check_data : callable, optional
        ``check_data(path, mapping) -> dict``: reads the data once, before any kernel starts, and
        describes it for the manifest (:func:`peerstudy.report.notebook.check_data`, which
        :func:`peerstudy.report.run_report` passes). Without it the data file is only hashed.
    formats : str or sequence of str, optional
        Besides the folder of HTML pages (``"html"``, always made; the default): ``"figures"`` (every figure
        also as ``figures/NAME-NN.pdf`` and 300 dpi ``.png``), ``"single"`` (the whole report as one
        self-contained ``report.html``) and ``"pdf"`` (``report.pdf``, printed from it by headless Chromium).

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
    chosen = check_formats(formats)
    chromium = find_chromium() if "pdf" in chosen else None  # before any kernel starts
    command = report_command(scenario=scenario, data=data, mapping=mapping, parameters=raw, only=only, out=out,
                             show_code=show_code, formats=[f for f in chosen if f != "single" or "pdf" not in chosen])
    if scenario is not None and data is not None:
        raise ParameterError("give either a scenario or a data file, not both")
    for key, value in (("scenario", scenario), ("data", data), ("mapping", mapping)):
        if value is not None:
            if key in raw:
                raise ParameterError(f"parameter {key!r} is given twice (as an option and as -p {key}=...)")
            raw[key] = str(value)
    if mapping is not None and data is None:
        raise ParameterError("a mapping needs a data file (--data FILE --mapping MAP.yaml)")

    specs = _select_notebooks(notebooks, notebook_dir, only, data_report=data is not None)
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
    target = _target(out, resolved, data_path)
    provenance = _provenance(resolved, data_path, check_data)

    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        remove_dead_builds(parent, target.name)
        build = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-{os.getpid()}-", dir=parent))
        os.chmod(build, 0o755)
        (build / MARKER).write_text(dumps_json({"made_by": "peerstudy report"}), encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot write the report folder {str(target)!r}: {exc.strerror}") from None
    kept = False
    try:
        kernel = _kernel_name(kernel_name)
        private = bool(data_path)
        statuses, results = _run_notebooks(specs, typed, build, kernel, show_code=show_code, workers=workers,
                                           progress=progress, command=command, figures="figures" in chosen,
                                           private=private)
        manifest = _manifest(provenance, specs, typed, statuses, kernel, show_code=show_code, private=private)
        manifest["command"] = command
        if private:
            results = private_document(results)
        failed = [st for st in statuses if st["status"] != "ok"]
        if failed:
            kept = True
            if private:
                shutil.rmtree(build / "logs", ignore_errors=True)  # kernel chatter may quote data
            _keep_failed(build, target, manifest, failed)
        try:
            shutil.rmtree(build / "logs")
            write_json(results, build / "results.json")
            index = index_html(specs, statuses, results, manifest)
            (build / "index.html").write_text(index, encoding="utf-8")
            manifest["seconds"] = round(time.perf_counter() - t_start, 3)
            manifest["formats"] = list(chosen)
            _other_formats(build, specs, statuses, index, chosen, chromium, manifest)
            write_json(manifest, build / "manifest.json")
            if private:
                manifest["privacy"]["audit"] = _audit(build, target)
                write_json(manifest, build / "manifest.json")
            replace_dir(build, target)
        except OSError as exc:  # e.g. a full disk: nothing half-written is left, the previous report stands
            raise DataError(f"cannot write the report into {str(target)!r}: {exc.strerror or exc}") from None
    finally:
        if not kept and build.exists():
            shutil.rmtree(build, ignore_errors=True)
    return Report(path=target, manifest=manifest, results=results)


def report_command(*, scenario: str | None = None, data: str | os.PathLike | None = None,
                   mapping: str | os.PathLike | None = None, parameters: Mapping[str, Any] | None = None,
                   only: Sequence[str] | None = None, out: str | os.PathLike | None = None, show_code: bool = False,
                   formats: Sequence[str] | None = None) -> str:
    """The ``peerstudy report`` command that makes this report, as a reader would type it.

    Data and mapping files are named by their file name only, and an absolute ``--out`` by its folder name (a
    page never shows where files live on a machine).

    >>> report_command(scenario="ed_bridge", parameters={"n": 300}, out="reports/ed")
    'peerstudy report --scenario ed_bridge -p n=300 --out reports/ed'
    """
    import shlex

    words = ["peerstudy", "report"]
    if scenario is not None:
        words += ["--scenario", Path(scenario).name if str(scenario).lower().endswith((".yaml", ".yml")) else scenario]
    if data is not None:
        words += ["--data", Path(data).name]
    if mapping is not None:
        words += ["--mapping", Path(mapping).name if Path(mapping).suffix else str(mapping)]
    for key, value in (parameters or {}).items():
        if key not in ("scenario", "data", "mapping"):
            words += ["-p", f"{key}={value}"]
    if only:
        words += ["--only", *map(str, only)]
    if out is not None:
        words += ["--out", Path(out).name if Path(out).is_absolute() else str(out)]
    if show_code:
        words.append("--show-code")
    if formats and list(formats) != ["html"]:
        words += ["--format", ",".join(formats)]
    return " ".join(shlex.quote(w) for w in words)


def _other_formats(build: Path, specs: Sequence[NotebookSpec], statuses: Sequence[dict[str, Any]], index: str,
                   chosen: Sequence[str], chromium: str | None, manifest: dict[str, Any]) -> None:
    """The one-file report and its PDF, in the build folder (so they appear with the rest or not at all)."""
    if "single" not in chosen:
        return
    t0 = time.perf_counter()
    by_name = {st["name"]: st for st in statuses}
    pages = [(s.name, by_name[s.name]["html"]) for s in specs if by_name[s.name].get("html")]
    single = build / "report.html"
    single.write_text(single_html(build, pages, index), encoding="utf-8")
    if "pdf" in chosen:
        print_pdf(single, build / "report.pdf", chromium=chromium)
    manifest["seconds_other_formats"] = round(time.perf_counter() - t0, 3)


def _select_notebooks(notebooks: Sequence[str | os.PathLike] | None, notebook_dir: str | os.PathLike | None,
                      only: Sequence[str] | None, *, data_report: bool) -> list[NotebookSpec]:
    """The notebooks to run; a data report runs those that take a ``data`` parameter."""
    paths = [Path(p) for p in notebooks] if notebooks else list_notebooks(notebook_dir, only=only)
    specs = [read_notebook_spec(p) for p in paths]
    for s in specs:
        for required in ("scenario", "seed"):
            if required not in s.parameters:
                raise ParameterError(f"notebook {s.name} must declare parameter {required!r}")
    if data_report:
        blind = [s.name for s in specs if "data" not in s.parameters]
        if blind and (notebooks or only):
            raise ParameterError(f"notebook(s) {', '.join(blind)} take no 'data' parameter, so cannot analyse "
                                 f"a data file; leave them out with --only")
        # by default a data report runs the notebooks that analyse data; simulation-only ones
        # (study design, observational teaching) are left out rather than quietly simulating
        keep = [i for i, s in enumerate(specs) if "data" in s.parameters]
        if not keep:
            raise ParameterError("no notebook takes a 'data' parameter, so none can analyse a data file")
        specs = [specs[i] for i in keep]
    elif not (notebooks or only):
        # a scenario report leaves out the pages about programme data (notebook metadata
        # peerstudy.needs_data): without --data they would describe a bundled example, not this scenario
        specs = [s for s in specs if not _needs_data(s.path)]
    return specs


def _notebook_meta(path: Path) -> dict[str, Any]:
    """A notebook's ``metadata.peerstudy`` block (empty when it has none or cannot be read)."""
    try:
        meta = json.loads(Path(path).read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError):
        return {}
    block = meta.get("peerstudy", {})
    return block if isinstance(block, dict) else {}


def _needs_data(path: Path) -> bool:
    """Whether a notebook is about programme data only (``metadata.peerstudy.needs_data``)."""
    return bool(_notebook_meta(path).get("needs_data", False))


def _longest_first(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The jobs in the order to start them: the longest first (``metadata.peerstudy.expected_seconds``, as
    measured on the default parameters), so that the workers finish together. Only the start order changes:
    each notebook runs in its own kernel, so its output is the same whatever the order or number of workers."""
    cost = {job["name"]: float(_notebook_meta(Path(job["input"])).get("expected_seconds", 0) or 0) for job in jobs}
    return sorted(jobs, key=lambda job: -cost[job["name"]])


def _provenance(resolved: Mapping[str, Any], data_path: str | None,
                check_data: Callable[[str, str], dict[str, Any]] | None) -> dict[str, Any]:
    """Seed, scenario and data of the report, resolved (and the data read) before any kernel starts."""
    provenance: dict[str, Any] = {"seed": resolved.get("seed")}
    if data_path:
        provenance["data"] = (check_data or describe_file)(data_path, resolved.get("mapping") or "")
        provenance["scenario"] = None
        provenance["seed"] = None
    else:
        from peerstudy.scenario import load_scenario

        sc = load_scenario(resolved["scenario"])
        n = resolved.get("n") or 0
        sc_dict = (sc.replace(n=int(n)) if n else sc).to_dict()
        provenance["scenario"] = {"spec": resolved["scenario"], "name": sc.name, "resolved": sc_dict}
        provenance["data"] = None

    return provenance


def _target(out: str | os.PathLike | None, resolved: Mapping[str, Any], data_path: str | None) -> Path:
    """The report folder, checked before any kernel starts: a new or empty folder, or one peerstudy made; never
    a user's file or folder, the working folder, or a folder holding the data or mapping being reported on."""
    target = Path(out) if out is not None else _default_out(resolved.get("scenario") if not data_path else None,
                                                            data_path)
    checked = check_output_dir(target, option="--out")
    for key in ("data", "mapping"):
        given = resolved.get(key)
        if given and Path(given).is_file() and checked in Path(given).resolve().parents:
            raise DataError(f"--out {str(target)!r} holds the {key} file {str(given)!r}; a report replaces its "
                            "folder whole: choose a folder beside the data")
    return checked


def _run_notebooks(specs: Sequence[NotebookSpec], typed: Mapping[str, dict[str, Any]], build: Path, kernel: str, *,
                   show_code: bool, workers: int | None, progress: bool, command: str | None = None,
                   figures: bool = False, private: bool = False) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Execute the notebooks into ``build``: (per-notebook statuses, what each recorded)."""
    results_dir = build / ".results"
    results_dir.mkdir()
    logs_dir = build / "logs"
    logs_dir.mkdir()
    figures_dir = build / "figures"
    if figures:
        figures_dir.mkdir()
    jobs = [{
        "name": s.name, "input": str(s.path), "output": str(build / f"{s.name}.ipynb"),
        "parameters": typed[s.name], "kernel": kernel, "cwd": str(build), "show_code": show_code,
        "results": str(results_dir / f"{s.name}.json"), "log": str(logs_dir / f"{s.name}.log"),
        "command": command, "figures": str(figures_dir / s.name) if figures else None,
        "private": private,
    } for s in specs]
    n_workers = workers or min(len(jobs), os.cpu_count() or 1)
    if progress:
        print(f"peerstudy report: running {len(jobs)} notebook(s) on {n_workers} worker(s), kernel {kernel!r}",
              file=sys.stderr, flush=True)
    done = {st["name"]: st for st in _run_jobs(_longest_first(jobs), workers=max(1, n_workers), progress=progress)}
    statuses = [done[job["name"]] for job in jobs]
    results: dict[str, Any] = {}
    for s in specs:
        f = results_dir / f"{s.name}.json"
        results[s.name] = json.loads(f.read_text(encoding="utf-8")) if f.is_file() else {}
    shutil.rmtree(results_dir)
    return statuses, results


def _manifest(provenance: Mapping[str, Any], specs: Sequence[NotebookSpec], typed: Mapping[str, dict[str, Any]],
              statuses: Sequence[dict[str, Any]], kernel: str, *, show_code: bool, private: bool) -> dict[str, Any]:
    return {
        "peerstudy_report": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seed": provenance["seed"],
        "scenario": provenance["scenario"],
        "data": provenance["data"],
        "privacy": {"small_counts_suppressed": private, "threshold": 11},
        "parameters": {s.name: {**{k: p.default for k, p in s.parameters.items()}, **typed[s.name]} for s in specs},
        "kernel": kernel,
        "show_code": show_code,
        "packages": package_versions(),
        "git": git_info(specs[0].path.parent),
        "notebooks": {st["name"]: {k: v for k, v in st.items() if k != "name"} for st in statuses},
        "seconds": None,
    }


def _keep_failed(build: Path, target: Path, manifest: Mapping[str, Any], failed: Sequence[dict[str, Any]]) -> None:
    """Keep a failed build as ``DIR.failed`` (replacing only an earlier peerstudy one) and raise naming the cells."""
    keep = target.with_name(target.name + ".failed")
    if keep.exists() and not (keep.is_dir() and (keep / MARKER).is_file()):
        keep = target.with_name(f"{target.name}.failed-{os.getpid()}")
    write_json(manifest, build / "manifest.json")
    if keep.exists():
        shutil.rmtree(keep)
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


def _audit(build: Path, target: Path) -> dict[str, Any]:
    """Run the privacy audit on a finished private build; on a finding, remove the build and raise naming it.

    Nothing of a report that failed its audit is kept (not even as ``DIR.failed``): its files would disclose
    what the audit found. The previous report at ``target`` is left as it was.
    """
    from peerstudy.present.audit import audit_report

    audit = audit_report(build, private=True)
    if audit.passed:
        return {"passed": True, "files_checked": len(audit.files)}
    shutil.rmtree(build, ignore_errors=True)
    raise PrivacyAuditError(f"the report of {target.name} failed its privacy audit and was not written "
                            f"({target} left untouched): {audit.summary()}")


def describe_file(path: str, mapping: str = "") -> dict[str, Any]:
    """The data file's path and SHA-256 for the manifest (no reading of its contents)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"data file not found: {str(p)!r}")
    try:
        return {"path": str(p), "sha256": sha256_file(p)}
    except OSError as exc:
        raise DataError(f"cannot read data file {str(p)!r}: {exc.strerror}") from None
