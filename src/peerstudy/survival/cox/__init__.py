"""Cox-family models: the engine (:mod:`.engine`, numba kernels in :mod:`.kernels`), ``cox.zph``
(:mod:`.zph`), shared frailty (:mod:`.frailty`), Fine-Gray (:mod:`.finegray`) and the Weibull AFT (:mod:`.aft`)."""

from peerstudy.survival.cox.aft import AftResult, fit_weibull_aft
from peerstudy.survival.cox.engine import EVENTS_PER_TERM, CoxResult, fit_cause_specific_cox, fit_cox
from peerstudy.survival.cox.frailty import FrailtyCoxResult, fit_frailty_cox
from peerstudy.survival.cox.finegray import FineGrayResult, finegray_expand, fit_fine_gray
from peerstudy.survival.cox.zph import PH_ALPHA, ZphResult, cox_zph

__all__ = ["CoxResult", "fit_cox", "fit_cause_specific_cox", "EVENTS_PER_TERM", "ZphResult", "cox_zph", "PH_ALPHA",
           "FrailtyCoxResult", "fit_frailty_cox", "FineGrayResult", "fit_fine_gray", "finegray_expand", "AftResult", "fit_weibull_aft"]
