"""Real public datasets of treatment retention and relapse, with their provenance.

Each loader returns a new :class:`pandas.DataFrame` exactly as distributed (no recoding), so
published tables can be replicated; each docstring gives the source, licence, columns and the
published results that the tests replicate.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["load_uis", "load_pharmaco_smoking", "load_rossi", "DATASETS"]


def _read(name: str) -> pd.DataFrame:
    with resources.files("peerstudy").joinpath("data", name).open("rb") as fh:
        return pd.read_csv(fh)


def load_uis() -> pd.DataFrame:
    """UMARU Impact Study (UIS): time to return to drug use after residential drug treatment.

    Source: Hosmer, Lemeshow & May (2008), *Applied Survival Analysis*, 2nd ed., Wiley; the data as
    distributed in the R package quantreg (``data(uis)``, GPL >= 2), exported unchanged: 575 complete
    cases, 464 events.

    Columns: ``ID``; ``AGE`` (years); ``BECK`` (Beck depression score); ``HC`` (heroin/cocaine use in
    the 3 months before admission, 1-4); ``IV`` (IV drug use: 1 never, 2 previous, 3 recent); ``NDT``
    (number of prior drug treatments); ``RACE`` (0 white, 1 other); ``TREAT`` (0 short, 1 long
    planned residential programme); ``SITE`` (0 A, 1 B); ``LEN.T`` (days in treatment = retention);
    ``TIME`` (days to return to drug use); ``CENSOR`` (1 returned to drug use, 0 censored); ``ND1``,
    ``ND2`` (fractional polynomial terms of NDT); ``FRAC`` (``LEN.T`` / planned length); ``IV3``
    (``IV == 3``); ``Y``; ``LNDT``.

    Published: Kaplan-Meier free of drug use (``TIME``, ``CENSOR``) at 30/90/180/365 days: short
    programme 0.903/0.689/0.415/0.215, long 0.934/0.752/0.549/0.297; ``TREAT`` alone (Efron) coef
    -0.2374, se 0.0931.

    Examples
    --------
    >>> df = load_uis()
    >>> len(df), int(df["CENSOR"].sum())
    (575, 464)
    """
    return _read("uis.csv")


def load_pharmaco_smoking() -> pd.DataFrame:
    """pharmacoSmoking: time to relapse in a smoking-cessation trial.

    Source: Steinberg et al. (2009), *Annals of Internal Medicine* 150:447-54; as used in Moore
    (2016), *Applied Survival Analysis Using R*, Springer (R package asaur, GPL-2), subset of columns
    as distributed. 125 people, 89 relapses.

    Columns: ``ttr`` (days to relapse, up to 182; some are 0, relapse on day 0, so pass
    ``allow_zero_time=True`` to the estimators); ``relapse`` (1/0); ``grp`` (``C`` combination
    therapy, ``P`` patch only); ``age``; ``employment`` (``ft``, ``pt``, ``other``).

    Examples
    --------
    >>> df = load_pharmaco_smoking()
    >>> len(df), int(df["relapse"].sum())
    (125, 89)
    """
    return _read("pharmacoSmoking.csv")


def load_rossi() -> pd.DataFrame:
    """Rossi et al. (1980) recidivism data: weeks to re-arrest after release, financial aid vs none.

    Source: Rossi, Berk & Lenihan (1980), *Money, Work and Crime*, Academic Press; as in Fox &
    Weisberg, *An R Companion to Applied Regression* (R package carData, ``Rossi``), loaded from
    ``lifelines.datasets.load_rossi`` (432 released prisoners, 114 re-arrests within 52 weeks).

    Columns: ``week`` (weeks to first arrest or 52), ``arrest`` (1/0), ``fin`` (1 = financial aid),
    ``age``, ``race``, ``wexp`` (work experience), ``mar`` (married), ``paro`` (released on parole),
    ``prio`` (prior convictions). Published Cox model (Efron): fin -0.379 (HR 0.684), age -0.057,
    prio 0.091.

    Examples
    --------
    >>> df = load_rossi()
    >>> len(df), int(df["arrest"].sum())
    (432, 114)
    """
    from lifelines.datasets import load_rossi as _load

    return _load().copy()


#: name -> loader
DATASETS = {"uis": load_uis, "pharmaco_smoking": load_pharmaco_smoking, "rossi": load_rossi}
