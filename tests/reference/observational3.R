# Reference values for weighted comparisons: overlap, ATT and (Crump-trimmed) ATE weights written by hand, and
# standard errors that count the estimated propensity model (stacked estimating equations, by numerical derivatives).
# Run from anywhere:  Rscript --vanilla tests/reference/observational3.R  (or: make r-reference)
# Input:  tests/reference/observational_cohort.csv (made by tests/reference/make_observational_data.py)
# Output: tests/reference/observational3.json, compared in tests/test_survival_observational_stacked.py and
#         tests/test_survival_observational_overlap.py.
# Propensity: glm(arm ~ age + homeless + stimulant_use + depression, binomial); p = P(peer | x).
# Weights: overlap (peer 1 - p, usual care p); ATT (peer 1, usual care p / (1 - p)); ATE (1 / p, 1 / (1 - p));
#          trimmed ATE (keep 0.2 <= p <= 0.8, refit the glm on those kept, ATE weights); stabilised ATE
#          (mean(peer) / p, (1 - mean(peer)) / (1 - p)).
# Outcomes: survfit(Surv(time, event) ~ arm, weights = w) at days 30, 90, 180 and its RMST to 180;
#           coxph(Surv(time, event) ~ arm, weights = w, robust = TRUE) (Efron) log HR and robust SE.
# Stacked SE: IF_i = w_i d psi / d w_i + J IF_i(theta), theta = (glm coefficients, treated share if stabilised),
#   d psi / d w_i by central differences of survfit / coxph in each person's weight, J = d psi / d theta by central
#   differences refitting with weights from perturbed theta, IF(theta) from sandwich::estfun and sandwich::bread.
suppressPackageStartupMessages({library(survival); library(sandwich); library(jsonlite)})
args <- commandArgs(trailingOnly = FALSE)
dir <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
d <- read.csv(file.path(dir, "observational_cohort.csv"), stringsAsFactors = FALSE)
d$arm <- factor(d$arm, levels = c("usual_care", "peer"))
d$a <- as.integer(d$arm == "peer")
days <- c(30, 90, 180)
form <- a ~ age + homeless + stimulant_use + depression
ctl <- coxph.control(eps = 1e-13, toler.chol = .Machine$double.eps^0.9, iter.max = 100)

weights_for <- function(p, a, kind, pbar = mean(a)) {
  switch(kind,
         overlap = ifelse(a == 1, 1 - p, p),
         att = ifelse(a == 1, 1, p / (1 - p)),
         ate = ifelse(a == 1, 1 / p, 1 / (1 - p)),
         ate_stabilised = ifelse(a == 1, pbar / p, (1 - pbar) / (1 - p)))
}

surv_at <- function(dd, w) {
  f <- survfit(Surv(time, event) ~ arm, data = dd, weights = w)
  s <- summary(f, times = days, extend = TRUE)
  st <- as.character(s$strata)
  uc <- s$surv[grepl("usual_care", st)]
  pe <- s$surv[grepl("peer", st)]
  c(uc, pe, pe - uc)
}
log_hr <- function(dd, w) unname(coef(coxph(Surv(time, event) ~ arm, data = dd, weights = w, control = ctl)))
psi <- function(dd, w) c(log_hr(dd, w), surv_at(dd, w))

summarise <- function(dd, w) {
  f <- survfit(Surv(time, event) ~ arm, data = dd, weights = w)
  s <- summary(f, times = days, extend = TRUE)
  st <- as.character(s$strata)
  tab <- summary(f, rmean = 180)$table
  cx <- coxph(Surv(time, event) ~ arm, data = dd, weights = w, robust = TRUE, control = ctl)
  list(survival = list(usual_care = setNames(as.list(s$surv[grepl("usual_care", st)]), days),
                       peer = setNames(as.list(s$surv[grepl("peer", st)]), days)),
       rmst_180 = list(usual_care = unname(tab[grepl("usual_care", rownames(tab)), "rmean"]),
                       peer = unname(tab[grepl("peer", rownames(tab)), "rmean"])),
       log_hr = unname(coef(cx)), robust_se = unname(sqrt(diag(cx$var))), n = nrow(dd),
       weight_sum = sum(w))
}

stacked <- function(dd, kind) {
  tr <- glm(form, data = dd, family = binomial)
  X <- model.matrix(tr)
  a <- dd$a
  gamma <- coef(tr)
  stab <- kind == "ate_stabilised"
  theta <- if (stab) c(gamma, pbar = mean(a)) else gamma
  if_theta <- estfun(tr) %*% bread(tr) / nrow(dd)
  if (stab) if_theta <- cbind(if_theta, (a - mean(a)) / nrow(dd))
  wt <- function(th) {
    p <- plogis(drop(X %*% th[seq_along(gamma)]))
    weights_for(p, a, kind, if (stab) th[length(th)] else mean(a))
  }
  w <- wt(theta)
  est <- psi(dd, w)
  # J = d psi / d theta
  J <- sapply(seq_along(theta), function(k) {
    h <- 1e-6 * max(1, abs(theta[k]))
    up <- theta; up[k] <- up[k] + h
    dn <- theta; dn[k] <- dn[k] - h
    (psi(dd, wt(up)) - psi(dd, wt(dn))) / (2 * h)
  })
  # w_i d psi / d w_i
  known <- t(sapply(seq_len(nrow(dd)), function(i) {
    h <- 1e-5 * w[i]
    up <- w; up[i] <- up[i] + h
    dn <- w; dn[i] <- dn[i] - h
    w[i] * (psi(dd, up) - psi(dd, dn)) / (2 * h)
  }))
  full <- known + if_theta %*% t(J)
  names <- c("log_hr", paste0("survival_usual_care_", days), paste0("survival_peer_", days),
             paste0("difference_", days))
  list(estimate = setNames(as.list(est), names), se_naive = setNames(as.list(sqrt(colSums(known^2))), names),
       se_stacked = setNames(as.list(sqrt(colSums(full^2))), names))
}

tr <- glm(form, data = d, family = binomial)
p <- fitted(tr)
alpha <- 0.2
keep <- p >= alpha & p <= 1 - alpha
dk <- d[keep, ]
pk <- fitted(glm(form, data = dk, family = binomial))
res <- list(survival_version = as.character(packageVersion("survival")), days = days,
            propensity = list(coef = as.list(coef(tr))),
            overlap = summarise(d, weights_for(p, d$a, "overlap")),
            att = summarise(d, weights_for(p, d$a, "att")),
            ate = summarise(d, weights_for(p, d$a, "ate")),
            ate_trimmed = c(summarise(dk, weights_for(pk, dk$a, "ate")), list(alpha = alpha, n_dropped = sum(!keep))),
            stacked = list(ate_stabilised = stacked(d, "ate_stabilised"), overlap = stacked(d, "overlap"),
                           att = stacked(d, "att")))
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(dir, "observational3.json"))
