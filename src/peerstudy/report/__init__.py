"""Reports: parameterised notebooks run by papermill into a folder of readable pages.

:mod:`.parameters` (the notebook parameter language), :mod:`.runner` (papermill, parallel kernels, atomic
output), :mod:`.assemble` (HTML and index), :mod:`.provenance` (manifest) and :mod:`.notebook` (the small
API that notebooks call). The runner knows nothing of simulation or programme data: the data check that
runs before any kernel starts is handed to it by :func:`run_report` here.
"""

from __future__ import annotations

from typing import Any

from peerstudy.report.notebook import RESULTS_ENV, ReportCohort, check_data, load_report_cohort, record, summary
from peerstudy.report.parameters import (NotebookSpec, Parameter, default_notebook_dir, list_notebooks,
                                         parse_parameters, read_notebook_spec, validate_parameters)
from peerstudy.report.runner import Report
from peerstudy.report.runner import run_report as _run_report

__all__ = ["RESULTS_ENV", "Parameter", "NotebookSpec", "Report", "ReportCohort", "default_notebook_dir",
           "list_notebooks", "read_notebook_spec", "parse_parameters", "validate_parameters", "record", "summary",
           "load_report_cohort", "run_report"]


def run_report(notebooks: Any = None, **options: Any) -> Report:
    """Run report notebooks (see :func:`peerstudy.report.runner.run_report` for every option).

    Data files are read and checked here, before any kernel starts (:func:`peerstudy.report.notebook.check_data`).
    """
    options.setdefault("check_data", check_data)
    return _run_report(notebooks, **options)
