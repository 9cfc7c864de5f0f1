"""Sample size when incarceration and death compete with dropout: cause-specific or subdistribution hazard ratios.

* **Subdistribution** (Fine-Gray) hazard ratio ``sHR`` (Latouche, Porcher & Chevret 2004, Stat Med
  23:3263-74): dropouts needed ``D = (z_{1-alpha/2} + z_{1-beta})^2 / (a (1 - a) log(sHR)^2)`` (Schoenfeld's
  form on the subdistribution scale) and participants ``N = D / psi``, ``psi`` the probability of an
  observed dropout by the end of follow-up, ``a CIF_peer + (1 - a) CIF_uc``, with
  ``CIF_peer = 1 - (1 - CIF_uc)^sHR`` under proportional subdistribution hazards.
* **Cause-specific** hazard ratio: dropouts as Schoenfeld's; participants ``N = D / psi`` with ``psi`` from
  exponential cause-specific hazards, ``P(dropout seen by F) = l / (l + m)(1 - exp(-(l + m) F))`` for a
  dropout hazard ``l`` and a hazard ``m`` of the competing endings and loss to follow-up together (every
  participant followed ``F`` days).

``cif_usual_care`` is the cumulative incidence of dropout in usual care by the end of follow-up (competing
endings and loss to follow-up ending observation first).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from peerstudy.design.power import _check_open_unit, _check_positive, _z, arm_counts
from peerstudy.exceptions import ParameterError

__all__ = ["CompetingSampleSize", "sample_size_competing"]


@dataclass(frozen=True)
class CompetingSampleSize:
    """Dropouts and participants for a cause-specific or subdistribution hazard ratio of dropout."""

    kind: str
    hazard_ratio: float
    alpha: float
    power: float
    allocation: float
    events: int
    events_exact: float
    subjects: int
    subjects_exact: float
    subjects_peer: int
    subjects_usual_care: int
    event_probability: float
    cif_usual_care: float
    cif_peer: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def sample_size_competing(
    hazard_ratio: float,
    *,
    kind: Literal["subdistribution", "cause_specific"] = "subdistribution",
    cif_usual_care: float | None = None,
    control_hazard: float | None = None,
    competing_hazard: float = 0.0,
    follow_up: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    allocation: float = 0.5,
) -> CompetingSampleSize:
    """Dropouts and participants to detect ``hazard_ratio`` with competing endings (see the module notes).

    Parameters
    ----------
    hazard_ratio : float
        Subdistribution (``kind="subdistribution"``) or cause-specific hazard ratio of dropout, peer vs usual care.
    kind : {"subdistribution", "cause_specific"}
    cif_usual_care : float
        Subdistribution: usual care's cumulative incidence of dropout by the end of follow-up, in (0, 1).
    control_hazard, competing_hazard, follow_up : float
        Cause-specific: usual care's daily dropout hazard, the daily hazard of the other endings (incarceration,
        death, loss to follow-up) and the days of follow-up.
    alpha, power, allocation : float
        Two-sided level, target power, share allocated to peer support.

    Examples
    --------
    >>> s = sample_size_competing(0.75, cif_usual_care=0.4)
    >>> s.events, s.subjects
    (380, 1057)
    """
    hr = _check_positive("hazard_ratio", hazard_ratio)
    if hr == 1:
        raise ParameterError("hazard_ratio must differ from 1 to size a study; got 1.0")
    a = _check_open_unit("allocation", allocation)
    al = _check_open_unit("alpha", alpha)
    pw = _check_open_unit("power", power)
    d = (_z(1 - al / 2) + _z(pw)) ** 2 / (a * (1 - a) * math.log(hr) ** 2)
    if kind == "subdistribution":
        if cif_usual_care is None:
            raise ParameterError("a subdistribution design needs cif_usual_care")
        f0 = _check_open_unit("cif_usual_care", cif_usual_care)
        f1 = 1 - (1 - f0) ** hr
    elif kind == "cause_specific":
        if control_hazard is None or follow_up is None:
            raise ParameterError("a cause-specific design needs control_hazard and follow_up")
        lam = _check_positive("control_hazard", control_hazard)
        fu = _check_positive("follow_up", follow_up)
        if not (math.isfinite(competing_hazard) and competing_hazard >= 0):
            raise ParameterError(f"competing_hazard must be a finite number >= 0; got {competing_hazard!r}")

        def seen(h):
            total = h + competing_hazard
            return h / total * -math.expm1(-total * fu)

        f0, f1 = seen(lam), seen(hr * lam)
    else:
        raise ParameterError(f"kind must be 'subdistribution' or 'cause_specific'; got {kind!r}")
    psi = a * f1 + (1 - a) * f0
    n_exact = d / psi
    n = math.ceil(n_exact - 1e-9)
    peer, uc = arm_counts(n, a)
    return CompetingSampleSize(kind=kind, hazard_ratio=hr, alpha=al, power=pw, allocation=a,
                               events=math.ceil(d - 1e-9), events_exact=d, subjects=n, subjects_exact=n_exact,
                               subjects_peer=peer, subjects_usual_care=uc, event_probability=psi,
                               cif_usual_care=f0, cif_peer=f1)
