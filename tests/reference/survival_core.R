# Reference values for peerstudy.survival km / logrank / rmst / competing (R survival, Debian r-cran-survival).
#
# Regenerate from the repository root or from tests/reference/ with
#     Rscript --vanilla tests/reference/survival_core.R        (or: make r-reference)
# It reads the packaged real datasets (src/peerstudy/data/uis.csv, pharmacoSmoking.csv), Rossi from carData
# (the same data as lifelines.datasets.load_rossi), mgus2 from survival (written to mgus2.csv for the Python
# side), and the simulated canonical cohort survival_core_cohort.csv (made by make_survival_core_cohort.py),
# and writes survival_core.json beside this script. Numbers are written at jsonlite's full precision (15 significant digits).
suppressPackageStartupMessages({library(survival); library(jsonlite)})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
root <- normalizePath(file.path(here, "..", ".."))

uis <- read.csv(file.path(root, "src/peerstudy/data/uis.csv"))
pharm <- read.csv(file.path(root, "src/peerstudy/data/pharmacoSmoking.csv"))
rossi <- carData::Rossi[, c("week", "arrest", "fin", "age", "prio", "paro")]
rossi$fin <- as.integer(rossi$fin == "yes")
rossi$paro <- as.integer(rossi$paro == "yes")
sim <- read.csv(file.path(here, "survival_core_cohort.csv"))
mg <- survival::mgus2
mg$etime <- ifelse(mg$pstat == 0, mg$futime, mg$ptime)
mg$ending <- ifelse(mg$pstat == 0, ifelse(mg$death == 1, "death", "censor"), "pcm")
mg <- mg[, c("id", "sex", "etime", "ending")]
write.csv(mg, file.path(here, "mgus2.csv"), row.names = FALSE)

sets <- list(
  uis = list(d = uis, time = "TIME", event = "CENSOR", group = "TREAT", strata = "SITE",
             horizons = c(30, 90, 180, 365), taus = c(90, 180, 365)),
  pharmacoSmoking = list(d = pharm, time = "ttr", event = "relapse", group = "grp", strata = "employment",
                         horizons = c(30, 90, 180), taus = c(90, 180)),
  rossi = list(d = rossi, time = "week", event = "arrest", group = "fin", strata = "paro",
               horizons = c(10, 26, 52), taus = c(26, 52)),
  sim = list(d = sim, time = "time", event = "event", group = "arm", strata = "site",
             horizons = c(30, 90, 180), taus = c(90, 180))
)

grp_of <- function(fit) sub("^[^=]*=", "", names(fit$strata))
split_fit <- function(fit) {
  g <- rep(grp_of(fit), fit$strata)
  lapply(setNames(unique(g), unique(g)), function(k) {
    i <- g == k
    list(time = fit$time[i], n_risk = fit$n.risk[i], n_event = fit$n.event[i], n_censor = fit$n.censor[i],
         surv = fit$surv[i], std_err = fit$std.err[i], lower = fit$lower[i], upper = fit$upper[i])
  })
}

# Fleming-Harrington G(rho, gamma), straight from the formula (Fleming & Harrington 1991, ch. 7):
# w(t) = S(t-)^rho (1 - S(t-))^gamma with S the pooled Kaplan-Meier within the stratum.
fh_test <- function(time, status, group, strata, rho, gamma) {
  lev <- sort(unique(group)); k <- length(lev)
  U <- numeric(k); V <- matrix(0, k, k)
  for (s in unique(strata)) {
    i <- strata == s
    tt <- time[i]; st <- status[i]; gg <- group[i]
    et <- sort(unique(tt[st == 1]))
    S <- 1
    for (t in et) {
      atrisk <- tt >= t
      n <- sum(atrisk); d <- sum(tt == t & st == 1)
      nj <- sapply(lev, function(l) sum(atrisk & gg == l))
      dj <- sapply(lev, function(l) sum(tt == t & st == 1 & gg == l))
      w <- S^rho * (1 - S)^gamma
      U <- U + w * (dj - d * nj / n)
      if (n > 1) V <- V + w^2 * d * (n - d) / (n - 1) * (diag(nj / n) - outer(nj / n, nj / n))
      S <- S * (1 - d / n)
    }
  }
  stat <- drop(t(U[-k]) %*% solve(V[-k, -k, drop = FALSE]) %*% U[-k])
  list(statistic = stat, df = k - 1, p = pchisq(stat, k - 1, lower.tail = FALSE))
}

out <- list(R = R.version.string, survival = as.character(packageVersion("survival")),
            km = list(), logrank = list(), rmst = list(), cif = list())

