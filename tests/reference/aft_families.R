# Reference values for peerstudy.survival.parametric (tests/test_survival_parametric.py): parametric
# accelerated failure time models from R survival::survreg, dist = "weibull", "lognormal" and "loglogistic".
#
# Needs R >= 4.1 with the packages survival and jsonlite (Debian: r-cran-survival, r-cran-jsonlite).
# Run from anywhere (it finds its inputs beside itself):
#     Rscript --vanilla tests/reference/aft_families.R
# Inputs: src/peerstudy/data/uis.csv (the packaged UIS data: TIME, CENSOR ~ TREAT + AGE + BECK + IV3) and
# tests/reference/survival_models_cohort.csv (the simulated cohort of make_survival_models_cohort.py:
# time, event ~ arm + age + female + homeless + depression + prior_treatments, arm a factor with usual_care as
# the reference level). Writes aft_families.json beside this script (jsonlite digits = NA: 15 significant
# digits). The output is deterministic: a second run writes the same bytes.
#
# Each fit is stored as: coef and se (named; "(Intercept)" and the terms as peerstudy names them, "arm[peer]"),
# scale (survreg's sigma), log_scale and log_scale_se (the SE of log(sigma), survreg's own scale parameter),
# loglik (at the estimate, on the time scale) and loglik_null (intercept-only model), aic (AIC(fit): the
# coefficients plus the scale count as parameters), n, events, the iterations survreg took, and vcov (the
# variance matrix of the coefficients and log(scale), one array per row, in the order of vcov_names).
# survreg runs with its defaults (Newton-Raphson to rel.tolerance 1e-9): it converges quadratically, and
# survreg.control(rel.tolerance = 1e-12) changes no stored coefficient or SE by more than 5e-15 relative.
suppressPackageStartupMessages({library(survival); library(jsonlite)})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
root <- normalizePath(file.path(here, "..", ".."))

uis <- read.csv(file.path(root, "src/peerstudy/data/uis.csv"))
sim <- read.csv(file.path(here, "survival_models_cohort.csv"))
sim$arm <- factor(sim$arm, levels = c("usual_care", "peer"))

aft_out <- function(fit) {
  v <- vcov(fit)
  b <- coef(fit)
  nm <- sub("^armpeer$", "arm[peer]", names(b))
  coef <- setNames(as.list(unname(b)), nm)
  se <- setNames(as.list(unname(sqrt(diag(v))[names(b)])), nm)
  list(dist = fit$dist, coef = coef, se = se, scale = fit$scale, log_scale = log(fit$scale),
       log_scale_se = sqrt(v["Log(scale)", "Log(scale)"]), loglik = fit$loglik[2], loglik_null = fit$loglik[1],
       aic = AIC(fit), n = nrow(fit$y), events = sum(fit$y[, 2]), iterations = fit$iter,
       vcov_names = c(nm, "Log(scale)"), vcov = lapply(seq_len(nrow(v)), function(i) unname(v[i, ])))
}

fits <- list(
  uis = list(formula = Surv(TIME, CENSOR) ~ TREAT + AGE + BECK + IV3, data = uis),
  sim = list(formula = Surv(time, event) ~ arm + age + female + homeless + depression + prior_treatments,
             data = sim)
)

res <- list()
for (d in names(fits)) {
  for (dist in c("weibull", "lognormal", "loglogistic")) {
    fit <- survreg(fits[[d]]$formula, data = fits[[d]]$data, dist = dist)
    res[[d]][[dist]] <- aft_out(fit)
  }
}
res$versions <- list(R = R.version.string, survival = as.character(packageVersion("survival")),
                     jsonlite = as.character(packageVersion("jsonlite")))
out <- file.path(here, "aft_families.json")
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), out)
cat("wrote", out, "\n")
