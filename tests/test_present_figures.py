"""Every figure on a small simulated cohort: returns its Axes, labels its axes, keeps its legend off the
data, carries alt text, draws in the theme without touching the caller's rcParams, hides small counts."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.cbook import pts_to_poststep  # noqa: E402

from peerstudy.exceptions import DataError  # noqa: E402
from peerstudy.present import plots  # noqa: E402
from peerstudy.present.plots import _axes  # noqa: E402
from peerstudy.scenario import as_observational, load_scenario  # noqa: E402
from peerstudy.simulation.cohort import simulate_cohort  # noqa: E402
from peerstudy.survival import (cox_zph, cumulative_incidence, fit_cause_specific_cox, fit_cox,  # noqa: E402
                                fit_fine_gray, kaplan_meier)
from peerstudy.survival.observational.weighting import iptw_weights  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src" / "peerstudy"
COVS = ["age", "homeless", "injects", "stimulant_use", "depression"]


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort("outpatient_default", rng=5, n=240)


@pytest.fixture(scope="module")
def weights():
    observational = simulate_cohort(as_observational(load_scenario("observational")), rng=3, n=600)
    return iptw_weights(observational, covariates=COVS)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _design_tables():
    curves = pd.DataFrame([{"hazard_ratio": h, "subjects": m, "power": 1 - np.exp(-m * (1 - h) ** 2 / 150)}
                           for h in (0.7, 0.8, 0.9) for m in range(100, 3100, 200)])
    follow = pd.DataFrame({"follow_up": [30, 90, 180, 365], "events": [631] * 4,
                           "subjects": [5200, 2400, 1500, 1000]})
    deff = pd.DataFrame([{"icc": i, "cluster_size": m, "subjects": 1000 * (1 + (m - 1) * i)}
                         for m in (25, 50) for i in np.linspace(0, 0.1, 11)])
    sim = pd.DataFrame({"design": ["a", "a", "b", "b"], "method": ["logrank", "cox_robust"] * 2,
                        "power": [0.6, 0.7, 0.3, 0.4], "power_mcse": [0.03] * 4, "formula": [0.65, 0.65, 0.66, 0.66]})
    return curves, follow, deff, sim


def _figures(cohort, weights):
    """name -> a function drawing one figure (on a new figure) and returning what the plot function returned."""
    km = kaplan_meier(cohort, group="arm")
    cox = fit_cox(cohort, covariates=("arm", "age", "homeless"))
    models = {"Fine-Gray": fit_fine_gray(cohort, covariates=("arm",)),
              "Cause-specific": fit_cause_specific_cox(cohort, covariates=("arm",))}
    zph = cox_zph(fit_cox(cohort, covariates=("arm", "age")))
    cif = cumulative_incidence(cohort, group="arm")
    truth = cohort.attrs["truth"]["estimands"]
    curves, follow, deff, sim = _design_tables()
    flow = {"received": 260, "excluded": {"bad date": 12, "no arm": 8}, "analysed": 240}
    return {
        "km": lambda: plots.plot_km(km, truth=truth["net_survival"]),
        "forest": lambda: plots.plot_forest(cox, labels={"arm[peer]": "Peer coach"}),
        "forest_models": lambda: plots.plot_forest(models),
        "schoenfeld": lambda: plots.plot_schoenfeld(zph, "arm", coef=0.05),
        "cif": lambda: plots.plot_cif(cif, truth=truth["cif"]),
        "enrolment": lambda: plots.plot_enrolment(cohort),
        "power": lambda: plots.plot_power_curves(curves, mark=900),
        "events": lambda: plots.plot_events_participants(follow, mark=180),
        "design_effect": lambda: plots.plot_design_effect(deff, baseline=1000),
        "simulation": lambda: plots.plot_simulation_vs_formula(sim),
        "flow": lambda: plots.plot_flow(flow, arms={"usual_care": 118, "peer": 122}),
        "overlap": lambda: plots.plot_overlap(weights),
        "love": lambda: plots.plot_love(weights),
    }


NAMES = ["km", "forest", "forest_models", "schoenfeld", "cif", "enrolment", "power", "events", "design_effect",
         "simulation", "flow", "overlap", "love"]


@pytest.fixture(scope="module")
def figures(cohort, weights):
    return _figures(cohort, weights)


def _data_points(ax):
    """Display coordinates of what an Axes draws as data: line vertices (steps expanded), bands, markers, bars."""
    pts = []
    for line in ax.lines:
        x, y = (np.asarray(v, float) for v in line.get_data())
        if x.size == 0 or line.get_transform().contains_branch_seperately(ax.transData) != (True, True):
            continue  # empty proxies, and axhline/axvline, which span the Axes by design
        if line.get_drawstyle().startswith("steps"):
            x, y = pts_to_poststep(x, y)
        if x.size > 1 and line.get_linestyle() not in ("None", "none", ""):
            t = np.linspace(0, 1, 12)[:, None]
            x = (x[:-1] + t * np.diff(x)).ravel()
            y = (y[:-1] + t * np.diff(y)).ravel()
        pts.append(line.get_transform().transform(np.column_stack([x, y])))
    for coll in ax.collections:
        offsets = coll.get_offsets()
        if len(offsets) and coll.get_offset_transform() is not None and len(coll.get_paths()) <= 1:
            pts.append(coll.get_offset_transform().transform(offsets))
        else:
            for path in coll.get_paths():
                pts.append(coll.get_transform().transform(path.vertices))
    for patch in ax.patches:
        if patch.get_visible() and getattr(patch, "get_height", lambda: 0)() > 0:
            box = patch.get_window_extent()
            pts.append(np.array([[box.x0, box.y0], [box.x1, box.y1], [box.x0, box.y1], [box.x1, box.y0],
                                 [(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2]]))
    return np.vstack(pts) if pts else np.empty((0, 2))


@pytest.mark.parametrize("name", NAMES)
def test_each_figure_returns_its_axes_with_labels_alt_text_and_a_clear_legend(figures, name):
    ax = figures[name]()
    assert isinstance(ax, Axes)
    fig = ax.figure
    fig.canvas.draw()
    if name != "flow":  # the flow chart is boxes and arrows, with no axes
        assert ax.get_xlabel().strip(), f"{name}: no x label"
        assert ax.get_ylabel().strip(), f"{name}: no y label"
    text = plots.alt_text(fig)
    assert text and text == fig.get_label() and text.endswith(".") and len(text) > 40, text
    legend = ax.get_legend()
    if legend is None:
        return
    box = legend.get_window_extent()
    inside = box.overlaps(ax.get_window_extent())
    if inside:  # a legend inside the Axes must not cover a data point
        pts = _data_points(ax)
        covered = ((pts[:, 0] > box.x0) & (pts[:, 0] < box.x1) & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1))
        assert not covered.any(), f"{name}: the legend covers {int(covered.sum())} data point(s)"
    # seaborn's empty legend carriers do not stay on the Axes
    assert all(len(line.get_xdata()) for line in ax.lines)


def test_figures_drawn_on_given_axes_share_one_figure_alt_text(weights):
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    assert plots.plot_overlap(weights, ax=left, labels=("usual care", "peer coach")) is left
    assert plots.plot_love(weights, ax=right) is right
    text = plots.alt_text(fig)
    assert text.startswith("Mirrored densities") and "Love plot" in text and "usual care" in text
    assert plots.alt_text(left) == text
    plots.plot_love(weights, ax=right, threshold=0.2)  # drawing again replaces that Axes' sentence
    assert plots.alt_text(fig).count("Love plot") == 1 and "0.2" in plots.alt_text(fig)


def test_overlap_is_mirrored_with_tick_labels_that_are_never_negative(weights):
    for suppress in (False, True):
        ax = plots.plot_overlap(weights, suppress=suppress)
        ax.figure.canvas.draw()
        low, high = ax.get_ylim()
        assert low < 0 < high  # control above the axis, treated below
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels and all(t and not t.startswith(("-", "\N{MINUS SIGN}")) for t in labels), labels
        assert all(float(t) >= 0 for t in labels)
        assert "above" in ax.get_ylabel() and "below" in ax.get_ylabel()
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["control", "peer"]
        bars = [p for p in ax.patches if p.get_height() != 0]
        assert (len(bars) > 0) is (not suppress)
        if suppress:  # filled smooth densities
            kde = [np.concatenate([p.vertices[:, 1] for p in c.get_paths()]) for c in ax.collections
                   if c.get_paths() and len(c.get_paths()[0].vertices) > 4]
        else:
            kde = [line.get_ydata() for line in ax.lines if len(line.get_xdata()) > 2]
        assert len(kde) == 2 and kde[0].min() >= 0 and kde[1].max() <= 0 and kde[0].max() > 0 > kde[1].min()
    # each group's histogram has area 1, whatever its size; the treated one hangs below the axis
    ax = plots.plot_overlap(weights, bins=20)
    heights = np.array([p.get_height() for p in ax.patches]).reshape(2, 20)
    assert (heights[0] >= 0).all() and (heights[1] <= 0).all()
    assert np.abs(heights).sum(axis=1) / 20 == pytest.approx([1.0, 1.0])


def test_importing_the_figures_leaves_rcparams_and_seaborn_alone():
    code = ("import matplotlib, sys\n"
            "before = {k: repr(v) for k, v in matplotlib.rcParams.items()}\n"
            "import peerstudy, peerstudy.present.plots\n"
            "from peerstudy import plots\n"
            "after = {k: repr(v) for k, v in matplotlib.rcParams.items()}\n"
            "assert before == after, [k for k in before if before[k] != after[k]]\n"
            "assert 'seaborn' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_drawing_uses_the_theme_and_gives_the_callers_rcparams_back(cohort):
    before = {k: repr(v) for k, v in matplotlib.rcParams.items()}
    ax = plots.plot_km(kaplan_meier(cohort, group="arm"))
    assert not ax.spines["top"].get_visible() and not ax.spines["right"].get_visible()  # the theme's
    assert ax.get_legend().get_frame_on() is False
    with pytest.raises(DataError):
        plots.plot_enrolment(cohort.drop(columns="arm"))
    assert {k: repr(v) for k, v in matplotlib.rcParams.items()} == before
    with plots.theme():
        assert matplotlib.rcParams["axes.spines.top"] is False
    assert {k: repr(v) for k, v in matplotlib.rcParams.items()} == before


def test_no_plt_show_in_the_package():
    calls = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "show"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in {"plt", "pyplot"}):
                calls.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert calls == []


# ----- privacy: what a figure of real data shows and says ----------------------------------------------


def test_love_plot_rows_run_from_the_largest_imbalance_with_open_and_filled_markers(weights):
    ax = plots.plot_love(weights)
    table = weights.balance.assign(before=weights.balance["smd_before"].abs())
    from peerstudy.present.wording import label

    expected = [label(t) for t in table.sort_values("before", ascending=False)["term"]]  # labels, not codes
    assert [t.get_text() for t in ax.get_yticklabels()] == expected
    before, after = (line for line in ax.lines if len(line.get_xdata()) == len(table))
    assert before.get_markerfacecolor() in ("white", (1.0, 1.0, 1.0, 1.0))
    assert after.get_markerfacecolor() != before.get_markerfacecolor()
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["unweighted", "weighted"]


def test_enrolment_hides_small_cells_with_their_complements(cohort):
    df = cohort.copy()
    # one month of the peer arm has 5 people: alone it would be recovered from the arm's total
    months = pd.to_datetime(df["enrolled_on"]).dt.to_period("M")
    first = months.min()
    peer_first = df.index[(months == first) & (df["arm"] == "peer")]
    df = df.drop(peer_first[5:])
    counts = pd.crosstab(pd.to_datetime(df["enrolled_on"]).dt.to_period("M"), df["arm"].astype(str))
    assert counts.loc[first, "peer"] == 5
    ax = plots.plot_enrolment(df, suppress=True)
    heights = [p.get_height() for p in ax.patches]
    assert not any(1 <= h <= 10 for h in heights)
    shown = sum(heights)
    assert shown < len(df) - 5, "a complementary cell is hidden too"
    assert "<11" in [t.get_text() for t in ax.texts]
    assert "not drawn" in ax.get_title() and "not drawn" in plots.alt_text(ax)
    assert sum(p.get_height() for p in plots.plot_enrolment(df).patches) == len(df)


def test_alt_text_of_real_data_figures_holds_no_small_count(cohort):
    small = cohort.iloc[:30]
    km = plots.plot_km(kaplan_meier(small, group="arm"), suppress=True, at_risk_days=[0, 60, 120, 170])
    assert not any(ch.isdigit() for ch in plots.alt_text(km).replace("95%", ""))
    flow = plots.plot_flow({"received": 40, "excluded": {"no arm": 3}, "analysed": 37},
                           arms={"usual_care": 30, "peer": 7}, suppress=True)
    text = plots.alt_text(flow)
    # the 30 is hidden only to protect the 7 (beside the 37 analysed): "suppressed", not "<11"; and with 3 excluded,
    # the 40 received beside the 37 analysed would give the 3 back
    assert "no arm <11" in text and "peer coach <11" in text and "usual care suppressed" in text
    assert "suppressed received" in text
    assert not re.search(r"\b(3|7|30|40)\b", text)  # the 37 analysed is published (table 1 shows it)
    enrol = plots.plot_enrolment(small, suppress=True)
    words = re.sub(r"\b20\d\d\b", "", plots.alt_text(enrol)).replace("1-10 people", "")
    assert "not drawn" in words and not any(ch.isdigit() for ch in words)


# ----- alt text reaches the notebook output, where a report's HTML can use it ---------------------------


@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.core.pylabtools import select_figure_formats

    sh = InteractiveShell.instance()
    select_figure_formats(sh, {"png"})
    yield sh
    InteractiveShell.clear_instance()


def test_a_described_figure_is_displayed_with_alt_metadata(shell, cohort):
    ax = plots.plot_km(kaplan_meier(cohort, group="arm"))
    data, md = shell.display_formatter.format(ax.figure)
    assert "image/png" in data and md["image/png"] == {"alt": plots.alt_text(ax.figure)}
    plain, _ = plt.subplots()
    data, md = shell.display_formatter.format(plain)
    assert "image/png" in data and "image/png" not in md  # a figure drawn elsewhere is displayed as before
    # the formats chosen again (e.g. %config InlineBackend.figure_formats): the next figure restores the metadata
    from IPython.core.pylabtools import select_figure_formats

    select_figure_formats(shell, {"png"})
    ax = plots.plot_cif(cumulative_incidence(cohort, group="arm"))
    assert shell.display_formatter.format(ax.figure)[1]["image/png"]["alt"].startswith("Cumulative incidence")


def test_alt_text_survives_a_notebook_run_and_an_html_export(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import matplotlib.pyplot as plt\n"
        "from peerstudy import plots\n"
        "from peerstudy.simulation.cohort import simulate_cohort\n"
        "ax = plots.plot_enrolment(simulate_cohort('outpatient_default', rng=2, n=120))\n"
        "plt.show()")]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    images = [o for o in nb.cells[0].outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1
    alt = images[0]["metadata"]["image/png"]["alt"]
    assert alt.startswith("Stacked bars of the people enrolled each month")
    body, _ = HTMLExporter(template_name="classic").from_notebook_node(nb)
    assert f'alt="{alt}"' in body
