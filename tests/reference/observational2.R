# Reference values (standardised risks, IPTW and AIPTW with censoring weights), from R's riskRegression::ate.
# Run from anywhere:  Rscript --vanilla tests/reference/observational2.R  (or: make r-reference)
# Input:  tests/reference/observational_cohort.csv (made by tests/reference/make_observational_data.py)
# Output: tests/reference/observational2.json, compared in tests/test_survival_observational_gformula.py
#         and tests/test_survival_observational_aipw.py.
# Models: outcome  coxph(Surv(time, event) ~ arm + age + homeless + stimulant_use + depression)
#         treatment glm(arm ~ age + homeless + stimulant_use + depression, binomial)
#         censoring coxph(Surv(time, event == 0) ~ arm + age + homeless)
# for ties "efron" and "breslow", and on untied times ("untied", time + row / 10000, Breslow); SEs from the influence functions, with the nuisance models estimated
# (known.nuisance = FALSE) and treated as known (known.nuisance = TRUE).
suppressPackageStartupMessages({library(survival); library(riskRegression); library(jsonlite)})
args <- commandArgs(trailingOnly = FALSE)
dir <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
d <- read.csv(file.path(dir, "observational_cohort.csv"), stringsAsFactors = FALSE)
d$arm <- factor(d$arm, levels = c("usual_care", "peer"))
times <- c(30, 90, 180)

one <- function(ties, known, d) {
  ev <- coxph(Surv(time, event) ~ arm + age + homeless + stimulant_use + depression, data = d, ties = ties,
              x = TRUE, y = TRUE)
  ce <- coxph(Surv(time, event == 0) ~ arm + age + homeless, data = d, ties = ties, x = TRUE, y = TRUE)
  tr <- glm(arm ~ age + homeless + stimulant_use + depression, data = d, family = binomial)
  fit <- ate(event = ev, treatment = tr, censor = ce, data = d, times = times, cause = 1,
             estimator = c("GFORMULA", "IPTW", "AIPTW"), se = TRUE, known.nuisance = known, verbose = FALSE)
  mr <- as.data.frame(fit$meanRisk)
  dr <- as.data.frame(fit$diffRisk)
  rr <- as.data.frame(fit$ratioRisk)
  out <- list()
  for (est in c("GFORMULA", "IPTW", "AIPTW")) {
    risk <- list()
    for (lev in levels(d$arm)) {
      s <- mr[mr$estimator == est & mr$treatment == lev, ]
      risk[[lev]] <- setNames(lapply(seq_len(nrow(s)), function(k) list(estimate = s$estimate[k], se = s$se[k])),
                              as.character(s$time))
    }
    s <- dr[dr$estimator == est, ]
    diff <- setNames(lapply(seq_len(nrow(s)), function(k) list(estimate = s$estimate[k], se = s$se[k])),
                     as.character(s$time))
    s <- rr[rr$estimator == est, ]
    ratio <- setNames(lapply(seq_len(nrow(s)), function(k) list(estimate = s$estimate[k], se = s$se[k])),
                      as.character(s$time))
    out[[est]] <- list(risk = risk, difference = diff, ratio = ratio)
  }
  out
}

res <- list(riskRegression = as.character(packageVersion("riskRegression")), times = times,
            contrast = "peer - usual_care")
for (ties in c("efron", "breslow")) {
  res[[ties]] <- list(estimated_nuisance = one(ties, FALSE, d), known_nuisance = one(ties, TRUE, d))
}
# without tied times (time + row / 10000): riskRegression's influence function of the Cox coefficients counts
# one event per distinct event time, which equals R's dfbeta only when no two events share a time
du <- d
du$time <- du$time + seq_len(nrow(du)) / 10000
res$untied <- list(estimated_nuisance = one("breslow", FALSE, du), known_nuisance = one("breslow", TRUE, du))
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(dir, "observational2.json"))
