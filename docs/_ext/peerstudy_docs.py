"""Pages generated from the code at build time, so the documentation cannot drift from it.

Directives (in a MyST page, as a fenced block: ```` ```{peerstudy-cli} simulate ````):

``peerstudy-cli [VERB]``
    The usage line and a table of every option of ``peerstudy VERB``, read from the real argparse
    parser (:func:`peerstudy.cli.build_parser`); without a verb, the top-level command and its verbs.
    The build warns if a verb of the parser is documented nowhere.
``scenario-fields CLASS``
    A table of the fields of a scenario dataclass (``Scenario``, ``Covariates``, ``BinaryCovariate``,
    ``NumericCovariate``, ``CountCovariate``, ``Assignment``, ``Contacts``): the default from the
    dataclass itself, unit, valid range and meaning from :data:`FIELD_DOCS`. The build warns if a field
    has no entry (or an entry names no field), and probes every stated range against the validation in
    ``Scenario.__post_init__``: a value the page calls valid must be accepted, and one it calls invalid
    refused.
``scenario-presets``
    The values of every preset beside the defaults (rows: the fields on which some preset differs).
    The build warns if a preset has no ``preset-NAME`` label in the documentation.
``mapping-keys [keys|fields|endings]``
    The mapping keys, column fields and endings as the mapping checker (``peerstudy.load_mapping``)
    knows them, checked against :data:`MAPPING_DOCS` and :data:`COLUMN_DOCS`.

Only the package's stable entry points are imported here: ``peerstudy.cli.build_parser``,
``peerstudy.scenario``, ``peerstudy.exceptions`` and the front door's ``load_mapping``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import re
from dataclasses import dataclass
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[nodes.Node]], widths: list[int], classes: tuple[str, ...] = ()
           ) -> nodes.table:
    table = nodes.table(classes=["peerstudy-table", *classes])
    group = nodes.tgroup(cols=len(headers))
    table += group
    for w in widths:
        group += nodes.colspec(colwidth=w)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for h in headers:
        row += nodes.entry("", nodes.paragraph(text=h))
    head += row
    body = nodes.tbody()
    group += body
    for cells in rows:
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            if isinstance(cell, nodes.Element) and not isinstance(cell, (nodes.Inline, nodes.TextElement)):
                entry += cell
            else:
                entry += nodes.paragraph("", "", cell) if not isinstance(cell, nodes.paragraph) else cell
            row += entry
        body += row
    return table


def _literal(text: str) -> nodes.literal:
    return nodes.literal(text=text)


def _text(text: str) -> nodes.Text:
    return nodes.Text(text)


class _RstCell(SphinxDirective):
    """Helper base: parse a short fragment of inline markup (``code``, *emphasis*) with the page's own parser."""

    def rst(self, text: str) -> nodes.container:
        box = nodes.container()
        self.state.nested_parse(StringList(text.splitlines() or [""], source="peerstudy_docs"), self.content_offset, box)
        return box


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    from peerstudy.cli import build_parser

    return build_parser()


def _subparsers(parser: argparse.ArgumentParser) -> tuple[argparse._SubParsersAction, dict[str, str]]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help or "" for a in action._choices_actions}
    return action, helps


