# Reference values for peerstudy.survival.outcomes and peerstudy.survival.missing: the BARC-10 mixed model
# (lme4::lmer, REML), risk differences and ratios (glm, binomial with identity and log links) and Rubin's
# rules (mice::pool on coxph and glm fits, mice::pool.scalar for Kaplan-Meier and RMST) on the same
# completed data sets; and a SAS file (haven::write_sas) of outcomes_export.csv for the SAS reader's test.
# Packages: lme4, mice, survival, jsonlite, haven (Debian r-cran-lme4, r-cran-mice, r-cran-survival,
# r-cran-jsonlite, r-cran-haven).
#
# Regenerate from the repository root with
#     PYTHONPATH=src .venv/bin/python tests/reference/make_outcomes_data.py   # the data (only if changed)
#     Rscript --vanilla tests/reference/outcomes.R
# It reads outcomes_visits.csv, outcomes_six.csv and outcomes_imputed.csv beside this script and writes
# outcomes.json beside it (jsonlite, digits = NA: full precision).
suppressPackageStartupMessages({library(lme4); library(mice); library(survival); library(jsonlite); library(haven)})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
arm_factor <- function(x) factor(x, levels = c("usual_care", "peer"))

# ---- BARC-10: random intercept per participant, REML; time in units of 180 days --------------------------
visits <- read.csv(file.path(here, "outcomes_visits.csv"))
visits$peer <- as.numeric(visits$arm == "peer")
visits$t <- visits$day / 180
fit <- lmer(barc10 ~ peer * t + (1 | participant_id), data = visits, REML = TRUE,
            control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 1e-3, rhoend = 1e-12)))
vc <- as.data.frame(VarCorr(fit))
mixed <- list(coef = unname(fixef(fit)), se = unname(sqrt(diag(as.matrix(vcov(fit))))),
              terms = names(fixef(fit)), group_var = vc$vcov[vc$grp == "participant_id"],
              resid_var = vc$vcov[vc$grp == "Residual"], reml_loglik = as.numeric(logLik(fit, REML = TRUE)),
              n_obs = nrow(visits), n_groups = length(unique(visits$participant_id)))

# ---- risk difference and risk ratio: saturated binomial GLMs (Wald SEs) -----------------------------------
six <- read.csv(file.path(here, "outcomes_six.csv"))
six$arm <- arm_factor(six$arm)
contrast <- list()
for (y in c("housed", "employed")) {
  f <- as.formula(paste(y, "~ arm"))
  rd <- glm(f, data = six, family = binomial(link = "identity"), control = glm.control(epsilon = 1e-14, maxit = 100))
  rr <- glm(f, data = six, family = binomial(link = "log"), control = glm.control(epsilon = 1e-14, maxit = 100))
  contrast[[y]] <- list(rd = unname(coef(rd)[2]), rd_se = unname(sqrt(diag(vcov(rd)))[2]),
                        log_rr = unname(coef(rr)[2]), log_rr_se = unname(sqrt(diag(vcov(rr)))[2]))
}

# ---- Rubin's rules on the same completed data sets --------------------------------------------------------
imp <- read.csv(file.path(here, "outcomes_imputed.csv"))
imp$arm <- arm_factor(imp$arm)
sets <- split(imp, imp$imputation)
pooled <- function(p) {
  d <- p$pooled
  list(term = as.character(d$term), estimate = d$estimate, ubar = d$ubar, b = d$b, t = d$t, dfcom = d$dfcom,
       df = d$df, riv = d$riv, lambda = d$lambda, fmi = d$fmi)
}
cox_fits <- lapply(sets, function(d) coxph(Surv(time, event) ~ arm + age + homeless + depression, data = d,
                                           ties = "efron"))
glm_fits <- lapply(sets, function(d) glm(event ~ arm + age + homeless + depression, data = d, family = binomial))
cox_pool <- pooled(pool(as.mira(cox_fits)))
glm_pool <- pooled(pool(as.mira(glm_fits)))

scalar <- function(q, u) {
  p <- pool.scalar(q, u, n = Inf, k = 1)
  list(estimate = p$qbar, ubar = p$ubar, b = p$b, t = p$t, df = p$df, riv = p$r, fmi = p$fmi)
}
km90 <- list(); rmst90 <- list()
for (a in levels(imp$arm)) {
  q <- u <- qr <- ur <- numeric(0)
  for (d in sets) {
    s <- survfit(Surv(time, event) ~ 1, data = d[d$arm == a, ])
    at <- summary(s, times = 90)
    q <- c(q, at$surv); u <- c(u, at$std.err^2)
    tab <- summary(s, rmean = 90)$table
    qr <- c(qr, tab[["rmean"]]); ur <- c(ur, tab[["se(rmean)"]]^2)
  }
  km90[[a]] <- scalar(q, u)
  rmst90[[a]] <- scalar(qr, ur)
}
rd_q <- rd_u <- numeric(0)
for (d in sets) {
  p1 <- mean(d$event[d$arm == "peer"]); n1 <- sum(d$arm == "peer")
  p0 <- mean(d$event[d$arm == "usual_care"]); n0 <- sum(d$arm == "usual_care")
  rd_q <- c(rd_q, p1 - p0); rd_u <- c(rd_u, p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
}

out <- list(mixed = mixed, contrast = contrast, cox_pool = cox_pool, glm_pool = glm_pool, km90 = km90,
            rmst90 = rmst90, risk_difference = scalar(rd_q, rd_u),
            versions = list(lme4 = as.character(packageVersion("lme4")), mice = as.character(packageVersion("mice")),
                            survival = as.character(packageVersion("survival")),
                            R = paste(R.version$major, R.version$minor, sep = ".")))
export <- read.csv(file.path(here, "outcomes_export.csv"), colClasses = c(enrolled_on = "character",
                                                                         discharged_on = "character"))
suppressWarnings(write_sas(export, file.path(here, "outcomes_export.sas7bdat")))  # deprecated in haven, still valid
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "outcomes.json"))
