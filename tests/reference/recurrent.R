# Reference values for peerstudy.survival.recurrent: recurrent-event models fitted by R.
# Packages: survival, mets, MASS, jsonlite (Debian r-cran-survival, r-cran-mets, r-cran-mass, r-cran-jsonlite).
#
# Regenerate from the repository root with
#     .venv/bin/python tests/reference/make_recurrent_data.py    # the data (only if changed)
#     Rscript --vanilla tests/reference/recurrent.R
# It reads recurrent_cohort.csv, recurrent_events.csv (whole days) and recurrent_continuous.csv beside this
# script and writes recurrent.json beside it (jsonlite, digits = NA: full precision).
#
# The counting-process data are built here from the two tables, independently of peerstudy: for each
# participant the distinct event days t_1 < ... < t_k <= time give (0, t_1], ..., (t_{k-1}, t_k] with
# status 1 and (t_k, time] with status 0 when t_k < time; enum = interval number.
#   andersen_gill*: coxph(Surv(start, stop, status) ~ ... + cluster(id)) (Efron and Breslow ties)
#   pwp_total:      coxph(Surv(start, stop, status) ~ ... + strata(enum) + cluster(id))
#   pwp_gap:        coxph(Surv(stop - start, status) ~ ... + strata(enum) + cluster(id))
#   mcf_test:       coxph(Surv(start, stop, status) ~ arm + cluster(id), ties = "breslow")$rscore (robust score)
#   mcf:            survfit(Surv(start, stop, status) ~ arm, id = id, robust = TRUE): cumhaz, std.chaz
#   ghosh_lin:      mets::recurrentMarginal of phreg fits of episodes and deaths (strata(arm) + cluster(id)),
#                   on the continuous-time data (mets processes records in order: no ties there)
#   negative_binomial*: MASS::glm.nb(count ~ ... + offset(log(exposure))), counts in (0, min(time, window)]
suppressPackageStartupMessages({library(survival); library(mets); library(MASS); library(jsonlite)})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))

cohort <- read.csv(file.path(here, "recurrent_cohort.csv"))
events <- read.csv(file.path(here, "recurrent_events.csv"))
cohort$arm <- factor(cohort$arm, levels = c("usual_care", "peer"))

counting <- function(cohort, events) {
  out <- vector("list", nrow(cohort))
  for (i in seq_len(nrow(cohort))) {
    id <- cohort$participant_id[i]
    end <- cohort$time[i]
    d <- sort(unique(events$day[events$participant_id == id]))
    stops <- d
    status <- rep(1L, length(d))
    if (length(d) == 0 || max(d) < end) {
      stops <- c(stops, end)
      status <- c(status, 0L)
    }
    starts <- c(0, head(stops, -1))
    out[[i]] <- data.frame(id = id, start = starts, stop = stops, status = status, enum = seq_along(stops))
  }
  cp <- do.call(rbind, out)
  cbind(cp, cohort[match(cp$id, cohort$participant_id), c("arm", "age", "homeless")])
}
cp <- counting(cohort, events)

cox_out <- function(fit) {
  list(coef = unname(coef(fit)), se = unname(sqrt(diag(fit$naive.var))), robust_se = unname(sqrt(diag(fit$var))),
       terms = names(coef(fit)), loglik = fit$loglik, n = fit$n, nevent = fit$nevent)
}
ag <- coxph(Surv(start, stop, status) ~ arm + age + homeless + cluster(id), data = cp)
ag_b <- coxph(Surv(start, stop, status) ~ arm + age + homeless + cluster(id), data = cp, ties = "breslow")
pwp_t <- coxph(Surv(start, stop, status) ~ arm + age + homeless + strata(enum) + cluster(id), data = cp)
pwp_g <- coxph(Surv(stop - start, status) ~ arm + age + homeless + strata(enum) + cluster(id), data = cp)
test <- coxph(Surv(start, stop, status) ~ arm + cluster(id), data = cp, ties = "breslow")

sf <- survfit(Surv(start, stop, status) ~ arm, data = cp, id = id, robust = TRUE)
ss <- summary(sf, censored = FALSE)
mcf <- list(strata = sub("^arm=", "", as.character(ss$strata)), time = ss$time, cumhaz = ss$cumhaz,
            std_chaz = ss$std.chaz, n_risk = ss$n.risk, n_event = ss$n.event)

nb_fit <- function(window) {
  exposure <- if (is.null(window)) cohort$time else pmin(cohort$time, window)
  lim <- exposure[match(events$participant_id, cohort$participant_id)]
  ev <- unique(events[events$day <= lim, c("participant_id", "day")])
  d <- cohort
  d$count <- as.numeric(table(factor(ev$participant_id, levels = cohort$participant_id)))
  d$exposure <- exposure
  fit <- glm.nb(count ~ arm + age + homeless + offset(log(exposure)), data = d,
                control = glm.control(epsilon = 1e-13, maxit = 200))
  list(coef = unname(coef(fit)), se = unname(sqrt(diag(vcov(fit)))), terms = names(coef(fit)),
       theta = fit$theta, theta_se = fit$SE.theta, twologlik = fit$twologlik, window = window)
}

cont <- read.csv(file.path(here, "recurrent_continuous.csv"))
cont$arm <- factor(cont$arm, levels = c("usual_care", "peer"))
cont <- cont[order(cont$id, cont$time), ]
cont$start <- ave(cont$time, cont$id, FUN = function(t) c(0, head(t, -1)))
xr <- phreg(Surv(start, time, status == 1) ~ strata(arm) + cluster(id), data = cont)
dr <- phreg(Surv(start, time, status == 2) ~ strata(arm) + cluster(id), data = cont)
gl <- recurrentMarginal(xr, dr)
ghosh_lin <- list(strata = as.character(xr$strata.level[gl$strata + 1]), time = gl$times, mu = gl$mu,
                  se_mu = gl$se.mu)

res <- list(
  andersen_gill = cox_out(ag), andersen_gill_breslow = cox_out(ag_b), pwp_total = cox_out(pwp_t),
  pwp_gap = cox_out(pwp_g), mcf_test = list(rscore = unname(test$rscore)), mcf = mcf,
  ghosh_lin = ghosh_lin, negative_binomial = nb_fit(NULL), negative_binomial_180 = nb_fit(180),
  intervals = nrow(cp)
)
res$r_version <- paste(R.version$major, R.version$minor, sep = ".")
res$survival_version <- as.character(packageVersion("survival"))
res$mets_version <- as.character(packageVersion("mets"))
res$mass_version <- as.character(packageVersion("MASS"))
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "recurrent.json"))