@contextlib.contextmanager
def _columns(width: int = 74):
    """argparse wraps usage to $COLUMNS: fix it so the page does not depend on the terminal."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def _option_label(action: argparse.Action) -> str:
    if not action.option_strings:
        return action.metavar or action.dest.upper()
    names = ", ".join(action.option_strings)
    if action.nargs == 0:
        return names
    if action.metavar is not None:
        metavar = action.metavar if isinstance(action.metavar, str) else " ".join(action.metavar)
    elif action.choices is not None:
        metavar = "{" + ",".join(map(str, action.choices)) + "}"
    else:
        metavar = action.dest.upper()
    if action.nargs == "+":
        metavar = f"{metavar} [{metavar} ...]"
    return f"{names} {metavar}"


def _cli_default(action: argparse.Action) -> str:
    if action.required or not action.option_strings and action.nargs is None:
        return "required"
    if isinstance(action, argparse._StoreTrueAction):
        return "off"
    if isinstance(action, argparse._AppendAction):
        return "none (repeatable)"
    if action.default is None or action.default == "":
        return "none"
    return str(action.default)


def _help_text(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    formatter = parser._get_formatter()
    text = formatter._expand_help(action) if action.help else ""
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        text = (text + "; " if text else "") + "one of: " + ", ".join(map(str, action.choices))
    exclusive = [g for g in parser._mutually_exclusive_groups if action in g._group_actions]
    for group in exclusive:
        others = [o.option_strings[-1] for o in group._group_actions if o is not action]
        text += f" (not with {', '.join(others)})"
    return text.strip()


class CliDirective(SphinxDirective):
    """Usage and options of ``peerstudy [VERB]`` from the real parser."""

    optional_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        parser = _parser()
        sub, helps = _subparsers(parser)
        verb = self.arguments[0] if self.arguments else None
        if verb is None:
            target, rows = parser, [[_literal(v), _text(helps.get(v, ""))] for v in sub.choices]
            with _columns():
                usage = parser.format_usage().strip()
            out: list[nodes.Node] = [nodes.literal_block(usage, usage, language="text")]
            out.append(_table(["verb", "what it does"], rows, [20, 80]))
            return out + self._options(target)
        if verb not in sub.choices:
            logger.warning(f"peerstudy-cli: no verb {verb!r} in peerstudy.cli (verbs: {', '.join(sub.choices)})",
                           location=self.get_location())
            return []
        if not hasattr(self.env, "peerstudy_cli_verbs"):
            self.env.peerstudy_cli_verbs = {}
        self.env.peerstudy_cli_verbs.setdefault(self.env.docname, set()).add(verb)
        target = sub.choices[verb]
        with _columns():
            usage = target.format_usage().strip()
        out = [nodes.literal_block(usage, usage, language="text")]
        if target.description:
            out.append(nodes.paragraph(text=target.description))
        return out + self._options(target)

    def _options(self, parser: argparse.ArgumentParser) -> list[nodes.Node]:
        rows = []
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            rows.append([_literal(_option_label(action)), _text(_cli_default(action)),
                         _text(_help_text(parser, action))])
        if not rows:
            return []
        return [_table(["option", "default", "meaning"], rows, [30, 14, 56], ("peerstudy-cli-options",))]


# ----------------------------------------------------------------------------------------------
# Scenario fields
# ----------------------------------------------------------------------------------------------

INF = math.inf


@dataclass(frozen=True)
class Range:
    """A valid range ``lo .. hi`` (closed or open ends), probed against the scenario's validation."""

    lo: float = -INF
    hi: float = INF
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False
    nullable: bool = False

    def text(self) -> str:
        kind = "whole number " if self.integer else ""
        if self.lo > -INF and self.hi < INF:
            core = f"{kind}in {'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}{')' if self.hi_open else ']'}"
        elif self.lo > -INF:
            core = f"{kind}{'>' if self.lo_open else '≥'} {_num(self.lo)}"
        elif self.hi < INF:
            core = f"{kind}{'<' if self.hi_open else '≤'} {_num(self.hi)}"
        else:
            core = kind.strip() or "any number"
        return core + (", or null" if self.nullable else "")

    def probes(self) -> list[tuple[Any, bool]]:
        """(value, valid?) pairs at and just beyond each finite end."""
        step = 1 if self.integer else 1e-6
        out: list[tuple[Any, bool]] = []
        for end, is_open, sign in ((self.lo, self.lo_open, -1), (self.hi, self.hi_open, +1)):
            if not math.isfinite(end):
                continue
            if is_open:
                out += [(_cast(end, self), False), (_cast(end - sign * step, self), True)]
            else:
                out += [(_cast(end, self), True), (_cast(end + sign * step, self), False)]
        if not math.isfinite(self.hi):  # "no upper bound" must be true
            out.append((_cast(10**12, self), True))
        if self.integer:
            out.append(((self.lo if math.isfinite(self.lo) else 0) + 0.5, False))
        if self.nullable:
            out.append((None, True))
        return out


def _cast(v: float, r: Range) -> Any:
    return int(v) if r.integer else float(v)


