"""Errors and warning categories of peerstudy.

Every error a user can cause derives from :class:`PeerstudyError`; the CLI turns it into one
line on stderr and exit status 2. A bug is anything else and keeps its traceback.
Statistical caveats are warnings with named categories, so they can be filtered or
turned into errors (``warnings.simplefilter("error", ProportionalHazardsWarning)``).
"""

from __future__ import annotations

__all__ = [
    "PeerstudyError",
    "ScenarioError",
    "SchemaError",
    "DataError",
    "AnalysisError",
    "ParameterError",
    "ReportError",
    "PeerstudyWarning",
    "ProportionalHazardsWarning",
    "SeparationWarning",
    "ConvergenceWarning",
    "ExtremeWeightsWarning",
]


class PeerstudyError(Exception):
    """Base class of every error a user's input can cause."""


class ScenarioError(PeerstudyError, ValueError):
    """A scenario field is unknown, of the wrong type or out of range."""


class SchemaError(PeerstudyError, ValueError):
    """A cohort or data file does not follow the expected schema (a missing column, a column of the wrong
    type, or bad values in a column).

    ``problems`` lists every problem found, each one a complete sentence.
    """

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [message])


class DataError(PeerstudyError, ValueError):
    """Data cannot be read or used (unreadable file, wrong format, unwritable output)."""


class AnalysisError(PeerstudyError, ValueError):
    """An estimator cannot be fitted to this data (too few events, constant covariate, ...)."""


class ParameterError(PeerstudyError, ValueError):
    """A parameter (of a function, notebook or the CLI) is unknown, of the wrong type or out of range."""


class ReportError(PeerstudyError):
    """A report could not be produced (a notebook failed)."""


class PeerstudyWarning(UserWarning):
    """Base class of peerstudy's statistical warnings."""


class ProportionalHazardsWarning(PeerstudyWarning):
    """The proportional-hazards assumption looks violated for a term."""


class SeparationWarning(PeerstudyWarning):
    """A covariate (nearly) separates events from non-events; estimates are unstable."""


class ConvergenceWarning(PeerstudyWarning):
    """An iterative fit did not converge cleanly."""


class ExtremeWeightsWarning(PeerstudyWarning):
    """Weights are extreme; the effective sample size is much smaller than n."""


class FewClustersWarning(PeerstudyWarning):
    """A cluster-robust (sandwich) SE rests on too few clusters to be trusted (it is too small)."""
