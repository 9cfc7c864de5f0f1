"""Effect modification of the arm's hazard ratio: Cox models with an arm-by-modifier interaction.

Does the peer effect differ between clients matched with their coach and those who are not (or between people who
are homeless and those who are housed)? :func:`fit_effect_modification` fits a Cox model of the arm, the modifier
and their interaction and returns the hazard ratio of the arm in each stratum of the modifier, with its CI, and the
test of no interaction. A modifier defined in both arms (``homeless``) enters as R's
``coxph(Surv(time, event) ~ arm * modifier)``: ``arm + modifier + arm:modifier``. A modifier defined only in the
treated arm, missing in every usual-care row (``coach_match``: usual care has no coach, so no match), cannot have a
main effect of its own; it enters nested in the arm, as ``coxph(Surv(time, event) ~ peer + peer:match)`` with the
match set to 0 in usual care. Either way, level ``l`` of the modifier has the log hazard ratio
``b_arm + b_arm:l`` (``b_arm`` alone at the reference level), and the interaction terms ``b_arm:l`` are the
differences between strata (for a 0/1 modifier, ``exp(b_arm:1)`` is the ratio of the two hazard ratios).

Inference, by the fit's variance matrix ``V``: each stratum's log hazard ratio has variance
``V[arm, arm] + V[l, l] + 2 V[arm, l]``, with a normal 95% CI; the interaction is tested by the Wald statistic
``b_int' V_int^-1 b_int`` on ``K - 1`` degrees of freedom for ``K`` levels. ``V`` is the model-based variance, the
grouped sandwich of R's ``coxph(..., cluster = )`` with ``cluster``, or R's ``se(coef)`` variance of the penalised
fit with a shared frailty (``frailty``; :func:`~peerstudy.survival.cox.frailty.fit_frailty_cox`).

Clusters in a partially nested design: clients of one coach are correlated, people in usual care have no coach. A
cluster (or frailty) column that is missing exactly in usual-care rows gets one cluster per usual-care participant
(:func:`own_clusters`), the usual treatment of unclustered controls (Bauer, Sterba & Hallfors 2008). For the
sandwich variance that is exact: an uncorrelated person is a cluster of one. For a shared frailty it gives the
usual-care participants frailties of their own with the coaches' variance, an approximation (the estimated variance
mixes coach-level and person-level heterogeneity); prefer ``cluster`` for inference on the arm.

References
----------
Bauer DJ, Sterba SK, Hallfors DD (2008). Evaluating group-based interventions when control participants are
ungrouped. *Multivariate Behav Res* 43:210-236. Therneau TM, Grambsch PM (2000). *Modeling Survival Data:
Extending the Cox Model*. Springer.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from peerstudy.exceptions import AnalysisError, FewClustersWarning, ParameterError, SchemaError
from peerstudy.survival._display import terms_html
from peerstudy.survival._validate import (as_list, check_choice, group_codes, level_order, require_columns,
                                          require_frame, row_list, show)
from peerstudy.survival.cox.engine import TIES, fit_cox
from peerstudy.survival.cox.frailty import DISTRIBUTIONS, fit_frailty_cox
from peerstudy.survival.cox.small_sample import FEW_CLUSTERS

__all__ = ["EffectModificationResult", "fit_effect_modification", "own_clusters", "MAX_MODIFIER_LEVELS"]

_Z975 = stats.norm.ppf(0.975)
#: Most levels a modifier may have (each adds an interaction term).
MAX_MODIFIER_LEVELS = 20
#: Label prefix of the clusters of one made for participants without a cluster (usual care without a coach).
OWN_CLUSTER = "(own cluster) "


def own_clusters(df: pd.DataFrame, column: str | None, *, arm: str | None = "arm") -> pd.DataFrame:
    """``df`` with a cluster of its own for each usual-care participant whose ``column`` is missing.

    In a partially nested design only the peer arm is clustered (clients of one coach), so ``coach`` is missing
    in usual care. Such a column may be used as a cluster or frailty term: each of those participants becomes a
    cluster of one, labelled ``"(own cluster) ROW"``. A column with missing values in the peer arm (or with
    no arm) is returned unchanged, for the analysis to refuse by name.

    Parameters
    ----------
    df : pandas.DataFrame
    column : str or None
        The cluster column (``None``: nothing to do).
    arm : str or None
        The arm column; its reference level (first in level order, ``usual_care``) is the unclustered arm.

    Returns
    -------
    pandas.DataFrame
        ``df`` itself when nothing changes, else a copy with ``column`` as text labels.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"arm": ["usual_care", "peer", "peer", "usual_care"], "coach": [None, "A", "A", None]})
    >>> list(own_clusters(df, "coach")["coach"])
    ['(own cluster) 0', 'A', 'A', '(own cluster) 3']
    """
    if column is None or arm is None or column not in df.columns or arm not in df.columns:
        return df
    missing = df[column].isna().to_numpy()
    if not missing.any() or df[arm].isna().any():
        return df
    levels = level_order(df[arm])
    if len(levels) < 2:
        return df
    reference = (df[arm] == levels[0]).to_numpy()
    if (missing & ~reference).any() or not (~missing).any():
        return df
    labels = df[column].astype("object").to_numpy(copy=True)
    labels[~missing] = [str(v) for v in labels[~missing]]
    rows = np.flatnonzero(missing)
    labels[rows] = [f"{OWN_CLUSTER}{i}" for i in rows]
    return df.assign(**{column: labels})


def _label(value: Any) -> str:
    """A level as text: whole-number floats without '.0' (a 0/1 column read from CSV is float)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value.item() if isinstance(value, np.generic) else value)