def _num(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() else f"{v:g}"


@dataclass(frozen=True)
class FieldDoc:
    unit: str
    valid: Range | str
    meaning: str
    probes: tuple[tuple[Any, bool], ...] = ()  # extra (value, valid?) probes for rules a Range cannot state


P = Range(0, 1)  # a probability, closed
HR = Range(0, lo_open=True)  # a hazard ratio

#: Unit, valid range and meaning of every scenario field, by class. Defaults come from the code.
FIELD_DOCS: dict[str, dict[str, FieldDoc]] = {
    "Scenario": {
        "name": FieldDoc("", "non-empty text", "Identifier of the scenario, used for output folders and labels.",
                         (("custom", True), ("", False))),
        "description": FieldDoc("", "text", "One line saying what the scenario represents."),
        "n": FieldDoc("participants", Range(2, 20_000_000, integer=True), "Participants enrolled."),
        "n_sites": FieldDoc("sites", Range(1, 10_000, integer=True),
                            "Sites (clinics, EDs, programmes); each participant's site is drawn at random, with equal chances. "
                            "At least 2 with ``allocation: cluster``.", ((2, True),)),
        "allocation": FieldDoc("", "``individual``, ``cluster`` or ``observational``",
                               "``individual``: exactly ``round(n * peer_fraction)`` people get peer support; "
                               "``cluster``: ``round(n_sites * peer_fraction)`` whole sites do; ``observational``: "
                               "each person's chance follows the logistic model in ``assignment`` (confounded).",
                               (("individual", True), ("cluster", True), ("observational", True), ("sites", False))),
        "peer_fraction": FieldDoc("share", Range(0, 1, lo_open=True, hi_open=True),
                                  "Share allocated to peer support; 0.5 is 1:1. With ``allocation: cluster`` some "
                                  "but not all sites must get peer support."),
        "enrolment_days": FieldDoc("days", Range(1, 3_653, integer=True),
                                   "Enrolment is uniform over this many days from ``start_date``."),
        "follow_up_days": FieldDoc("days", Range(1, 3_653, integer=True),
                                   "Each participant is followed this many days; still in treatment then is "
                                   "``retained`` (censored)."),
        "start_date": FieldDoc("date", "a real date ``YYYY-MM-DD`` in the years 1900-2100", "First enrolment date.",
                               (("2025-01-06", True), ("2025-13-01", False), ("2025-02-30", False),
                                ("1900-01-01", True), ("1899-12-31", False), ("2100-12-31", True),
                                ("2101-01-01", False), ("6 Jan 2025", False))),
        "weibull_shape": FieldDoc("", Range(0.05, 20),
                                  "Shape of the Weibull baseline dropout hazard; below 1 the hazard falls with "
                                  "time (most dropouts early)."),
        "target_day": FieldDoc("day", Range(1, 3_653, integer=True),
                               "Day at which usual-care retention is calibrated (see ``target_retention``)."),
        "target_retention": FieldDoc("proportion", Range(0, 1, lo_open=True, hi_open=True),
                                     "Marginal usual-care retention (net of competing endings, averaged over "
                                     "covariates and sites) at ``target_day``; the Weibull scale is solved to "
                                     "hit it."),
        "hazard_ratio": FieldDoc("hazard ratio", Range(0, 100, lo_open=True),
                                 "Conditional hazard ratio of dropout, peer support against usual care (below 1: "
                                 "peer support keeps people in treatment)."),
        "effect_stops_day": FieldDoc("day", Range(1, 3_653, integer=True, nullable=True),
                                     "Day after which the peer effect stops (a coaching cap); null: never."),
        "covariates": FieldDoc("", "a ``Covariates`` block", "Participant covariates (tables below)."),
        "frailty_variance": FieldDoc("variance", Range(0, 10),
                                     "Variance of the gamma site frailty (mean 1) multiplying the dropout hazard; "
                                     "0 = no site heterogeneity."),
        "loss_to_follow_up_per_year": FieldDoc("proportion per year", Range(0, 1, hi_open=True),
                                               "Proportion losing research contact in a year (censored, not "
                                               "dropout); hazard ``-log(1 - p) / 365.25`` per day."),
        "incarceration_rate": FieldDoc("events per person-year", Range(0, 50),
                                       "Constant hazard of incarceration, a competing ending."),
        "death_rate": FieldDoc("events per person-year", Range(0, 50),
                               "Constant hazard of death, a competing ending."),
        "assignment": FieldDoc("", "an ``Assignment`` block",
                               "Logistic model of who receives peer support; used only with "
                               "``allocation: observational``."),
        "contacts": FieldDoc("", "a ``Contacts`` block",
                             "Coach-session log and the effect of recent contact; off unless "
                             "``contacts.enabled``."),
        "outcomes": FieldDoc("", "an ``Outcomes`` block",
                             "Secondary outcomes, follow-up interviews and missing covariates; off unless "
                             "``outcomes.enabled``."),
        "coaches": FieldDoc("", "a ``Coaches`` block",
                            "Coaches within sites: caseloads, a coach frailty and coach-client matching; off "
                            "unless ``coaches.enabled``."),
        "recurrent": FieldDoc("", "a ``Recurrent`` block",
                              "Recurrent episodes (relapses, overdoses) with a subject frailty and death as the "
                              "terminal event; off unless ``recurrent.enabled``."),
    },
    "BinaryCovariate": {
        "prevalence": FieldDoc("proportion", P, "P(x = 1)."),
        "hazard_ratio": FieldDoc("hazard ratio", HR, "Hazard ratio of dropout for x = 1 against x = 0."),
    },
    "NumericCovariate": {
        "mean": FieldDoc("unit of the covariate", "within [lower, upper]",
                         "Mean of the normal draw; also the centre of the hazard model.",
                         ((18, True), (17.5, False), (75, True), (75.5, False))),
        "sd": FieldDoc("unit of the covariate", Range(0, lo_open=True), "Standard deviation of the normal draw."),
        "lower": FieldDoc("unit of the covariate", "whole number ≥ 0, below ``upper``",
                          "Smallest value; draws are ``round(Normal(mean, sd))`` clipped to [lower, upper].",
                          ((0, True), (-1, False), (18.5, False), (75, False))),
        "upper": FieldDoc("unit of the covariate", "whole number above ``lower``", "Largest value.",
                          ((100, True), (75.5, False), (18, False))),
        "hazard_ratio": FieldDoc("hazard ratio per ``per`` units", HR,
                                 "Hazard ratio of dropout per ``per`` units above the mean."),
        "per": FieldDoc("unit of the covariate", Range(0, lo_open=True),
                        "The step the hazard ratio refers to (e.g. 10 years of age)."),
    },
    "CountCovariate": {
        "mean": FieldDoc("count", Range(0), "Mean of the Poisson draw; also the centre of the hazard model."),
        "upper": FieldDoc("count", Range(1, integer=True), "Draws above it are capped to it."),
        "hazard_ratio": FieldDoc("hazard ratio per count", HR, "Hazard ratio of dropout per extra count."),
    },
    "Covariates": {
        "age": FieldDoc("years", "a ``NumericCovariate``", "Age at enrolment."),
        "female": FieldDoc("0/1", "a ``BinaryCovariate``", "1 = female."),
        "homeless": FieldDoc("0/1", "a ``BinaryCovariate``", "1 = homeless or unstably housed at enrolment."),
        "stimulant_use": FieldDoc("0/1", "a ``BinaryCovariate``",
                                  "1 = stimulant (cocaine, methamphetamine) co-use."),
        "injects": FieldDoc("0/1", "a ``BinaryCovariate``", "1 = injected drugs in the last 30 days."),
        "unemployed": FieldDoc("0/1", "a ``BinaryCovariate``", "1 = unemployed at enrolment."),
        "depression": FieldDoc("score points", "a ``NumericCovariate``", "Depression score (BDI-like, 0-63)."),
        "prior_treatments": FieldDoc("episodes", "a ``CountCovariate``", "Earlier treatment episodes."),
    },
    "Assignment": {
        "intercept": FieldDoc("log-odds", Range(-20, 20),
                              "Log-odds of receiving peer support for a person at every centre (binary "
                              "covariates 0, others at their mean); all zero is a fair coin."),
        **{name: FieldDoc(unit, Range(-20, 20), f"Change in the log-odds of receiving peer support {what}.")
           for name, unit, what in (
               ("age", "log-odds per year", "per year of age above the mean"),
               ("female", "log-odds", "for women"),
               ("homeless", "log-odds", "for people who are homeless"),
               ("stimulant_use", "log-odds", "with stimulant co-use"),
               ("injects", "log-odds", "for people who inject"),
               ("unemployed", "log-odds", "for people who are unemployed"),
               ("depression", "log-odds per point", "per depression point above the mean"),
               ("prior_treatments", "log-odds per episode", "per earlier treatment episode above the mean"))},
    },
    "Contacts": {
        "enabled": FieldDoc("", "true or false",
                            "Simulate a coach-session log for the peer arm (written as ``FILE.contacts.csv``).",
                            ((True, True), (False, True), ("yes", False))),
        "rate_per_week": FieldDoc("sessions per week", Range(0, 50),
                                  "Session rate at enrolment (a Poisson process at ``rate_per_week / 7`` a day)."),
        "halving_days": FieldDoc("days", Range(0, lo_open=True, nullable=True),
                                 "The session rate halves every this many days; null: constant."),
        "cap_day": FieldDoc("day", Range(1, integer=True, nullable=True),
                            "No sessions after this day (a coaching cap); null: no cap."),
        "phone_fraction": FieldDoc("proportion", P, "Share of sessions by phone (the rest face to face)."),
        "window_days": FieldDoc("days", Range(1, integer=True),
                                "Length of the window after a session, ``(d, d + window_days]``, in which "
                                "``hazard_ratio_recent`` applies."),
        "hazard_ratio_recent": FieldDoc("hazard ratio", HR,
                                        "Multiplies the dropout hazard within the window after a session, on top "
                                        "of the arm's ``hazard_ratio``."),
    },
    "Outcomes": {
        "enabled": FieldDoc("", "true or false",
                            "Simulate linkage, 6-month outcomes, BARC-10 and interviews for the same participants.",
                            ((True, True), (False, True), ("yes", False))),
        "linkage_rate_per_week": FieldDoc("per week", Range(0, 50),
                                          "Hazard of linkage (e.g. a first MOUD dose) in usual care, constant."),
        "linkage_hazard_ratio": FieldDoc("hazard ratio", Range(0.001, 1000),
                                         "Cause-specific hazard ratio of linkage, peer vs usual care."),
        "housed_usual_care": FieldDoc("probability", Range(0, 1, lo_open=True, hi_open=True),
                                      "P(housed at 6 months) in usual care for people housed at intake."),
        "housed_odds_ratio_peer": FieldDoc("odds ratio", Range(0.001, 1000), "Odds ratio of being housed, peer."),
        "housed_odds_ratio_homeless": FieldDoc("odds ratio", Range(0.001, 1000),
                                               "Odds ratio of being housed for people homeless at intake."),
        "employed_usual_care": FieldDoc("probability", Range(0, 1, lo_open=True, hi_open=True),
                                        "P(employed at 6 months) in usual care for people employed at intake."),
        "employed_odds_ratio_peer": FieldDoc("odds ratio", Range(0.001, 1000),
                                             "Odds ratio of being employed, peer."),
        "employed_odds_ratio_unemployed": FieldDoc("odds ratio", Range(0.001, 1000),
                                                   "Odds ratio of being employed for people unemployed at intake."),
        "barc_intake": FieldDoc("BARC-10 points", Range(10, 60), "Mean BARC-10 total at intake."),
        "barc_change_6m": FieldDoc("BARC-10 points", Range(-50, 50), "Change per 180 days in usual care."),
        "barc_peer_change_6m": FieldDoc("BARC-10 points", Range(-50, 50),
                                        "Extra change per 180 days with peer support."),
        "barc_person_sd": FieldDoc("BARC-10 points", Range(0, 50), "SD of the person effect (random intercept)."),
        "barc_residual_sd": FieldDoc("BARC-10 points", Range(0, 50), "SD of the visit-level residual."),
        "interview_rate": FieldDoc("probability", Range(0, 1, lo_open=True, hi_open=True),
                                   "P(follow-up interview done) for people still in treatment, housed at intake."),
        "interview_odds_ratio_left": FieldDoc("odds ratio", Range(0.001, 1000),
                                              "Odds ratio of an interview for people who left treatment before it."),
        "interview_odds_ratio_homeless": FieldDoc("odds ratio", Range(0.001, 1000),
                                                  "Odds ratio of an interview for people homeless at intake."),
        "missing": FieldDoc("", "a ``MissingCovariates`` block", "Covariates left missing, and how."),
    },
    "MissingCovariates": {
        **{name: FieldDoc("proportion", Range(0, 0.9), f"Share of ``{name}`` values missing.")
           for name in ("age", "female", "homeless", "stimulant_use", "injects", "unemployed", "depression",
                        "prior_treatments")},
        "mechanism": FieldDoc("", "``mcar`` or ``mar``",
                              "Missing completely at random, or at random given dropout and arm.",
                              (("mcar", True), ("mar", True), ("mnar", False))),
        "odds_ratio_event": FieldDoc("odds ratio", Range(0.001, 1000),
                                     "With ``mar``: odds ratio of a missing value for people who dropped out."),
        "odds_ratio_peer": FieldDoc("odds ratio", Range(0.001, 1000),
                                    "With ``mar``: odds ratio of a missing value in the peer arm."),
    },
    "Coaches": {
        "enabled": FieldDoc("", "true or false",
                            "Give peer-arm clients coaches (written as the ``coach`` and ``coach_match`` columns); "
                            "usual-care participants have none.",
                            ((True, True), (False, True), ("yes", False))),
        "per_site": FieldDoc("coaches", Range(1, 1_000, integer=True),
                             "Coaches at each site; a peer-arm client gets one of their site's coaches, each equally "
                             "likely (caseload about ``n_peer / (n_sites * per_site)``)."),
        "frailty_variance": FieldDoc("variance", Range(0, 10),
                                     "Variance of the gamma coach frailty (mean 1) multiplying the dropout hazard of "
                                     "the coach's clients, on top of the site frailty; 0 = coaches do not differ."),
        "match_on": FieldDoc("", "``primary_substance`` or ``lived_experience``",
                             "What a matched client shares with their coach (a label: it changes no number).",
                             (("primary_substance", True), ("lived_experience", True), ("age", False))),
        "match_probability": FieldDoc("proportion", P, "P(a peer-arm client is matched with their coach)."),
        "match_hazard_ratio": FieldDoc("hazard ratio", Range(0, 100, lo_open=True),
                                       "Multiplies a matched client's dropout hazard (over the whole follow-up): the "
                                       "interaction of arm and match."),
    },
    "Recurrent": {
        "enabled": FieldDoc("", "true or false",
                            "Simulate recurrent episodes (written as ``FILE.events.csv``: participant_id, day, kind).",
                            ((True, True), (False, True), ("yes", False))),
        "rate_per_year": FieldDoc("episodes per person-year", Range(0, 100, lo_open=True),
                                  "Usual-care episode rate of a person with frailty 1 (a Poisson process)."),
        "rate_ratio": FieldDoc("rate ratio", Range(0, 100, lo_open=True),
                               "Episode rate ratio, peer against usual care, given the frailty."),
        "effect_stops_day": FieldDoc("day", Range(1, 3653, integer=True, nullable=True),
                                     "The peer effect on the episode rate stops after this day (e.g. the coaching "
                                     "cap); null: never."),
        "frailty_variance": FieldDoc("variance", Range(0, 10),
                                     "Variance of the gamma subject frailty (mean 1) on the episode rate; 0 = none."),
        "death_frailty": FieldDoc("power", Range(0, 3),
                                  "The death hazard is ``death_rate * W ** death_frailty``: 0 = death independent "
                                  "of the episode rate, 1 = proportional to it."),
        "overdose_fraction": FieldDoc("proportion", P, "Share of episodes that are overdoses (the rest relapses)."),
        "effect_while_coached": FieldDoc("", "true or false",
                                         "The episode rate ratio applies only while the person is coached: in "
                                         "treatment (before the dropout) and up to ``contacts.cap_day``.",
                                         ((True, True), (False, True), (1, False))),
        "reentry_rate_per_year": FieldDoc("re-entries per person-year", Range(0, 100),
                                          "Rate of re-entries to treatment after a dropout (kind ``reentry``), "
                                          "times the frailty; 0 = none. Above 0, dropout no longer ends the "
                                          "observation of episodes (cohort columns ``events_time``, "
                                          "``events_ending``)."),
        "reentry_rate_ratio": FieldDoc("rate ratio", Range(0, 100, lo_open=True),
                                       "Re-entry rate ratio, peer against usual care, given the frailty."),
    },
}

#: Where each class sits in a scenario, for probing (dotted override prefix of one instance of it).
_PROBE_PREFIX = {"Scenario": "", "Covariates": "covariates.", "BinaryCovariate": "covariates.homeless.",
                 "NumericCovariate": "covariates.age.", "CountCovariate": "covariates.prior_treatments.",
                 "Assignment": "assignment.", "Contacts": "contacts.", "Outcomes": "outcomes.",
                 "MissingCovariates": "outcomes.missing.", "Coaches": "coaches.", "Recurrent": "recurrent."}


def _scenario_module():
    from peerstudy import scenario

    return scenario


def _accepts(prefix: str, field: str, value: Any) -> bool:
    sc = _scenario_module()
    try:
        sc.apply_overrides(sc.Scenario(), {prefix + field: value})
    except sc.ScenarioError:
        return False
    return True


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return dataclasses.MISSING


def _default_text(value: Any) -> str:
    sc = _scenario_module()
    if value is dataclasses.MISSING:
        return "required"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, sc.NumericCovariate):
        return (f"mean {value.mean:g}, sd {value.sd:g}, [{value.lower:g}, {value.upper:g}], "
                f"HR {value.hazard_ratio:g} per {value.per:g}")
    if isinstance(value, sc.BinaryCovariate):
        return f"prevalence {value.prevalence:g}, HR {value.hazard_ratio:g}"
    if isinstance(value, sc.CountCovariate):
        return f"Poisson mean {value.mean:g}, cap {value.upper}, HR {value.hazard_ratio:g} per count"
    if dataclasses.is_dataclass(value):
        return "see below"
    if isinstance(value, str):
        return repr(value) if value == "" else value
    return f"{value:g}" if isinstance(value, float) else str(value)


