# Reference values for peerstudy.evidence.meta (tests/test_evidence_meta.py): metafor's rma, confint, predict,
# leave1out and regtest on two data sets.
#
# Needs R >= 4.1 with the packages metafor (and metadat, which it depends on) and jsonlite (Debian: r-cran-metafor,
# r-cran-jsonlite).
# Run from anywhere (it finds its inputs beside itself):
#     Rscript --vanilla tests/reference/metafor.R
# Inputs: the evidence table shipped with the package (src/peerstudy/evidence/peer_trials.csv) and metafor's own
# dat.bcg (13 trials of the BCG vaccine against tuberculosis, Colditz et al. 1994, JAMA 271:698-702), a public
# example set the package was not built on; it is written beside this script as metafor_bcg.csv so that the
# Python tests read the same numbers. Writes metafor.json (jsonlite digits = NA: 15 significant digits).
#
# Effects: the evidence table as log odds ratios of the unfavourable outcome (an overdose; not being retained;
# not being referred: the complement of the events when outcome_direction is higher_is_better), computed here from
# the counts with escalc("OR"); dat.bcg as log risk ratios, escalc("RR"). REML is iterated to a change in tau2
# below 1e-12 (metafor's default 1e-5 leaves differences of about 1e-6 in tau2), so that both sides give the
# converged estimate. Subgroups of the evidence table by design and by setting are separate rma fits per level (a
# level of one study is that study, tau2 = 0) and a fixed-effect test of their estimates; study_id records which
# rows the outputs were made from, so that a test can tell a stale metafor.json from a changed table.
suppressPackageStartupMessages({library(metafor); library(jsonlite)})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
trials <- read.csv(file.path(here, "..", "..", "src", "peerstudy", "evidence", "peer_trials.csv"))
higher <- trials$outcome_direction == "higher_is_better"
bad_p <- ifelse(higher, trials$n_peer - trials$events_peer, trials$events_peer)
bad_c <- ifelse(higher, trials$n_control - trials$events_control, trials$events_control)
es_trials <- escalc("OR", ai = bad_p, n1i = trials$n_peer, ci = bad_c, n2i = trials$n_control)

dat.bcg <- metadat::dat.bcg  # metafor attaches metadat, where its example sets live
write.csv(dat.bcg, file.path(here, "metafor_bcg.csv"), row.names = FALSE)
es_bcg <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)

ctrl <- list(threshold = 1e-12, maxiter = 1000)

fit_all <- function(yi, vi) {
  out <- list()
  for (method in c("FE", "DL", "REML")) {
    for (test in c("z", "knha")) {
      r <- rma(yi, vi, method = method, test = test, control = ctrl)
      p <- predict(r)
      one <- list(b = r$b[1], se = r$se, zval = r$zval, pval = r$pval, ci_lb = r$ci.lb, ci_ub = r$ci.ub,
                  tau2 = r$tau2, QE = r$QE, QEp = r$QEp, I2 = r$I2, H2 = r$H2, pi_lb = p$pi.lb, pi_ub = p$pi.ub,
                  weights = unname(weights(r)))
      if (method != "FE") {
        ci <- confint(r, control = list(tol = 1e-13, maxiter = 10000))$random  # uniroot default tol is 1e-4
        one$tau2_ci <- unname(ci["tau^2", c("ci.lb", "ci.ub")])
        one$I2_ci <- unname(ci["I^2(%)", c("ci.lb", "ci.ub")])
      }
      out[[paste(method, test, sep = "_")]] <- one
    }
  }
  l1 <- leave1out(rma(yi, vi, method = "REML", control = ctrl))
  out$leave1out_REML_z <- list(estimate = unname(l1$estimate), se = unname(l1$se), ci_lb = unname(l1$ci.lb),
                               ci_ub = unname(l1$ci.ub), pval = unname(l1$pval), Q = unname(l1$Q),
                               tau2 = unname(l1$tau2), I2 = unname(l1$I2))
  for (spec in list(c("REML", "z"), c("DL", "z"), c("REML", "knha"), c("FE", "z"))) {
    rt <- regtest(rma(yi, vi, method = spec[1], test = spec[2], control = ctrl))
    out[[paste("regtest_rma", spec[1], spec[2], sep = "_")]] <- list(
      zval = rt$zval, pval = rt$pval, dfs = if (is.null(rt$dfs)) NA else rt$dfs,
      slope = unname(rt$fit$b[2]), slope_se = unname(rt$fit$se[2]), est = unname(rt$est))
  }
  rl <- regtest(yi, vi, model = "lm")
  out$regtest_lm <- list(zval = rl$zval, pval = rl$pval, dfs = rl$dfs, slope = unname(coef(rl$fit)[2]),
                         est = unname(rl$est))
  out
}

subgroups <- function(yi, vi, g, method) {
  levels_ <- unique(g)
  fits <- lapply(levels_, function(l) rma(yi[g == l], vi[g == l], method = method, control = ctrl))
  est <- sapply(fits, function(r) r$b[1])
  se <- sapply(fits, function(r) r$se)
  between <- rma(est, sei = se, method = "FE")
  list(levels = levels_, estimate = unname(est), se = unname(se), tau2 = sapply(fits, function(r) r$tau2),
       Q_between = between$QE, p_between = between$QEp)
}

res <- list(
  trials = c(list(yi = as.numeric(es_trials$yi), vi = as.numeric(es_trials$vi), study_id = trials$study_id),
             fit_all(es_trials$yi, es_trials$vi),
             list(subgroup_design_REML = subgroups(es_trials$yi, es_trials$vi, trials$design, "REML"),
                  subgroup_design_DL = subgroups(es_trials$yi, es_trials$vi, trials$design, "DL"),
                  subgroup_setting_REML = subgroups(es_trials$yi, es_trials$vi, trials$setting, "REML"))),
  bcg = c(list(yi = as.numeric(es_bcg$yi), vi = as.numeric(es_bcg$vi)), fit_all(es_bcg$yi, es_bcg$vi),
          list(subgroup_alloc_REML = subgroups(es_bcg$yi, es_bcg$vi, dat.bcg$alloc, "REML"),
               subgroup_alloc_DL = subgroups(es_bcg$yi, es_bcg$vi, dat.bcg$alloc, "DL"))),
  versions = list(R = R.version.string, metafor = as.character(packageVersion("metafor")))
)
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "metafor.json"))
