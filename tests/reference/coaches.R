# Reference values for peerstudy.survival.cox.modification: Cox models of the arm with an arm-by-modifier
# interaction, fitted by R's coxph (package survival; Debian r-cran-survival, r-cran-jsonlite).
#
# Regenerate from the repository root with
#     .venv/bin/python tests/reference/make_coaches_cohort.py    # the simulated cohort (only if changed)
#     Rscript --vanilla tests/reference/coaches.R
# It reads coaches_cohort.csv beside this script and writes coaches.json beside it (jsonlite, digits = NA).
#
# The coach-client match is defined only in the peer arm (usual care has no coach), so it enters nested in the
# arm: Surv(time, event) ~ peer + peer:match with match set to 0 in usual care. Usual-care participants, who have
# no coach, are clusters of their own ("(own cluster) ROW", ROW counted from 0) for cluster = and frailty().
# Per fit: coefficients and variance matrix; the arm's log hazard ratio in each stratum of the modifier,
# b_arm + b_int, with variance V[arm, arm] + V[int, int] + 2 V[arm, int]; the Wald test of no interaction.
suppressPackageStartupMessages({library(survival); library(jsonlite)})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))

d <- read.csv(file.path(here, "coaches_cohort.csv"), na.strings = "")
d$peer <- as.numeric(d$arm == "peer")
d$match <- ifelse(is.na(d$coach_match), 0, d$coach_match)
d$coach2 <- ifelse(is.na(d$coach), paste0("(own cluster) ", seq_len(nrow(d)) - 1), d$coach)
d$arm <- factor(d$arm, levels = c("usual_care", "peer"))

strata_out <- function(fit, arm_term, int_terms) {
  b <- fit$coefficients
  V <- fit$var  # robust when cluster = is given; for a frailty fit, the covariates (R's se(coef))
  names(b) <- names(fit$coefficients)
  i <- which(names(b) == arm_term)
  ints <- match(int_terms, names(b))
  strata <- list(list(coef = unname(b[i]), se = sqrt(V[i, i])))
  for (j in ints) {
    strata[[length(strata) + 1]] <- list(coef = unname(b[i] + b[j]), se = sqrt(V[i, i] + V[j, j] + 2 * V[i, j]))
  }
  bi <- b[ints]
  Vi <- V[ints, ints, drop = FALSE]
  chisq <- as.numeric(t(bi) %*% solve(Vi, bi))
  list(terms = names(b), coef = unname(b), var = unname(V), strata = strata,
       interaction = list(coef = unname(bi), se = sqrt(diag(Vi)), chisq = chisq, df = length(ints),
                          p = pchisq(chisq, length(ints), lower.tail = FALSE)))
}


out <- list()
f <- coxph(Surv(time, event) ~ peer + peer:match, data = d, ties = "efron")
out$naive <- strata_out(f, "peer", "peer:match")
f <- coxph(Surv(time, event) ~ peer + peer:match, data = d, ties = "efron", cluster = coach2)
out$robust <- strata_out(f, "peer", "peer:match")
f <- coxph(Surv(time, event) ~ peer + peer:match + frailty(coach2), data = d, ties = "efron")
o <- strata_out(f, "peer", "peer:match")
h <- f$history[[1]]$history
o$theta <- h[nrow(h), 1]
out$frailty_gamma <- o
f <- coxph(Surv(time, event) ~ peer + peer:match + age + homeless + frailty(coach2), data = d, ties = "efron")
o <- strata_out(f, "peer", "peer:match")
h <- f$history[[1]]$history
o$theta <- h[nrow(h), 1]
out$frailty_gamma_covariates <- o
# a modifier defined in both arms: arm * homeless, with age, site-robust variance
f <- coxph(Surv(time, event) ~ arm * homeless + age, data = d, ties = "efron", cluster = site)
out$homeless_robust <- strata_out(f, "armpeer", "armpeer:homeless")
# the same with Breslow ties and no cluster
f <- coxph(Surv(time, event) ~ arm * homeless, data = d, ties = "breslow")
out$homeless_breslow <- strata_out(f, "armpeer", "armpeer:homeless")
out$survival_version <- as.character(packageVersion("survival"))

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "coaches.json"))