class ScenarioFieldsDirective(_RstCell):
    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        sc = _scenario_module()
        name = self.arguments[0]
        cls = getattr(sc, name, None)
        if cls is None or not dataclasses.is_dataclass(cls):
            logger.warning(f"scenario-fields: peerstudy.scenario has no dataclass {name!r}", location=self.get_location())
            return []
        docs = FIELD_DOCS.get(name, {})
        fields = dataclasses.fields(cls)
        names = [f.name for f in fields]
        for missing in [n for n in names if n not in docs]:
            logger.warning(f"scenario-fields: {name}.{missing} is not documented (add it to FIELD_DOCS in "
                           "docs/_ext/peerstudy_docs.py)", location=self.get_location())
        for extra in [n for n in docs if n not in names]:
            logger.warning(f"scenario-fields: FIELD_DOCS documents {name}.{extra}, which is not a field",
                           location=self.get_location())
        prefix = _PROBE_PREFIX.get(name)
        rows = []
        for f in fields:
            doc = docs.get(f.name)
            if doc is None:
                continue
            if prefix is not None:
                self._probe(name, prefix, f.name, doc)
            valid = _text(doc.valid.text()) if isinstance(doc.valid, Range) else self.rst(doc.valid)
            rows.append([_literal(f.name), _text(_default_text(_default_of(f))), _text(doc.unit), valid,
                         self.rst(doc.meaning)])
        return [_table(["field", "default", "unit", "valid", "meaning"], rows, [18, 14, 12, 16, 40],
                       ("peerstudy-scenario-fields",))]

    def _probe(self, cls: str, prefix: str, field: str, doc: FieldDoc) -> None:
        probes = list(doc.probes)
        if isinstance(doc.valid, Range):
            probes += doc.valid.probes()
        for value, valid in probes:
            if _accepts(prefix, field, value) != valid:
                logger.warning(f"scenario-fields: the page says {cls}.{field} = {value!r} is "
                               f"{'valid' if valid else 'invalid'}, but the scenario "
                               f"{'refuses' if valid else 'accepts'} it", location=self.get_location())


