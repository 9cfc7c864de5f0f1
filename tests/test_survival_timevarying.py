"""Contact logs to start-stop data, time-varying Cox, landmark and the (biased) naive comparison.

R references: tests/reference/observational.R (tmerge + coxph(Surv(tstart, tstop, event))).
Recovery: the lead's simulator (peerstudy.simulation.cohort.simulate_with_contacts) with known truth.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from peerstudy.exceptions import ParameterError, PeerstudyWarning, SchemaError
from peerstudy.data.schema import COVARIATES
from peerstudy.survival.observational.timevarying import (contact_intervals, landmark_analysis, naive_ever_contact,
                                            timevarying_cox, validate_contacts)

REF = Path(__file__).parent / "reference"


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "observational_r.json").read_text())


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(REF / "observational_cohort.csv"), pd.read_csv(REF / "observational_contacts.csv")


def _close(ours, theirs, tol=1e-6):
    ours, theirs = np.asarray(ours, float), np.asarray(list(theirs), float)
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=0)


def test_intervals_match_r_tmerge(data, ref):
    cohort, log = data
    iv = contact_intervals(cohort, log, window_days=14)
    assert len(iv) == ref["timevarying_rows"]
    r = pd.read_csv(REF / "observational_r_exposure.csv").set_index("participant_id")
    length = iv["stop"] - iv["start"]
    g = pd.DataFrame({"pid": iv["participant_id"], "recent": length * iv["sessions_recent"],
                      "any": length * iv["any_recent"], "rows": 1}).groupby("pid").sum()
    assert (g["recent"].to_numpy() == r["recent_days"].to_numpy()).all()
    assert (g["any"].to_numpy() == r["any_days"].to_numpy()).all()
    assert (g["rows"].to_numpy() == r["rows"].to_numpy()).all()
    # one event per dropout, on the last interval; intervals tile (0, time]
    assert iv["event"].sum() == cohort["event"].sum()
    first = iv.groupby("participant_id")["start"].min()
    last = iv.groupby("participant_id")["stop"].max()
    assert (first == 0).all() and (last.to_numpy() == cohort["time"].to_numpy()).all()
    assert (length.groupby(iv["participant_id"]).sum().to_numpy() == cohort["time"].to_numpy()).all()


def test_timevarying_cox_matches_r(data, ref):
    cohort, log = data
    covs = ["arm", "age", "homeless", "stimulant_use"]
    fit = timevarying_cox(cohort, log, exposure="sessions_recent", covariates=covs).cox
    r = ref["cox_timevarying_recent"]
    order = ["sessions_recent", "arm[peer]", "age", "homeless", "stimulant_use"]
    assert list(fit.terms) == order
    rc = r["coef"]
    rs = dict(zip(rc, r["se"]))
    _close(fit.coef, [rc["recent"], rc["armpeer"], rc["age"], rc["homeless"], rc["stimulant_use"]])
    _close(fit.se, [rs["recent"], rs["armpeer"], rs["age"], rs["homeless"], rs["stimulant_use"]])
    eff = timevarying_cox(cohort, log, covariates=covs, cluster="participant_id")
    r = ref["cox_timevarying_any_cluster"]
    rc, rr = r["coef"], dict(zip(r["coef"], r["robust_se"]))
    _close(eff.cox.coef[:2], [rc["any_recent"], rc["armpeer"]])
    _close(eff.cox.robust_se[:2], [rr["any_recent"], rr["armpeer"]])
    assert eff.se == pytest.approx(rr["any_recent"], rel=1e-6)
    st = timevarying_cox(cohort, log, covariates=["arm"], strata="site", ties="breslow").cox
    r = ref["cox_timevarying_any_strata_site_breslow"]
    _close(st.coef, [r["coef"]["any_recent"], r["coef"]["armpeer"]])
    _close(st.se, r["se"])


def test_landmark_and_naive_match_r(data, ref):
    cohort, log = data
    lm = landmark_analysis(cohort, log, landmark_day=30)
    r = ref["landmark_30"]
    assert (lm.n, lm.n_exposed) == (r["n_at_risk"], r["n_exposed"])
    _close(lm.cox.coef, r["coef"].values())
    _close(lm.cox.se, r["se"])
    assert "not the hazard ratio of recent contact" in lm.estimand
    with pytest.warns(PeerstudyWarning, match="immortal time"):
        nv = naive_ever_contact(cohort, log)
    _close(nv.cox.coef, ref["naive_ever"]["coef"].values())
    _close(nv.cox.se, ref["naive_ever"]["se"])
    assert nv.biased and "BIASED" in nv.label and nv.to_dict()["biased"] is True
    assert "Biased by immortal time" in nv._repr_html_()
    json.dumps(lm.to_dict())


def test_contact_log_errors_name_participants(data):
    cohort, log = data
    bad = pd.concat([log, pd.DataFrame({"participant_id": [9001, 9002, 9003, 9004, 9005, 9006, 9007],
                                        "day": [3] * 7, "contact_type": "phone"})])
    with pytest.raises(SchemaError, match=r"7 participant\(s\) not in the cohort: participant_id 9001, 9002, "
                                          r"9003, 9004, 9005 and 2 more"):
        validate_contacts(bad, cohort)
    t1 = int(cohort.loc[0, "time"])
    late = pd.concat([log, pd.DataFrame({"participant_id": [1, 2], "day": [t1 + 1, 0], "contact_type": "phone"})])
    with pytest.raises(SchemaError, match=r"2 session day\(s\) lie outside 1..time .*participant_id 1, 2") as exc:
        contact_intervals(cohort, late)
    assert len(exc.value.problems) == 1
    frac = pd.concat([log, pd.DataFrame({"participant_id": [5], "day": [2.5], "contact_type": "phone"})])
    with pytest.raises(SchemaError, match="must be whole days"):
        landmark_analysis(cohort, frac)
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'day' \(contact log\)"):
        validate_contacts(log.rename(columns={"day": "date"}), cohort)
    with pytest.raises(SchemaError, match=r"missing column\(s\) 'event' \(cohort\)"):
        contact_intervals(cohort.drop(columns="event"), log)
    with pytest.raises(ParameterError, match="window_days must be a whole number of days >= 1; got 0"):
        contact_intervals(cohort, log, window_days=0)
    with pytest.raises(ParameterError, match="landmark_day must be a whole number of days >= 1; got 2.5"):
        landmark_analysis(cohort, log, landmark_day=2.5)
    with pytest.raises(ParameterError, match="exposure must be one of 'any', 'sessions'; got 'ever'"):
        landmark_analysis(cohort, log, exposure="ever")
    assert validate_contacts(log, cohort) is log


# --------------------------------------------------------------------------------------------- recovery
def _scenario(**over):
    from peerstudy.scenario import apply_overrides, preset

    return apply_overrides(preset("observational"), over)


def test_null_contact_effect_naive_is_biased_landmark_and_timevarying_are_not():
    """With no effect of contact, 'ever had a session' still looks strongly protective (immortal time).

    A plain replicate loop: the landmark and time-varying estimates average to the truth (log HR 0)
    within Monte Carlo error; the naive estimate misses it by far more than its SE in every replicate.
    """
    from peerstudy.simulation.cohort import simulate_with_contacts

    scenario = _scenario(**{"contacts.hazard_ratio_recent": 1.0})
    lms, tvs = [], []
    for ss in np.random.SeedSequence(2026).spawn(4):
        cohort, log = simulate_with_contacts(scenario, rng=ss, n=8000)
        peer = cohort[cohort["arm"] == "peer"]   # sessions only happen in the peer arm
        with pytest.warns(PeerstudyWarning):
            nv = naive_ever_contact(peer, log)
        assert nv.log_hr < -10 * nv.se                      # truth is 0
        lm = landmark_analysis(peer, log, landmark_day=14)
        tv = timevarying_cox(peer, log, covariates=[])
        lms.append((lm.log_hr, lm.se))
        tvs.append((tv.log_hr, tv.se))
    for est in (np.array(lms), np.array(tvs)):
        mc_se = np.sqrt(np.mean(est[:, 1] ** 2) / len(est))
        assert abs(est[:, 0].mean()) < 3 * mc_se


def test_timevarying_cox_recovers_recent_contact_hazard_ratio():
    from peerstudy.simulation.cohort import simulate_with_contacts

    cohort, log = simulate_with_contacts("observational", rng=7, n=20000)
    truth = cohort.attrs["truth"]
    # adjust for arm and the hazard's covariates; stratify by site to absorb the site frailty
    covs = ["arm", *[c for c in COVARIATES if c not in ("female", "prior_treatments")]]
    tv = timevarying_cox(cohort, log, covariates=covs, strata="site", window_days=truth["contact"]["window_days"])
    assert abs(tv.log_hr - np.log(truth["contact"]["hazard_ratio_recent"])) < 3 * tv.se
    i = tv.cox.terms.index("arm[peer]")
    assert abs(tv.cox.coef[i] - truth["log_hazard_ratio"]) < 3 * tv.cox.se[i]
