# Reference values for peerstudy.survival.cox.small_sample: the Mancl-DeRouen bias-corrected cluster sandwich
# of a Cox model (Mancl & DeRouen 2001, in the marginal-Cox form of Wang, Turner & Li 2023), written here in R
# from the formula, independently of the Python code, on top of survival::coxph.
#
# Regenerate from the repository root with
#     Rscript --vanilla tests/reference/small_sample.R
# It reads frailty_cluster.csv (800 people, 16 sites, arm allocated by site) and frailty_few_sites.csv (600 people
# at 4 sites, individual allocation, covariates age and homeless) beside this script and writes small_sample.json
# beside it (packages survival, jsonlite).
#
# For each fit: U_i = cluster sums of residuals(fit, "score") (Efron ties, as fitted); I^-1 = fit$naive.var;
# Omega_i = sum over the cluster's rows of
#     status_j V(t_j) - r_j sum_{t <= T_j} V(t) dL(t) + r_j sum_{t <= T_j} (X_j - xbar(t))(X_j - xbar(t))' dL(t)
# with r_j = exp(X_j b), Breslow increments dL(t) = d(t) / S0(t) and V(t) = S2/S0 - xbar xbar' over the risk set
# {T >= t}; U_i* = solve(I - Omega_i I^-1, U_i); var = I^-1 (sum_i U_i* U_i*') I^-1; t reference on G - 1 df.
suppressPackageStartupMessages({library(survival); library(jsonlite)})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))

md_variance <- function(fit, X, time, status, cluster) {
  b <- coef(fit)
  X <- as.matrix(X)
  p <- ncol(X)
  r <- as.vector(exp(X %*% b))
  tau <- sort(unique(time[status == 1]))
  K <- length(tau)
  S0 <- numeric(K); S1 <- matrix(0, K, p); S2 <- array(0, c(K, p, p)); d <- numeric(K)
  for (k in seq_len(K)) {
    at <- time >= tau[k]
    S0[k] <- sum(r[at])
    S1[k, ] <- colSums(r[at] * X[at, , drop = FALSE])
    S2[k, , ] <- crossprod(X[at, , drop = FALSE] * sqrt(r[at]))
    d[k] <- sum(status == 1 & time == tau[k])
  }
  xbar <- S1 / S0
  V <- array(0, c(K, p, p))
  for (k in seq_len(K)) V[k, , ] <- S2[k, , ] / S0[k] - tcrossprod(xbar[k, ])
  dL <- d / S0
  ids <- sort(unique(cluster))
  U <- rowsum(residuals(fit, type = "score"), cluster, reorder = TRUE)
  U <- matrix(U, nrow = length(ids))
  naive <- fit$naive.var
  Ustar <- matrix(0, length(ids), p)
  for (g in seq_along(ids)) {
    om <- matrix(0, p, p)
    for (j in which(cluster == ids[g])) {
      if (status[j] == 1) om <- om + V[match(time[j], tau), , ]
      for (k in which(tau <= time[j])) {
        dev <- X[j, ] - xbar[k, ]
        om <- om + r[j] * dL[k] * (tcrossprod(dev) - V[k, , ])
      }
    }
    Ustar[g, ] <- solve(diag(p) - om %*% naive, U[g, ])
  }
  naive %*% crossprod(Ustar) %*% naive
}

one <- function(d, formula, covars) {
  fit <- coxph(formula, data = d, ties = "efron", x = TRUE)
  X <- fit$x
  v <- md_variance(fit, X, d$time, d$event, d$site)
  G <- length(unique(d$site))
  se <- sqrt(diag(v))
  list(coef = unname(coef(fit)), robust_se = unname(sqrt(diag(fit$var))), md_se = unname(se),
       md_var = unname(v), n_clusters = G, df = G - 1,
       p = unname(2 * pt(abs(coef(fit) / se), G - 1, lower.tail = FALSE)),
       ci_lower = unname(exp(coef(fit) - qt(0.975, G - 1) * se)),
       ci_upper = unname(exp(coef(fit) + qt(0.975, G - 1) * se)))
}

clus <- read.csv(file.path(here, "frailty_cluster.csv"))
clus$arm <- factor(clus$arm, levels = c("usual_care", "peer"))
few <- read.csv(file.path(here, "frailty_few_sites.csv"))
few$arm <- factor(few$arm, levels = c("usual_care", "peer"))
out <- list(
  cluster_arm = one(clus, Surv(time, event) ~ arm + cluster(site)),
  few_sites_adjusted = one(few, Surv(time, event) ~ arm + age + homeless + cluster(site))
)
write_json(out, file.path(here, "small_sample.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
