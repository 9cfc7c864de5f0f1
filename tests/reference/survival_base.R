# Reference values for the shared parts of peerstudy.survival: weighted Kaplan-Meier (survfit with case
# weights, whole-number and not) and cause-specific Cox models whose cause depends on which endings are censoring.
#
# Regenerate from the repository root or from tests/reference/ with
#     Rscript --vanilla tests/reference/survival_base.R        (or: make r-reference)
# It reads the simulated cohort survival_models_cohort.csv beside this script (made by
# make_survival_models_cohort.py; columns w = non-integer weights, wi = whole-number weights) and writes
# survival_base.json beside this script (jsonlite, full precision).
suppressPackageStartupMessages({library(survival); library(jsonlite)})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
sim <- read.csv(file.path(here, "survival_models_cohort.csv"))
sim$arm <- factor(sim$arm, levels = c("usual_care", "peer"))

# --- weighted Kaplan-Meier per arm. With non-integer weights survfit switches to the robust
# (infinitesimal jackknife) variance and reports std.err on the survival scale (logse = FALSE);
# with whole-number weights it is Greenwood's on the weighted counts (logse = TRUE).
km_out <- function(wcol, conf_type) {
  fit <- survfit(Surv(time, event) ~ arm, data = sim, weights = sim[[wcol]], conf.type = conf_type)
  g <- rep(sub("^arm=", "", names(fit$strata)), fit$strata)
  out <- lapply(setNames(levels(sim$arm), levels(sim$arm)), function(k) {
    i <- g == k
    list(time = fit$time[i], n_risk = fit$n.risk[i], n_event = fit$n.event[i], surv = fit$surv[i],
         std_err = fit$std.err[i], lower = fit$lower[i], upper = fit$upper[i])
  })
  rm <- summary(fit, rmean = 90)$table
  out$logse <- fit$logse
  out$rmean_90 <- list(usual_care = unname(rm[1, "rmean"]), peer = unname(rm[2, "rmean"]),
                       se_usual_care = unname(rm[1, "se(rmean)"]), se_peer = unname(rm[2, "se(rmean)"]))
  out
}

cox_out <- function(fit) {
  list(coef = as.list(coef(fit)), se = as.list(sqrt(diag(fit$var))), loglik = fit$loglik[2], n = fit$n,
       events = fit$nevent)
}
covs <- "arm + age + homeless + depression"
cs <- function(cause) coxph(as.formula(paste0("Surv(time, outcome == '", cause, "') ~ ", covs)), data = sim)

res <- list(
  weighted_km = list(w_loglog = km_out("w", "log-log"), w_log = km_out("w", "log"),
                     wi_loglog = km_out("wi", "log-log")),
  # lost_to_follow_up as a cause of its own: possible once it is not listed as censoring
  cause_specific_lost = cox_out(cs("lost_to_follow_up")),
  cause_specific_incarcerated = cox_out(cs("incarcerated")),
  versions = list(R = R.version.string, survival = as.character(packageVersion("survival")))
)
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "survival_base.json"))
cat("wrote", file.path(here, "survival_base.json"), "\n")