def _leaves(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_leaves(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def _value_text(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


class ScenarioPresetsDirective(SphinxDirective):
    has_content = False

    def run(self) -> list[nodes.Node]:
        sc = _scenario_module()
        if not hasattr(self.env, "peerstudy_presets_table"):
            self.env.peerstudy_presets_table = {}
        self.env.peerstudy_presets_table[self.env.docname] = True
        default = _leaves(sc.Scenario().to_dict())
        presets = {name: _leaves(sc.preset(name).to_dict()) for name in sc.PRESETS}
        rows = []
        for key, base in default.items():
            if key in ("name", "description"):
                continue
            values = [p[key] for p in presets.values()]
            if all(v == base for v in values) and "." in key:
                continue  # nested fields every preset leaves at the default are left out
            rows.append([_literal(key), _text(_value_text(base)), *(_text(_value_text(v)) for v in values)])
        width = max(6, 60 // max(1, len(presets)))
        headers = [name.replace("_", "_\u200b") for name in presets]  # let long names break after "_"
        return [_table(["field", "default", *headers], rows, [22, 10, *([width] * len(presets))],
                       ("peerstudy-presets",))]


# ----------------------------------------------------------------------------------------------
# Mapping keys
# ----------------------------------------------------------------------------------------------

#: What each mapping key does (the page's table); checked against the keys the mapping checker knows.
MAPPING_DOCS: dict[str, tuple[str, str, str]] = {
    # key: (default, applies to, meaning)
    "name": ("the file name without ``.yaml`` or ``.mapping.yaml``; ``custom`` for a dict", "both",
             "Label of the mapping in reports, ``results.json`` and messages."),
    "description": ("none", "both", "Free text for the reader of the mapping; not used."),
    "extends": ("none", "both",
                "Start from a built-in mapping (``canonical``, ``teds``) or another ``.yaml`` mapping in the same "
                "folder (a file name, no path) and change some keys: ``columns`` and ``values`` are merged "
                "field by field, ``reasons`` code by code, every other key replaced. A chain that comes back on "
                "itself is refused."),
    "layout": ("``dates``", "both",
               "``dates``: one row per participant with admission and discharge dates; ``teds_d``: the TEDS-D "
               "public-use discharge layout (length-of-stay codes, no dates)."),
    "columns": ("none (required for ``dates``)", "dates",
                "Canonical field -> the export's column header. Fields: see the table of fields below."),
    "optional": ("``[]``", "dates",
                 "Fields (or column headers) that may be absent from the file without a problem."),
    "values": ("none", "dates",
               "Per field, the export's values -> canonical values: ``arm`` to ``usual_care`` / ``peer``, 0/1 "
               "covariates to 0 or 1, number covariates to numbers. Matching ignores case, surrounding spaces "
               "and repeated spaces."),
    "reasons": ("``canonical`` (``dates``), ``teds`` (``teds_d``)", "both",
                "Discharge reason code -> ending (one of the endings below), or the name of a built-in table "
                "(``canonical``, ``teds``). Matching ignores case and spaces; ``2`` and ``2.0`` are the same code."),
    "date_format": ("``ISO8601``", "dates",
                    "How dates are written: ``ISO8601`` or a ``strftime`` pattern such as ``'%d/%m/%Y'`` (quote it: "
                    "YAML cannot start a plain value with ``%``)."),
    "age_range": ("``[12, 100]``", "dates", "Ages outside ``[lowest, highest]`` are reported as impossible."),
    "invalid_rows": ("``raise``", "both",
                     "``raise``: refuse the file and list every problem; ``exclude``: leave out rows with a "
                     "problem, counted by reason in the flow. File-level problems (a missing column, one arm) "
                     "always refuse."),
    "censor_at": ("``middle``", "teds_d",
                  "Where a non-dropout ending inside a length-of-stay band is censored: ``middle`` (life-table "
                  "convention), ``lower`` or ``upper`` (bounds)."),
    "keep": ("``{}``", "teds_d",
             "Column -> code or list of codes to keep (e.g. ``SERVICES_D: [6, 7]`` for outpatient episodes); "
             "other rows are excluded and counted."),
    "sheet": ("``0`` (the first sheet)", "both", "Excel sheet to read, by name or position."),
    "events": ("none", "both",
               "The programme's events table (overdoses, ED visits, re-admissions) for ``analyse --events``: "
               "``file`` (beside the mapping, or an absolute path) and the keys of an events mapping "
               "(``columns`` with ``participant_id`` and ``day`` or ``date``, optional ``kind``; ``values``, "
               "``date_format``, ``optional``, ``invalid_rows``). Checked with the rest of the mapping, every "
               "problem listed at once; ``analyse --mapping`` then reads it without ``--events``."),
    "reason_labels": ("derived from ``reasons``", "both",
                      "Filled in by the loader (the codes as written, for \"did you mean\" hints); do not set it."),
}

#: What each canonical column field means in an export with dates.
COLUMN_DOCS: dict[str, str] = {
    "participant_id": "Participant identifier; must be present and unique.",
    "site": "Site of enrolment; must be present.",
    "arm": "Arm received; mapped to ``usual_care`` / ``peer`` through ``values.arm``. Both arms must occur.",
    "admitted_on": "Admission (enrolment) date; must be present and parse with ``date_format``.",
    "discharged_on": "Discharge date, or the date follow-up ended. Empty (with an empty reason) = still in "
                     "treatment at the data cut-off.",
    "reason": "Discharge reason, mapped to an ending through ``reasons``. Empty exactly when the discharge date is.",
    "coach": "Peer coach (optional, kept as it is: a cluster for ``--cluster coach`` or ``--frailty coach``); empty "
             "for people without a coach (usual care), never in the peer arm.",
    "coach_match": "Coach-client match (optional): 0/1 (or codes through ``values.coach_match``), 1 when the client "
                   "shares the coach's primary substance or lived experience; empty without a coach. The effect "
                   "modifier of ``--effect-modifier coach_match``.",
    "age": "Age in years, within ``age_range``.",
    "female": "0/1 (or values mapped to 0/1; ``yes``/``no``, ``y``/``n``, ``true``/``false`` always work).",
    "homeless": "0/1, as ``female``.",
    "stimulant_use": "0/1, as ``female``.",
    "injects": "0/1, as ``female``.",
    "unemployed": "0/1, as ``female``.",
    "depression": "Score, a number ≥ 0.",
    "prior_treatments": "Earlier treatment episodes, a whole number ≥ 0.",
}


def _mapping_facts() -> dict[str, list[str]]:
    """Ask the real mapping checker (``peerstudy.load_mapping``) for its known keys, column fields and endings."""
    from peerstudy import load_mapping
    from peerstudy.exceptions import PeerstudyError

    text = ""
    for probe in ({"not_a_key": 1}, {"columns": {"not_a_field": "X"}, "reasons": {"X": "not_an_ending"}}):
        try:
            load_mapping(probe)
        except PeerstudyError as exc:
            text += "\n".join(getattr(exc, "problems", [str(exc)])) + "\n"
    facts: dict[str, list[str]] = {}
    for key, pattern in (("keys", r"\(known: ([^)]*)\)"), ("fields", r"fields are ([^;\n]*)"),
                         ("endings", r"must map codes to ([^;\n]*?); got"),
                         ("required", r"must name the export column for ([^;\n]*)")):
        m = re.search(pattern, text)
        facts[key] = [s.strip() for s in m.group(1).split(",")] if m else []
    return facts


class MappingKeysDirective(_RstCell):
    optional_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        what = self.arguments[0] if self.arguments else "keys"
        facts = _mapping_facts()
        if not all(facts.values()):
            logger.warning(f"mapping-keys: could not read the mapping rules from the mapping checker ({facts})",
                           location=self.get_location())
            return []
        if what == "keys":
            known = set(facts["keys"]) | {"extends"}
            for k in sorted(known - set(MAPPING_DOCS)):
                logger.warning(f"mapping-keys: mapping key {k!r} is not documented (MAPPING_DOCS)",
                               location=self.get_location())
            for k in sorted(set(MAPPING_DOCS) - known):
                logger.warning(f"mapping-keys: MAPPING_DOCS documents {k!r}, which the mapping checker does not know",
                               location=self.get_location())
            rows = [[_literal(k), self.rst(d), _text(a), self.rst(m)] for k, (d, a, m) in MAPPING_DOCS.items()]
            return [_table(["key", "default", "layout", "meaning"], rows, [14, 20, 8, 58])]
        if what == "fields":
            fields, required = facts["fields"], set(facts["required"])
            for k in sorted(set(fields) ^ set(COLUMN_DOCS)):
                logger.warning(f"mapping-keys: column field {k!r} is documented or known, not both (COLUMN_DOCS)",
                               location=self.get_location())
            rows = [[_literal(f), _text("required" if f in required else "optional"), self.rst(COLUMN_DOCS.get(f, ""))]
                    for f in fields]
            return [_table(["field", "", "meaning"], rows, [18, 12, 70])]
        if what == "endings":
            return [nodes.paragraph("", "", *_join([_literal(e) for e in facts["endings"]]))]
        logger.warning(f"mapping-keys: unknown argument {what!r} (keys, fields, endings)", location=self.get_location())
        return []


def _join(items: list[nodes.Node]) -> list[nodes.Node]:
    out: list[nodes.Node] = []
    for i, item in enumerate(items):
        if i:
            out.append(_text(", "))
        out.append(item)
    return out


# ----------------------------------------------------------------------------------------------
# Consistency checks at the end of the build
# ----------------------------------------------------------------------------------------------


def _verbs_documented(env) -> set[str]:
    return set().union(*getattr(env, "peerstudy_cli_verbs", {}).values())


def _check(app, env) -> None:
    if getattr(env, "peerstudy_cli_verbs", None):
        sub, _ = _subparsers(_parser())
        for verb in sub.choices:
            if verb not in _verbs_documented(env):
                logger.warning(f"peerstudy-cli: verb {verb!r} is not documented (add a peerstudy-cli {verb} block)")
    if getattr(env, "peerstudy_presets_table", None):
        labels = env.domaindata["std"]["labels"]
        for name in _scenario_module().PRESETS:
            if f"preset-{name}".lower() not in labels:
                logger.warning(f"scenario-presets: preset {name!r} has no description (label preset-{name})")


def _purge(app, env, docname) -> None:
    for attr in ("peerstudy_cli_verbs", "peerstudy_presets_table"):
        getattr(env, attr, {}).pop(docname, None)


def _merge(app, env, docnames, other) -> None:
    for attr in ("peerstudy_cli_verbs", "peerstudy_presets_table"):
        mine = getattr(env, attr, None)
        if mine is None:
            mine = {}
            setattr(env, attr, mine)
        mine.update({d: v for d, v in getattr(other, attr, {}).items() if d in docnames})


def setup(app) -> dict[str, Any]:
    app.add_directive("peerstudy-cli", CliDirective)
    app.add_directive("scenario-fields", ScenarioFieldsDirective)
    app.add_directive("scenario-presets", ScenarioPresetsDirective)
    app.add_directive("mapping-keys", MappingKeysDirective)
    app.connect("env-check-consistency", _check)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
