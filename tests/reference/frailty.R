# Reference values for peerstudy.survival.cox.frailty: shared frailty Cox models fitted by R's
# coxph(Surv(time, event) ~ ... + frailty(site)) (package survival; Debian r-cran-survival, r-cran-jsonlite).
#
# Regenerate from the repository root with
#     .venv/bin/python tests/reference/make_frailty_cohort.py    # the simulated cohorts (only if changed)
#     Rscript --vanilla tests/reference/frailty.R
# It reads frailty_cohort.csv (1,500 participants at 12 sites) and frailty_few_sites.csv (600 at 4 sites)
# beside this script, writes R's own survival::rats (litter frailty; the example of ?frailty) to
# frailty_rats.csv beside it, and writes frailty.json beside it (jsonlite, digits = NA: full precision).
#
# Per fit: coefficients, se (sqrt(diag(fit$var)): R's printed se(coef)), se2 (sqrt(diag(fit$var2))), the
# frailty variance theta (the last row of the outer history: the theta the coefficients were fitted at),
# loglik (both elements: at the start and the unpenalised partial log-likelihood at the estimate), the outer
# history, the frailty estimates and the printed frailty row (Chisq, DF, p). For gamma frailty also the
# integrated log-likelihood (R's I-likelihood) and the likelihood-ratio test of no frailty built from it.
# cohort_gamma_eps runs the gamma search to a tight stopping rule (frailty(site, eps = 1e-10), outer.max = 30).
suppressPackageStartupMessages({library(survival); library(jsonlite)})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))

cohort <- read.csv(file.path(here, "frailty_cohort.csv"))
few <- read.csv(file.path(here, "frailty_few_sites.csv"))
# arm assigned by site (cluster randomised, 16 sites): the covariate is constant within every cluster
clus <- read.csv(file.path(here, "frailty_cluster.csv"))
for (nm in c("cohort", "few", "clus")) {
  d <- get(nm)
  d$arm <- factor(d$arm, levels = c("usual_care", "peer"))
  assign(nm, d)
}
rats <- survival::rats
write.csv(rats, file.path(here, "frailty_rats.csv"), row.names = FALSE)

frail_out <- function(fit, cox0) {
  cf <- fit$coefficients
  is_cov <- !grepl("^(gamma|gauss):", names(cf))
  idx <- which(is_cov)
  h <- fit$history[[1]]
  hist <- h$history
  theta <- hist[nrow(hist), 1]
  i <- which(fit$pterms > 0)
  if (fit$pterms[i] == 2) {
    pr <- fit$printfun[[1]](fit$frail, fit$fvar, , fit$df[i], h)
    frail <- fit$frail
    fvar <- fit$fvar
  } else {
    kk <- fit$assign2[[i]]
    pr <- fit$printfun[[1]](cf[kk], fit$var[kk, kk], fit$var2[kk, kk], fit$df[i], h)
    frail <- unname(cf[kk])
    fvar <- diag(fit$var)[kk]
  }
  named <- function(x) as.list(setNames(x, names(cf)[idx]))
  out <- list(coef = as.list(cf[idx]), se = named(sqrt(diag(fit$var))[idx]),
              se2 = named(sqrt(diag(fit$var2))[idx]), theta = theta, theta_next = h$theta,
              loglik = fit$loglik, iter = fit$iter, sparse = fit$pterms[i] == 2,
              history = lapply(seq_len(ncol(hist)), function(j) unname(hist[, j])),
              history_names = colnames(hist), df = unname(fit$df), frail = unname(frail), fvar = unname(fvar),
              frailty_chisq = pr$coef[4], frailty_df = pr$coef[5], frailty_p = pr$coef[6],
              n = fit$n, events = fit$nevent, clusters = length(frail),
              cox_loglik = cox0$loglik[2])
  if (!is.null(h$c.loglik)) {
    out$i_loglik <- h$c.loglik
    out$lrt_chisq <- 2 * (hist[nrow(hist), 3] - hist[1, 3])
    out$lrt_p <- if (out$lrt_chisq > 0) 0.5 * pchisq(out$lrt_chisq, 1, lower.tail = FALSE) else 1
  }
  out
}

res <- list(
  cluster_gamma = frail_out(
    coxph(Surv(time, event) ~ arm + frailty(site), data = clus),
    coxph(Surv(time, event) ~ arm, data = clus)),
  cohort_gamma = frail_out(
    coxph(Surv(time, event) ~ arm + age + homeless + frailty(site), data = cohort),
    coxph(Surv(time, event) ~ arm + age + homeless, data = cohort)),
  cohort_gamma_breslow = frail_out(
    coxph(Surv(time, event) ~ arm + age + homeless + frailty(site), data = cohort, ties = "breslow"),
    coxph(Surv(time, event) ~ arm + age + homeless, data = cohort, ties = "breslow")),
  cohort_gamma_eps = frail_out(
    coxph(Surv(time, event) ~ arm + age + homeless + frailty(site, eps = 1e-10), data = cohort,
          control = coxph.control(outer.max = 30)),
    coxph(Surv(time, event) ~ arm + age + homeless, data = cohort)),
  cohort_gaussian = frail_out(
    coxph(Surv(time, event) ~ arm + age + homeless + frailty(site, distribution = "gaussian"), data = cohort),
    coxph(Surv(time, event) ~ arm + age + homeless, data = cohort)),
  few_gamma = frail_out(
    coxph(Surv(time, event) ~ arm + age + homeless + frailty(site), data = few),
    coxph(Surv(time, event) ~ arm + age + homeless, data = few)),
  few_gaussian = frail_out(
    coxph(Surv(time, event) ~ arm + age + homeless + frailty(site, distribution = "gaussian"), data = few),
    coxph(Surv(time, event) ~ arm + age + homeless, data = few)),
  rats_gamma = frail_out(
    coxph(Surv(time, status) ~ rx + frailty(litter), data = rats),
    coxph(Surv(time, status) ~ rx, data = rats)),
  rats_gaussian = frail_out(
    coxph(Surv(time, status) ~ rx + frailty(litter, distribution = "gaussian"), data = rats),
    coxph(Surv(time, status) ~ rx, data = rats))
)
res$r_version <- paste(R.version$major, R.version$minor, sep = ".")
res$survival_version <- as.character(packageVersion("survival"))
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "frailty.json"))
