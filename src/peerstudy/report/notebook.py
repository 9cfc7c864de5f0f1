"""The small API that report notebooks call: the cohort of a report, results and the summary line.

Results travel without scrapbook: the runner sets ``PEERSTUDY_RESULTS`` to a per-notebook JSON file in the
kernel's environment, and :func:`record` / :func:`summary` write to it. Run on its own (JupyterLab, plain
``papermill``), a notebook records nothing and still shows everything.
"""

from __future__ import annotations
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping
from peerstudy._io import dumps_json, sha256_file, write_json
from peerstudy.exceptions import DataError, ParameterError
from peerstudy.report.runner import RESULTS_ENV

__all__ = ["RESULTS_ENV", "check_data", "record", "summary", "ReportCohort", "load_report_cohort"]




def _results_file() -> Path | None:
    target = os.environ.get(RESULTS_ENV)
    return Path(target) if target else None


def record(name: str, value: Any, *, suppress: bool = False) -> Any:
    """Save one result of the running notebook for the report's ``results.json``; return ``value``.

    ``value`` must be JSON-ready or have ``to_dict()`` (result objects do). With ``suppress`` (real
    data: pass ``cohort.suppress``), and always in a report of real data
    (:func:`peerstudy.present.privacy.is_private`), the value goes through
    :func:`peerstudy.present.privacy.private_document`: counts 1-10 as "<11", shares coarsened.
    Outside a report run (no ``PEERSTUDY_RESULTS`` in the environment) nothing is written.
    """
    path = _results_file()
    if path is None:
        return value
    current: dict[str, Any] = {}
    if path.is_file():
        current = json.loads(path.read_text(encoding="utf-8"))
    plain = json.loads(dumps_json(_plain(value)))
    from peerstudy.present.privacy import is_private, private_document

    if suppress or is_private():  # a report of real data: every record, whether the notebook asked or not
        plain = private_document(plain)
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
    stated_design: str | None = None

    @property
    def suppress(self) -> bool:
        """Whether counts 1-10 must be hidden (always for real data; synthetic data opt out)."""
        return self.real

    @property
    def design(self) -> Any:
        """How the arms were assigned (:class:`peerstudy.present.wording.Design`): the scenario's allocation for a
        simulated cohort; programme data is observational. Sentences use causal verbs only when randomised."""
        from peerstudy.present.wording import Design, design_of

        if self.stated_design:
            return Design(self.stated_design)
        return design_of(self.scenario, real=self.real)


def load_report_cohort(*, scenario: str = "outpatient_default", seed: int = 20250101, n: int = 0,
                       data: str = "", mapping: str = "", design: str = "") -> ReportCohort:
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
        A mapping YAML for :func:`peerstudy.data.programme.read_export`.
    design : str
        How the arms were formed, when stated (``individual``, ``cluster``, ``observational``); empty: the
        scenario's allocation, observational for data.

    The cohort's design (:attr:`ReportCohort.design`) is declared for the summaries of this process
    (:func:`peerstudy.present.wording.use_design`): causal words only for a randomised scenario.

    Raises
    ------
    DataError, SchemaError, ScenarioError
        The data cannot be read or the scenario is invalid.
    """
    from peerstudy.present.wording import use_design

    if data:
        from peerstudy.present.privacy import set_private

        set_private(True)  # everything this kernel records or draws from now on follows the privacy rules
        df, flow = _read_data(data, mapping)
        cohort = ReportCohort(data=df, real=True, label=Path(data).name, scenario=None, truth=None, seed=None,
                              flow=flow, stated_design=design or None)
    else:
        from peerstudy.simulation.cohort import simulate_cohort

        df = simulate_cohort(scenario, rng=seed, n=int(n) if n else None)
        label = Path(scenario).stem if scenario.lower().endswith((".yaml", ".yml")) else scenario
        cohort = ReportCohort(data=df, real=False, label=label, scenario=df.attrs.get("scenario"),
                              truth=df.attrs.get("truth"), seed=seed, stated_design=design or None)
    use_design(cohort.design)  # the page's sentences follow how this cohort's arms were assigned
    return cohort


def _read_data(data: str, mapping: str = "") -> tuple[Any, dict | None]:
    """The cohort and, for a programme export, its CONSORT-style flow.

    A report on a programme export leaves out rows that break a validation rule and shows how many were
    excluded for each reason (the flow); problems with the whole file (missing columns, one arm) still stop it.
    """
    if mapping:
        from peerstudy.data.programme import read_export

        export = read_export(data, mapping=mapping, invalid_rows="exclude")
        return export.cohort, export.flow
    from peerstudy.data.schema import read_cohort

    return read_cohort(data), None


def check_data(path: str, mapping: str) -> dict[str, Any]:
    """Read the data once (fails early, before kernels) and describe it for the manifest."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"data file not found: {str(p)!r}")
    try:
        digest = sha256_file(p)
    except OSError as exc:
        raise DataError(f"cannot read data file {str(p)!r}: {exc.strerror}") from None
    df, flow = _read_data(str(p), mapping)
    from peerstudy.data.schema import COVARIATES, missing_values, not_recorded
    from peerstudy.present.privacy import format_count, suppress_flow

    gaps = missing_values(df, COVARIATES)
    if gaps:  # named, not counted: the count could be 1-10
        raise DataError(f"--data {p.name!r}: covariate(s) {', '.join(gaps)} are missing for some participants, and a "
                        f"report does not leave people out unseen; analyse them with multiple imputation "
                        f"(peerstudy analyse {p.name} --covariates {','.join(gaps)} --impute 20)")

    # the manifest travels with the report: counts are suppressed as the pages suppress them
    rows = int(len(df))
    info: dict[str, Any] = {"path": p.name, "sha256": digest, "rows": rows if rows >= 11 else format_count(rows),
                            "not_recorded": list(not_recorded(df, COVARIATES))}
    if flow is not None:
        arms = df["arm"].astype(str).value_counts().to_dict() if "arm" in df.columns else None
        info["flow"] = suppress_flow(flow, arms)
    if mapping:
        info["mapping"] = {"spec": str(mapping),
                           "sha256": sha256_file(mapping) if Path(mapping).is_file() else None}
    return info


def retention_truth(truth: Mapping[str, Any] | None) -> dict | None:
    """The true retention a simulated cohort's Kaplan-Meier curves estimate, per arm and day (``None`` for real data).

    That is the retention given the sites the cohort drew (``net_survival_given_sites``) when the truth has it,
    else the superpopulation ``net_survival``: with few sites the two differ by between-site sampling error.
    """
    if not truth:
        return None
    est = truth["estimands"]
    return est.get("net_survival_given_sites") or est["net_survival"]
