# Reference values for the cumulative incidence of linkage with its 95% CI (log-log), by arm at days 7, 30 and 90,
# as peerstudy analyse --outcomes writes them (peerstudy.survival.outcomes): R's multi-state survfit (Aalen-Johansen,
# dropout, incarceration and death competing, retained and lost to follow-up censored), conf.type = "log-log".
# Packages: survival, jsonlite (Debian r-cran-survival, r-cran-jsonlite).
#
# The data are the linkage columns of a simulated cohort, made from the repository root with
#     PYTHONPATH=src .venv/bin/python -m peerstudy simulate --scenario outpatient_default \
#         --set outcomes.enabled=true --n 400 --seed 20261207 --out /tmp/lk.csv
# keeping participant_id, arm, linkage_time, linkage_ending (tests/reference/outcomes_linkage.csv). Regenerate with
#     Rscript --vanilla tests/reference/outcomes_linkage.R
# which writes outcomes_linkage.json beside this script (full precision).
suppressPackageStartupMessages({library(survival); library(jsonlite)})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
d <- read.csv(file.path(here, "outcomes_linkage.csv"))
censored <- c("retained", "lost_to_follow_up")
d$state <- factor(ifelse(d$linkage_ending %in% censored, "censor", d$linkage_ending),
                  levels = c("censor", "linked", "dropout", "incarcerated", "died"))
out <- list()
for (a in c("usual_care", "peer")) {
  fit <- survfit(Surv(linkage_time, state) ~ 1, data = d[d$arm == a, ], conf.type = "log-log")
  s <- summary(fit, times = c(7, 30, 90))
  j <- which(s$states == "linked")
  out[[a]] <- list(time = s$time, cif = unname(s$pstate[, j]), se = unname(s$std.err[, j]),
                   lower = unname(s$lower[, j]), upper = unname(s$upper[, j]))
}
out$versions <- list(survival = as.character(packageVersion("survival")),
                     R = paste(R.version$major, R.version$minor, sep = "."))
writeLines(toJSON(out, auto_unbox = FALSE, digits = NA, pretty = TRUE), file.path(here, "outcomes_linkage.json"))