def _stratum(coef: float, var: float) -> dict[str, float]:
    se = float(np.sqrt(var))
    z = coef / se
    return {"coef": float(coef), "se": se, "hr": float(np.exp(coef)), "ci_lower": float(np.exp(coef - _Z975 * se)),
            "ci_upper": float(np.exp(coef + _Z975 * se)), "z": float(z), "p": float(2 * stats.norm.sf(abs(z)))}


@dataclass(frozen=True)
class EffectModificationResult:
    """Hazard ratios of the arm by stratum of a modifier, and the test of no interaction.

    Attributes
    ----------
    modifier, arm : str
        The modifier and arm columns.
    reference_arm, treated_arm : str
        The arm levels compared (hazard ratios are treated against reference).
    levels : tuple of str
        The modifier's levels, reference first.
    nested : bool
        Whether the modifier is defined only in the treated arm (missing in every reference-arm row) and so
        enters nested in the arm, without a main effect.
    model : str
        ``"cox"`` (model-based variance), ``"cox_cluster_robust"`` or ``"frailty_gamma"`` / ``"frailty_gaussian"``.
    cluster : str or None
        The cluster (sandwich) or frailty column.
    strata : dict
        Level -> ``{"coef", "se", "hr", "ci_lower", "ci_upper", "z", "p"}``: the arm's log hazard ratio in that
        stratum, its SE, hazard ratio and normal 95% CI, Wald z and p.
    interaction : dict
        ``{"terms": {TERM: {...}}, "chisq", "df", "p"}``: each interaction term (the difference of log hazard
        ratios from the reference level, as a ratio of hazard ratios ``hr`` with its CI) and the Wald test that
        all are 0.
    fit : dict
        The underlying fit's ``to_dict()`` (all terms, including covariates).
    fit_terms : tuple of str
        The model's terms in order; ``fit_coef`` their log hazard ratios and ``fit_var`` the variance matrix used.
    n, events : int
    """

    modifier: str
    arm: str
    reference_arm: str
    treated_arm: str
    levels: tuple[str, ...]
    nested: bool
    model: str
    cluster: str | None
    strata: dict[str, dict[str, float]]
    interaction: dict[str, Any]
    fit: dict[str, Any] = field(repr=False)
    fit_terms: tuple[str, ...] = ()
    fit_coef: np.ndarray = field(default=None, repr=False, compare=False)
    fit_var: np.ndarray = field(default=None, repr=False, compare=False)
    n: int = 0
    events: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"modifier", "arm", "reference_arm", "treated_arm", "levels", "nested", "model",
        "cluster", "strata", "interaction", "fit", "n", "events"}``."""
        return {"modifier": self.modifier, "arm": self.arm, "reference_arm": self.reference_arm,
                "treated_arm": self.treated_arm, "levels": list(self.levels), "nested": self.nested,
                "model": self.model, "cluster": self.cluster,
                "strata": {k: dict(v) for k, v in self.strata.items()},
                "interaction": {**self.interaction, "terms": {k: dict(v) for k, v in self.interaction["terms"].items()}},
                "fit": self.fit, "n": self.n, "events": self.events}

    def _repr_html_(self) -> str:
        rows = {f"{self.arm} {self.treated_arm} vs {self.reference_arm}, {self.modifier} = {lev}": v
                for lev, v in self.strata.items()}
        foot = (f"Interaction ({self.modifier} by {self.arm}{', nested in the arm' if self.nested else ''}): Wald "
                f"chi-square {self.interaction['chisq']:.3f} on {self.interaction['df']} df, p = "
                f"{self.interaction['p']:.3g}. Model: {self.model}"
                + (f" ({self.cluster})" if self.cluster else "") + f"; n = {self.n}, events = {self.events}.")
        return terms_html(f"Hazard ratio of {self.arm} by {self.modifier}", rows, "hr", foot)


def _modifier_levels(df: pd.DataFrame, modifier: str, treated: np.ndarray) -> tuple[list, bool]:
    """Levels of the modifier (reference first) and whether it is nested in the treated arm."""
    s = df[modifier]
    missing = s.isna().to_numpy()
    if (missing & treated).any():
        raise SchemaError(f"column {modifier!r} (effect modifier) has {int((missing & treated).sum())} missing "
                          f"value(s) in the treated arm at {row_list(missing & treated)}")
    nested = bool(missing.any())
    if nested and (~missing & ~treated).any():
        bad = missing & ~treated
        raise SchemaError(f"column {modifier!r} (effect modifier) is missing for some but not all of the reference "
                          f"arm (at {row_list(bad)}): give it for everyone, or for the treated arm only (as a "
                          f"coach-client match, which usual care does not have)")
    levels = level_order(s)
    if len(levels) < 2:
        raise AnalysisError(f"column {modifier!r} (effect modifier) needs at least 2 levels; it has "
                            f"{', '.join(show(v) for v in levels) or 'none'}")
    if len(levels) > MAX_MODIFIER_LEVELS:
        raise AnalysisError(f"column {modifier!r} (effect modifier) has {len(levels)} levels; at most "
                            f"{MAX_MODIFIER_LEVELS} are allowed (group them)")
    return levels, nested


def _design(df: pd.DataFrame, *, arm: str, modifier: str, time: str, event: str, covariates: list[str],
            cluster: str | None, levels: list, nested: bool, treated: np.ndarray, reference_arm: str,
            treated_arm: str) -> tuple[pd.DataFrame, str, list[str], list[str]]:
    """The numeric model columns: (data, arm term, modifier main-effect terms, interaction terms)."""
    a_term = f"{arm}[{treated_arm}]"
    cols: dict[str, Any] = {a_term: treated.astype(np.float64)}
    mains, inters = [], []
    s = df[modifier]
    for lev in levels[1:]:
        at = (s == lev).fillna(False).to_numpy(dtype=bool)
        if not nested:
            mains.append(f"{modifier}[{_label(lev)}]")
            cols[mains[-1]] = at.astype(np.float64)
        inters.append(f"{a_term}:{modifier}[{_label(lev)}]")
        cols[inters[-1]] = (at & treated).astype(np.float64)
    clash = [c for c in cols if c in covariates]
    if clash:
        raise ParameterError(f"covariates must not repeat the arm or the modifier; got {show(clash[0])}")
    keep = list(dict.fromkeys(c for c in (time, event, cluster, *covariates) if c is not None))
    data = pd.concat([df[keep].reset_index(drop=True), pd.DataFrame(cols)], axis=1)
    return data, a_term, mains, inters


def _check_strata(df: pd.DataFrame, event: str, modifier: str, levels: list, treated: np.ndarray,
                  nested: bool) -> None:
    """Every stratum the contrasts rest on has events (else a hazard ratio runs off to 0 or infinity)."""
    e = pd.to_numeric(df[event], errors="coerce").fillna(0).to_numpy() == 1
    s = df[modifier]
    for lev in levels:
        at = (s == lev).fillna(False).to_numpy(dtype=bool)
        groups = [("treated", at & treated)] + ([] if nested else [("reference", at & ~treated)])
        for arm_name, rows in groups:
            if not (e & rows).any():
                raise AnalysisError(f"no events in the {arm_name} arm at {modifier} = {show(lev)}: the hazard ratio "
                                    f"of that stratum cannot be estimated")


def fit_effect_modification(df: pd.DataFrame, modifier: str = "coach_match", *, arm: str = "arm",
                            covariates: Sequence[str] = (), time: str = "time", event: str = "event",
                            cluster: str | None = None, frailty: str | None = None, distribution: str = "gamma",
                            ties: str = "efron") -> EffectModificationResult:
    """Hazard ratio of the arm in each stratum of ``modifier``, from a Cox model with their interaction.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per participant.
    modifier : str, default "coach_match"
        The effect modifier: a column of at most :data:`MAX_MODIFIER_LEVELS` levels (0/1, or categories; the
        first in level order is the reference). Missing in every reference-arm row and nowhere else means it
        is defined only in the treated arm, and enters nested in the arm (see the module docstring).
    arm : str, default "arm"
        Arm column with two levels (``usual_care`` the reference, ``peer`` the treated arm).
    covariates : sequence of str
        Further Cox terms (numeric as they are, categorical as ``COL[LEVEL]``).
    time, event : str
        Days in treatment (> 0) and event (1 = dropout) columns.
    cluster : str, optional
        Cluster-robust (grouped sandwich) variance by this column, as R's ``coxph(..., cluster = )``; a column
        missing exactly in usual care (``coach``) gives usual-care participants clusters of one
        (:func:`own_clusters`).
    frailty : str, optional
        A shared frailty per value of this column instead (:func:`~peerstudy.survival.cox.frailty.fit_frailty_cox`,
        as R's ``+ frailty(coach)``), with the same treatment of missing values. Not together with ``cluster``.
    distribution : {"gamma", "gaussian"}
        Frailty distribution (with ``frailty``).
    ties : {"efron", "breslow"}

    Returns
    -------
    EffectModificationResult

    Raises
    ------
    SchemaError
        A column is missing; the modifier is missing in the treated arm or in part of the reference arm; bad times
        or events (as the Cox fit checks them).
    AnalysisError
        An arm without two levels; a modifier with one level or too many; a stratum without events.
    ParameterError
        Both ``cluster`` and ``frailty``; an unknown ``distribution`` or ``ties``; a covariate repeating the arm
        or modifier.

    Warns
    -----
    FewClustersWarning
        With ``cluster``, fewer than :data:`FEW_CLUSTERS` clusters in the treated arm (the usual-care clusters
        of one do not make the sandwich any better for the contrasts within the peer arm).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(3)
    >>> n = 2000
    >>> peer = rng.random(n) < 0.5
    >>> match = np.where(peer, (rng.random(n) < 0.5).astype(float), np.nan)
    >>> hr = np.where(peer, np.where(match == 1, 0.5, 1.0), 1.0)
    >>> t = rng.exponential(100 / hr)
    >>> df = pd.DataFrame({"arm": np.where(peer, "peer", "usual_care"), "coach_match": match,
    ...                    "time": np.ceil(np.minimum(t, 180)), "event": (t < 180).astype(int)})
    >>> res = fit_effect_modification(df, "coach_match")
    >>> res.nested, round(res.strata["1"]["hr"], 1), round(res.strata["0"]["hr"], 1), res.interaction["p"] < 0.001
    (True, 0.5, 1.0, True)
    """
    require_frame(df)
    covariates = as_list(covariates)
    if cluster is not None and frailty is not None:
        raise ParameterError("give cluster or frailty, not both: the frailty model has its own variance")
    check_choice(ties, TIES, name="ties")
    check_choice(distribution, sorted(DISTRIBUTIONS), name="distribution")
    group = cluster if cluster is not None else frailty
    require_columns(df, [time, event, arm, modifier, group, *covariates])
    if modifier == arm or modifier == group:
        raise ParameterError(f"the modifier {modifier!r} must differ from the arm and cluster columns")
    _, arm_levels = group_codes(df, arm, role="arm")
    if len(arm_levels) != 2:
        raise AnalysisError(f"column {arm!r} (arm) must have exactly 2 levels for effect modification; it has "
                            f"{len(arm_levels)}: {', '.join(arm_levels)}")
    reference_arm, treated_arm = arm_levels
    treated = (df[arm].astype("object").astype(str) == treated_arm).to_numpy()
    levels, nested = _modifier_levels(df, modifier, treated)
    _check_strata(df, event, modifier, levels, treated, nested)
    df = own_clusters(df, group, arm=arm)
    if cluster is not None:
        k = int(pd.Series(df[cluster].to_numpy()[treated]).nunique())
        if k < FEW_CLUSTERS:
            warnings.warn(f"the cluster-robust variance rests on {k} clusters of {cluster!r} in the {treated_arm} arm "
                          f"(fewer than {FEW_CLUSTERS}): its tests can reject too often; compare with the frailty "
                          f"model (frailty={cluster!r}) or the model-based variance", FewClustersWarning, stacklevel=2)
    data, a_term, mains, inters = _design(df, arm=arm, modifier=modifier, time=time, event=event,
                                          covariates=covariates, cluster=group, levels=levels, nested=nested,
                                          treated=treated, reference_arm=reference_arm, treated_arm=treated_arm)
    terms = [a_term, *mains, *inters, *covariates]
    if frailty is not None:
        res = fit_frailty_cox(data, covariates=terms, frailty=frailty, distribution=distribution, time=time,
                              event=event, ties=ties)
        names, coef, var, model = list(res.terms), np.array([t["coef"] for t in res.terms.values()]), res.var, \
            f"frailty_{distribution}"
        n, events = res.n, res.events
    else:
        res = fit_cox(data, time=time, event=event, covariates=terms, cluster=cluster, ties=ties)
        names, coef, var = list(res.terms), np.asarray(res.coef), np.asarray(res.var)
        model = "cox_cluster_robust" if cluster is not None else "cox"
        n, events = res.n, res.events
    ia = names.index(a_term)
    idx = [names.index(t) for t in inters]
    strata = {_label(levels[0]): _stratum(coef[ia], var[ia, ia])}
    for lev, j in zip(levels[1:], idx):
        strata[_label(lev)] = _stratum(coef[ia] + coef[j], var[ia, ia] + var[j, j] + 2 * var[ia, j])
    b = coef[idx]
    V = var[np.ix_(idx, idx)]
    chisq = float(b @ np.linalg.solve(V, b))
    interaction = {"terms": {t: _stratum(coef[j], var[j, j]) for t, j in zip(inters, idx)}, "chisq": chisq,
                   "df": len(idx), "p": float(stats.chi2.sf(chisq, len(idx)))}
    return EffectModificationResult(modifier=modifier, arm=arm, reference_arm=str(reference_arm),
                                    treated_arm=str(treated_arm), levels=tuple(_label(v) for v in levels), nested=nested,
                                    model=model, cluster=group, strata=strata, interaction=interaction,
                                    fit=res.to_dict(), fit_terms=tuple(names), fit_coef=coef, fit_var=var, n=int(n),
                                    events=int(events))
