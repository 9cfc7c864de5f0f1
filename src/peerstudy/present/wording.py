"""Plain-language sentences generated from results and the study design.

What a sentence may claim depends on how people came to have a peer coach, so every sentence here takes a
:class:`Design`:

* **randomised** (``allocation`` ``"individual"`` or ``"cluster"``): the comparison is causal, so the verbs are
  causal ("peer support added 9 days in treatment");
* **observational** (programme data, or ``allocation: observational``): the comparison is an association ("having
  a peer coach was associated with 9 more days in treatment") and the sentence names what it was adjusted for
  ("unadjusted", "adjusted for age and homelessness", "weighted for ...").

A Fine-Gray subdistribution hazard ratio is described through the cumulative incidence of dropout (the share of
people who end up dropping out when other endings compete), never as a rate. Intervals are rounded so that their
sign is never hidden: a bound that is not zero is never printed as "0" or "-0" (more decimals are used instead:
"-0.4 to 18.9", not "0 to 19"); for ratios the same holds around 1. Every number comes from the arguments.

Examples
--------
>>> format_interval(-0.40, 18.86)
'-0.4 to 18.9'
>>> format_interval(0.996, 1.31, decimals=2, null=1.0)
'0.996 to 1.310'
>>> format_p(1.55e-05)
'<0.001'
>>> d = Design("observational", adjustment="age and homelessness")
>>> rmst_sentence(8.7, -0.40, 18.86, tau=180, design=d)
'over the first 180 days, having a peer coach was associated with 9 more days in treatment on average (95% CI -0.4 to 18.9; adjusted for age and homelessness)'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from peerstudy.exceptions import ParameterError

__all__ = ["ENDING_NOUNS", "LABELS", "UNKNOWN", "Design", "use_design", "current_design", "label", "format_column", "is_p_column", "design_of", "format_interval", "format_estimate", "format_p", "retention_sentence",
           "rmst_sentence", "hazard_ratio_sentence", "fine_gray_sentence"]

#: The allocations a design may have; the first two are randomised.
ALLOCATIONS = ("individual", "cluster", "observational")

_MAX_DECIMALS = 3

#: Endings as nouns, for sentences ("incarceration and death as competing endings").
ENDING_NOUNS = {"dropout": "dropout", "incarcerated": "incarceration", "died": "death",
                "lost_to_follow_up": "loss to follow-up", "retained": "retention to the end of follow-up"}


@dataclass(frozen=True)
class Design:
    """How people came to have a peer coach, and what a comparison was adjusted for.

    Parameters
    ----------
    allocation : {"individual", "cluster", "observational"}
        People randomised, sites randomised, or neither (programme data, uptake by choice).
    adjustment : str, optional
        What an observational comparison was adjusted for, in words (e.g. ``"age and homelessness"``,
        ``"inverse probability of treatment weights for age and homelessness"``); None: unadjusted.

    Raises
    ------
    ParameterError
        An unknown allocation.
    """

    allocation: str
    adjustment: str | None = None

    def __post_init__(self) -> None:
        if self.allocation not in ALLOCATIONS:
            raise ParameterError(f"design allocation must be one of {', '.join(ALLOCATIONS)}; got {self.allocation!r}")

    @property
    def randomised(self) -> bool:
        """Whether the arms were assigned at random (people or sites): only then are causal verbs used."""
        return self.allocation != "observational"

    def adjusted_for(self, adjustment: str | None) -> "Design":
        """The same design with another adjustment named."""
        return Design(self.allocation, adjustment)

    @property
    def caveat(self) -> str:
        """What an observational comparison rests on, as a clause (empty for a randomised one)."""
        if self.randomised:
            return ""
        return f"adjusted for {self.adjustment}" if self.adjustment else "not adjusted for differences between the groups"


#: The design assumed when none is known: observational (no causal claim is made that the data cannot back).
UNKNOWN = Design("observational")

_CURRENT: list[Design] = []  # the design of the cohort this process reports on, if one was declared


def use_design(design: Design | None) -> None:
    """Declare the design of the cohort this process (a report notebook's kernel) reports on.

    Summaries given no ``design`` use it (:func:`current_design`). :func:`peerstudy.report.load_report_cohort`
    declares its cohort's design, so a report page's sentences follow the cohort it loaded; None forgets it.
    """
    _CURRENT[:] = [design] if design is not None else []


def current_design() -> Design:
    """The design declared with :func:`use_design`, else :data:`UNKNOWN` (observational: nothing causal)."""
    return _CURRENT[0] if _CURRENT else UNKNOWN


def design_of(scenario: Mapping[str, Any] | None = None, *, real: bool = False, adjustment: str | None = None) -> Design:
    """The design of a report's cohort: a simulated scenario's allocation; programme data is observational.

    >>> design_of({"allocation": "cluster"}).randomised
    True
    >>> design_of(None, real=True).allocation
    'observational'
    """
    if real or not scenario:
        return Design("observational", adjustment)
    allocation = scenario.get("allocation", "individual") if isinstance(scenario, Mapping) else \
        getattr(scenario, "allocation", "individual")
    return Design(str(allocation), adjustment)


def _finite(*xs: float | None) -> bool:
    return all(x is not None and isinstance(x, (int, float)) and math.isfinite(x) for x in xs)


def _hides(x: float, shown: str, null: float) -> bool:
    """Whether ``shown`` (``x`` rounded) hides on which side of ``null`` the value lies."""
    v = float(shown)
    return x != null and (v == null or (v - null) * (x - null) < 0)


def _fmt(x: float, decimals: int) -> str:
    s = f"{x:.{decimals}f}"
    return s[1:] if s.startswith("-") and float(s) == 0 else s  # never "-0"


def format_interval(lower: float, upper: float, *, decimals: int = 0, null: float = 0.0, sep: str = " to ") -> str:
    """An interval rounded to ``decimals``, with more decimals (up to 3) where a bound would land on ``null``.

    ``null`` is the value of no difference (0 for differences, 1 for ratios).

    >>> format_interval(1.2, 13.4)
    '1 to 13'
    >>> format_interval(-0.03, 0.5, decimals=1)
    '-0.03 to 0.50'
    """
    if not _finite(lower, upper):
        return "not estimable"
    d = decimals  # one number of decimals for both bounds
    while any(_hides(x, _fmt(x, d), null) for x in (lower, upper)) and d < _MAX_DECIMALS:
        d += 1
    return f"{_fmt(lower, d)}{sep}{_fmt(upper, d)}"


def format_estimate(x: float, *, decimals: int = 0) -> str:
    """A point estimate rounded to ``decimals``, never "-0"."""
    return _fmt(x, decimals) if _finite(x) else "not estimable"


def format_p(p: float | None) -> str:
    """A p-value for people: "<0.001", else 3 decimals below 0.1 and 2 above (never scientific notation).

    >>> [format_p(x) for x in (0.0004, 0.0123, 0.41)]
    ['<0.001', '0.012', '0.41']
    """
    if not _finite(p):
        return "not estimable"
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}" if p < 0.1 else f"{min(p, 1.0):.2f}"


def _ci(lower: float, upper: float, *, decimals: int, null: float, caveat: str = "") -> str:
    extra = f"; {caveat}" if caveat else ""
    return f"(95% CI {format_interval(lower, upper, decimals=decimals, null=null)}{extra})"


def retention_sentence(peer: float, usual_care: float, lower: float, upper: float, *, day: float,
                       design: Design = UNKNOWN) -> str:
    """Retention in each arm at ``day`` and their difference in percentage points (shares 0-1 in).

    >>> retention_sentence(0.62, 0.55, 0.004, 0.13, day=90, design=Design("individual"))
    'At 90 days, 62% of people with a peer coach were still in treatment, against 55% with usual care (difference 7 percentage points, 95% CI 0.4 to 13.0)'
    """
    if not _finite(peer, usual_care):
        return f"Retention at {day:g} days cannot be estimated: follow-up ends earlier"
    diff = 100 * (peer - usual_care)
    ci = format_interval(100 * lower, 100 * upper)
    caveat = "" if design.randomised else f"; {design.caveat}"
    return (f"At {day:g} days, {100 * peer:.0f}% of people with a peer coach were still in treatment, against "
            f"{100 * usual_care:.0f}% with usual care (difference {format_estimate(diff)} percentage points, "
            f"95% CI {ci}{caveat})")


def rmst_sentence(difference: float, lower: float, upper: float, *, tau: float, design: Design = UNKNOWN) -> str:
    """The difference in mean days in treatment over the first ``tau`` days (restricted mean), as a clause.

    Randomised: "peer support added / took away N days"; observational: "having a peer coach was associated
    with N more / fewer days", naming the adjustment.
    """
    if not _finite(difference):
        return f"over the first {tau:g} days the difference in mean days in treatment cannot be estimated"
    n = format_estimate(abs(difference), decimals=0 if abs(difference) >= 0.5 else 1)  # never "0 fewer days"
    ci = _ci(lower, upper, decimals=0, null=0.0, caveat=design.caveat)
    if design.randomised:
        verb = "added" if difference >= 0 else "took away"
        return f"over the first {tau:g} days peer support {verb} {n} days in treatment on average {ci}"
    more = "more" if difference >= 0 else "fewer"
    return (f"over the first {tau:g} days, having a peer coach was associated with {n} {more} days in treatment on "
            f"average {ci}")


def hazard_ratio_sentence(hr: float, lower: float, upper: float, *, design: Design = UNKNOWN) -> str:
    """A (cause-specific or Cox) hazard ratio of dropout, peer vs usual care, as a sentence without a full stop.

    >>> hazard_ratio_sentence(0.78, 0.68, 0.89, design=Design("individual"))
    'Peer support lowered the daily risk of dropping out (hazard ratio 0.78, 95% CI 0.68 to 0.89)'
    """
    if not _finite(hr):
        return "The hazard ratio of dropout cannot be estimated"
    ci = format_interval(lower, upper, decimals=2, null=1.0)
    if design.randomised:
        verb = "lowered" if hr < 1 else "raised" if hr > 1 else "did not change"
        return f"Peer support {verb} the daily risk of dropping out (hazard ratio {hr:.2f}, 95% CI {ci})"
    return (f"Having a peer coach was associated with a daily risk of dropping out {hr:.2f} times that with usual "
            f"care (hazard ratio, 95% CI {ci}; {design.caveat})")


def fine_gray_sentence(hr: float, lower: float, upper: float, *, design: Design = UNKNOWN,
                       competing: str = "the other endings") -> str:
    """A Fine-Gray subdistribution hazard ratio, described by the cumulative incidence of dropout (not a rate).

    >>> fine_gray_sentence(0.84, 0.75, 0.95, design=Design("individual"), competing="incarceration and death")
    'Counting incarceration and death as competing endings, peer support lowered the cumulative incidence of dropout, the share of people who end up dropping out (subdistribution hazard ratio 0.84, 95% CI 0.75 to 0.95)'
    """
    if not _finite(hr):
        return "The subdistribution hazard ratio of dropout cannot be estimated"
    ci = format_interval(lower, upper, decimals=2, null=1.0)
    lead = f"Counting {competing} as competing endings, "
    what = "the cumulative incidence of dropout, the share of people who end up dropping out"
    if design.randomised:
        verb = "lowered" if hr < 1 else "raised" if hr > 1 else "did not change"
        return f"{lead}peer support {verb} {what} (subdistribution hazard ratio {hr:.2f}, 95% CI {ci})"
    direction = "lower" if hr < 1 else "higher" if hr > 1 else "unchanged"
    return (f"{lead}having a peer coach was associated with a {direction} {what.replace('the cumulative', 'cumulative')} "
            f"(subdistribution hazard ratio {hr:.2f}, 95% CI {ci}; {design.caveat})")


# --- the words of tables: one vocabulary for every page ---------------------------------------------------------

#: Names of arms, model terms and result columns as people read them. Keys are the codes used in the package.
LABELS: dict[str, str] = {
    "usual_care": "Usual care", "peer": "Peer coach", "all": "Everyone", "peer - usual_care": "Peer coach − usual care",
    "arm": "Peer coach vs usual care", "arm[peer]": "Peer coach vs usual care",
    "age": "Age (years)", "female": "Female", "homeless": "Homeless or unstably housed",
    "stimulant_use": "Stimulant co-use", "injects": "Injected drugs (last 30 days)", "unemployed": "Unemployed",
    "depression": "Depression score", "prior_treatments": "Prior treatments",
    "incarcerated": "Incarceration", "died": "Death", "dropout": "Dropout", "retained": "Still in treatment",
    "lost_to_follow_up": "Lost to follow-up", "GLOBAL": "All terms together",
    "tau": "Horizon (days)", "group": "Group", "term": "Term", "quantity": "Quantity", "estimate": "Estimate",
    "truth": "Truth", "se": "SE", "ci_lower": "95% CI from", "ci_upper": "95% CI to", "coef": "log HR",
    "covered": "Interval covers the truth", "mean_treated": "Mean, peer coach", "mean_control": "Mean, usual care",
    "smd_before": "Standardised difference, before weighting", "smd_after": "Standardised difference, after weighting",
    "hr": "HR", "p": "p", "n": "People", "events": "Dropouts", "method": "Method", "model": "Model",
    "day": "Day", "ending": "Ending", "cif": "Cumulative incidence",
    # the same words as tables of the package write them
    "usual care": "Usual care", "peer coach": "Peer coach", "lost to follow up": "Lost to follow-up",
    "total": "Total", "still in treatment": "Still in treatment",
}

_P_HEADERS = {"p", "p-value", "p value", "pr(>|z|)", "p (log-rank)", "pvalue"}
_MISSING = {"nan", "NaN", "None", "<NA>", "NaT", "NA", ""}


#: Column headers that read differently from the same code in a cell (a column "arm" holds arms).
_HEADERS = {"arm": "Arm", "n": "People", "events": "Dropouts", "all": "All"}


def label(code: Any, *, header: bool = False) -> str:
    """The label people read for a code (an arm, a term, a column); unknown snake_case codes lose their underscores.

    >>> label("arm[peer]"), label("ci_lower"), label("event_probability"), label("arm", header=True)
    ('Peer coach vs usual care', '95% CI from', 'event probability', 'Arm')
    """
    text = str(code)
    if header and text in _HEADERS:
        return _HEADERS[text]
    if text in LABELS:
        return LABELS[text]
    if "_" in text and text.replace("_", "").isalnum() and text.lower() == text:
        return text.replace("_", " ")
    return text


def is_p_column(header: str) -> bool:
    """Whether a column of a table holds p-values (by its header)."""
    return header.strip().lower() in _P_HEADERS


def _number(text: str) -> float | None:
    try:
        x = float(text.replace(",", ""))
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _decimals(text: str) -> int | None:
    """The decimals a plain number was written with ("9.30" -> 2, "12" -> 0); None in scientific notation."""
    t = text.replace(",", "").lstrip("+-")
    if "e" in t.lower():
        return None
    return len(t.split(".", 1)[1]) if "." in t else 0


def format_column(cells: "list[str]", header: str = "", *, numbers: bool = True) -> "list[str]":
    """The cells of one table column as people read them.

    Missing values become a dash, True/False yes/no, codes their labels, p-values "<0.001"; numbers get one number
    of decimals by size (3 below 10, 2 below 100, else 1), never more than they came with, and whole columns
    thousands separators, never "20000.0". With ``numbers=False`` (a table whose author formatted it) numbers are
    left as they are (whole counts get thousands separators, p-values still read "<0.001").

    >>> format_column(["0.000015", "0.2", "nan"], "p")
    ['<0.001', '0.20', '–']
    >>> format_column(["20000.0", "1500.0"]), format_column(["0.123456", "12.5"]), format_column(["True", "peer"])
    (['20,000', '1,500'], ['0.123', '12.5'], ['yes', 'Peer coach'])
    >>> format_column(["+4.7", "1.07", "nan", "20000"], numbers=False)
    ['+4.7', '1.07', '–', '20,000']
    """
    values = [_number(c) for c in cells]
    shown = [x for x in values if x is not None]
    p_col = is_p_column(header)
    whole = bool(shown) and all(float(x).is_integer() for x in shown)
    out = []
    for c, x in zip(cells, values):
        s = c.strip()
        if s in _MISSING:
            out.append("–")
        elif s in ("True", "False"):
            out.append("yes" if s == "True" else "no")
        elif x is not None and not numbers and not p_col:
            out.append(f"{int(s):,}" if s.isdigit() else s)  # the author's text; only whole counts get separators
        elif x is not None and not any(ch.isalpha() for ch in s.replace("e-", "").replace("e+", "")):
            if p_col:
                out.append(format_p(x))
            elif whole:
                out.append(f"{int(x):,}")
            else:
                by_size = 1 if abs(x) >= 100 else 2 if abs(x) >= 10 else 3
                given = _decimals(s)
                decimals = by_size if given is None else min(by_size, given)
                out.append(f"{x:,.{decimals}f}" if abs(x) >= 1000 else _fmt(x, decimals))
        else:
            out.append(label(s))
    return out
