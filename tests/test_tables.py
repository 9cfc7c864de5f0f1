"""Report tables and summary sentences: numbers come from the results, small counts are hidden."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from peerstudy.present import tables
from peerstudy.exceptions import DataError
from peerstudy.simulation.cohort import simulate_cohort
from peerstudy.survival import kaplan_meier
from peerstudy.survival.rmst import rmst


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort("outpatient_default", rng=4, n=300)


def test_retention_difference_uses_greenwood_se_of_each_arm(cohort):
    km = kaplan_meier(cohort, group="arm", horizons=(90,))
    r = tables.retention_difference(km, 90)
    at = km.survival_at([90]).set_index("group")["survival"]
    assert r["usual_care"] == pytest.approx(at["usual_care"]) and r["peer"] == pytest.approx(at["peer"])
    se = []
    for arm in ("usual_care", "peer"):
        c = km.curves[arm]
        i = np.searchsorted(c.time, 90, side="right") - 1
        se.append(c.survival[i] * c.std_err[i])
    half = 1.959963984540054 * np.hypot(*se)
    assert r["ci_upper"] - r["difference"] == pytest.approx(half)
    with pytest.raises(DataError, match="needs arms 'usual_care' and 'peer'"):
        tables.retention_difference(kaplan_meier(cohort), 90)


def test_retention_summary_sentence(cohort):
    km = kaplan_meier(cohort, group="arm", horizons=(90,))
    rm = rmst(cohort, tau=180)
    from peerstudy.present.wording import Design

    line = tables.retention_summary(km, rm, day=90, design=Design("individual"))
    r = tables.retention_difference(km, 90)
    assert line.startswith(f"At 90 days, {100 * r['peer']:.0f}% of people with a peer coach")
    assert "over the first 180 days peer support" in line and "-0 " not in line and "-0)" not in line
    plain = tables.retention_summary(km, rm, day=90)  # no design given: nothing causal is claimed
    assert "peer support" not in plain and "associated with" in plain and "not adjusted" in plain
    assert tables.retention_summary(km, day=400).startswith("Retention at 400 days cannot be estimated")


def test_cohort_table_hides_a_small_count_and_its_complement():
    df = pd.DataFrame({"arm": ["usual_care"] * 50 + ["peer"] * 50,
                       "homeless": [1] * 5 + [0] * 45 + [1] * 20 + [0] * 30,
                       "female": [1] * 48 + [0] * 2 + [1] * 25 + [0] * 25})
    t = tables.cohort_table(df, suppress=True)
    # the peer arm's 20 is hidden only to protect the 5: labelled "suppressed", not "<11"
    assert t.loc["Homeless or unstably housed, n (%)"].tolist() == ["<11", "suppressed"]
    # 48 of 50 reveals the 2 who are not: hidden too, as a complement
    assert t.loc["Female, n (%)"].tolist() == ["suppressed", "suppressed"]
    open_ = tables.cohort_table(df, suppress=False)
    assert open_.loc["Homeless or unstably housed, n (%)"].tolist() == ["5 (10%)", "20 (40%)"]


def test_endings_table_totals_and_suppression(cohort):
    t = tables.endings_table(cohort, suppress=False)
    counts = cohort["outcome"].astype(str).value_counts()
    assert t.loc["dropout", "all"] == f"{counts['dropout']:,}"
    assert t.loc["total", "all"] == f"{len(cohort):,}"
    hidden = tables.endings_table(cohort, suppress=True)
    for row in hidden.index:
        for v in hidden.loc[row]:
            head = v.split()[0].replace(",", "")
            assert v == "<11" or not (1 <= int(head) <= 10)


def test_result_tables_hide_small_counts_for_real_data():
    from peerstudy.simulation.cohort import simulate_cohort
    from peerstudy.survival import analyse_cohort, cumulative_incidence
    from peerstudy.present.tables import (cif_record, cif_table, competing_summary, km_table, logrank_table,
                                  reportable_endings)

    df = simulate_cohort("outpatient_default", rng=1, n=300)
    res = analyse_cohort(df, horizons=(30, 90, 180))
    shown = km_table(res.km)
    assert shown.loc["peer", "people"] == "150" and "<11" not in shown.to_string()
    small = simulate_cohort("outpatient_default", rng=1, n=30)
    res_small = analyse_cohort(small, horizons=(30, 90, 180))
    hidden = km_table(res_small.km, suppress=True)
    events = {g: d["events"] for g, d in res_small.km.to_dict().items()}
    assert any(1 <= v <= 10 for v in events.values())
    assert (hidden["dropouts"] == "<11").all()  # one small, the other hidden as its complement
    lr = logrank_table(res_small.logrank, suppress=True)
    assert (lr["observed dropouts"] == "<11").all() and set(lr.attrs["test"]) == {"statistic", "df", "p"}

    cif = cumulative_incidence(df, ending="outcome", group="arm", horizons=(30, 90, 180))
    counts = df.groupby(["outcome", "arm"], observed=True).size()
    table = cif_table(cif, df, suppress=True)
    for (ending, arm), k in counts.items():
        if ending in ("incarcerated", "died") and 1 <= k <= 10:
            assert table.loc[(arm, ending), "180 d"] == "<11 events"
            assert cif_record(cif, df, suppress=True)["cif"][ending][arm]["180"] == "<11 events"
    assert cif_table(cif, df).loc[("peer", "dropout"), "180 d"] == round(cif.to_dict()["cif"]["dropout"]["peer"]["180"], 3)
    rare = [e for e in ("incarcerated", "died") if ((counts.get(e, pd.Series(dtype=int)) >= 1) &
                                                   (counts.get(e, pd.Series(dtype=int)) <= 10)).any()]
    assert not set(rare) & set(reportable_endings(df, suppress=True))
    text = competing_summary(cif, day=180, df=df, suppress=True)
    for e in rare:
        assert {"incarcerated": "incarceration", "died": "death"}[e] not in text
    assert "incarceration" in competing_summary(cif, day=180)


def test_a_missing_share_is_never_printed_as_nan_percent():
    from peerstudy.present.tables import _pct

    assert _pct(float("nan")) == "not estimable" and _pct(None) == "not estimable" and _pct(0.456) == "46%"