for (nm in names(sets)) {
  s <- sets[[nm]]
  d <- s$d
  d$.t <- d[[s$time]]; d$.e <- d[[s$event]]; d$.g <- d[[s$group]]; d$.s <- d[[s$strata]]
  km <- list()
  for (ct in c("log-log", "log", "plain")) {
    fit <- survfit(Surv(.t, .e) ~ .g, data = d, conf.type = ct)
    sm <- summary(fit, times = s$horizons)
    gs <- sub("^[^=]*=", "", as.character(sm$strata))
    at <- lapply(setNames(unique(gs), unique(gs)), function(k) {
      i <- gs == k
      list(time = sm$time[i], surv = sm$surv[i], lower = sm$lower[i], upper = sm$upper[i])
    })
    tab <- summary(fit)$table
    med <- lapply(setNames(seq_len(nrow(tab)), grp_of(fit)), function(j)
      list(median = unname(tab[j, "median"]), lower = unname(tab[j, "0.95LCL"]), upper = unname(tab[j, "0.95UCL"])))
    km[[ct]] <- list(curves = split_fit(fit), at = at, median = med)
  }
  overall <- survfit(Surv(.t, .e) ~ 1, data = d, conf.type = "log-log")
  km$overall <- list(time = overall$time, surv = overall$surv, lower = overall$lower, upper = overall$upper,
                     median = unname(summary(overall)$table[c("median", "0.95LCL", "0.95UCL")]))
  out$km[[nm]] <- km

  lr <- list()
  for (rho in c(0, 1)) {
    sd <- survdiff(Surv(.t, .e) ~ .g, data = d, rho = rho)
    lr[[paste0("rho", rho)]] <- list(statistic = unname(sd$chisq), df = length(sd$n) - 1,
                                     p = pchisq(sd$chisq, length(sd$n) - 1, lower.tail = FALSE),
                                     observed = unname(sd$obs), expected = unname(sd$exp),
                                     groups = sub("^[^=]*=", "", names(sd$n)))
  }
  sd <- survdiff(Surv(.t, .e) ~ .g + strata(.s), data = d)
  lr$strata <- list(statistic = unname(sd$chisq), df = 1, p = pchisq(sd$chisq, 1, lower.tail = FALSE),
                    observed = unname(rowSums(sd$obs)), expected = unname(rowSums(sd$exp)))
  sdw <- survdiff(Surv(.t, .e) ~ .g + strata(.s), data = d, rho = 1)
  lr$strata_rho1 <- list(statistic = unname(sdw$chisq), p = pchisq(sdw$chisq, 1, lower.tail = FALSE))
  one <- rep(1, nrow(d))
  lr$fh_1_0_check <- fh_test(d$.t, d$.e, as.character(d$.g), one, 1, 0)
  lr$fh_0_1 <- fh_test(d$.t, d$.e, as.character(d$.g), one, 0, 1)
  lr$fh_1_1 <- fh_test(d$.t, d$.e, as.character(d$.g), one, 1, 1)
  lr$fh_0_1_strata <- fh_test(d$.t, d$.e, as.character(d$.g), as.character(d$.s), 0, 1)
  out$logrank[[nm]] <- lr

  fit <- survfit(Surv(.t, .e) ~ .g, data = d)
  rm <- list()
  for (tau in s$taus) {
    tab <- summary(fit, rmean = tau)$table
    rm[[as.character(tau)]] <- lapply(setNames(seq_len(nrow(tab)), grp_of(fit)), function(j)
      list(estimate = unname(tab[j, "rmean"]), se = unname(tab[j, "se(rmean)"])))
  }
  fit1 <- survfit(Surv(.t, .e) ~ 1, data = d)
  rm$overall <- list(estimate = unname(summary(fit1, rmean = s$taus[1])$table["rmean"]),
                     se = unname(summary(fit1, rmean = s$taus[1])$table["se(rmean)"]), tau = s$taus[1])
  out$rmst[[nm]] <- rm
}

# Aalen-Johansen cumulative incidence: a factor status (first level = censored) makes survfit multi-state.
cif_ref <- function(d, time, ending, group, censored, causes, times) {
  st <- factor(ifelse(d[[ending]] %in% censored, "censor", d[[ending]]), levels = c("censor", causes))
  d$.t <- d[[time]]; d$.st <- st; d$.g <- d[[group]]
  fit <- survfit(Surv(.t, .st) ~ .g, data = d)
  res <- list()
  for (j in seq_along(fit$strata)) {
    f <- fit[j, ]
    g <- sub("^[^=]*=", "", names(fit$strata)[j])
    cols <- match(causes, f$states)
    sm <- summary(f, times = times, extend = TRUE)
    res[[g]] <- list(time = f$time,
                     cif = setNames(lapply(cols, function(c) f$pstate[, c]), causes),
                     std_err = setNames(lapply(cols, function(c) f$std.err[, c]), causes),
                     at = setNames(lapply(cols, function(c) sm$pstate[, c]), causes),
                     at_time = sm$time)
  }
  fit0 <- survfit(Surv(.t, .st) ~ 1, data = d)
  res$all <- list(time = fit0$time, cif = setNames(lapply(match(causes, fit0$states), function(c) fit0$pstate[, c]), causes))
  res
}
out$cif$sim <- cif_ref(sim, "time", "outcome", "arm", c("retained", "lost_to_follow_up"),
                       c("dropout", "incarcerated", "died"), c(30, 90, 180))
out$cif$mgus2 <- cif_ref(mg, "etime", "ending", "sex", "censor", c("pcm", "death"), c(60, 120, 240))

# The Cox model that analyse_cohort fits on the simulated cohort with covariates age, homeless, strata and cluster site.
sim$arm <- factor(sim$arm, levels = c("usual_care", "peer"))
cx <- coxph(Surv(time, event) ~ arm + age + homeless + strata(site), data = sim, cluster = site, ties = "efron")
out$analyse_cox <- list(terms = c("arm[peer]", "age", "homeless"), coef = unname(coef(cx)),
                        se = unname(sqrt(diag(cx$naive.var))), robust_se = unname(sqrt(diag(cx$var))),
                        loglik = cx$loglik[2])

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = FALSE),
           file.path(here, "survival_core.json"))
cat("wrote", file.path(here, "survival_core.json"), "\n")
