# Reference values (observational analyses), from R's survival package.
# Run from anywhere:  Rscript --vanilla tests/reference/observational.R  (or: make r-reference)
# Input:  tests/reference/observational_cohort.csv, observational_contacts.csv
#         (made by tests/reference/make_observational_data.py)
# Output: tests/reference/observational_r.json (models) and observational_r_exposure.csv
#         (per-participant exposed person-days from tmerge), compared in tests/test_survival_*.py.
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = FALSE)
dir <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
d <- read.csv(file.path(dir, "observational_cohort.csv"), stringsAsFactors = FALSE)
cx <- read.csv(file.path(dir, "observational_contacts.csv"), stringsAsFactors = FALSE)
d$arm <- factor(d$arm, levels = c("usual_care", "peer"))
d$treated <- as.integer(d$arm == "peer")

num <- function(x) unname(as.numeric(x))
cox_out <- function(fit) {
  out <- list(coef = as.list(coef(fit)), se = as.list(sqrt(diag(fit$naive.var %||% fit$var))),
              loglik = num(fit$loglik[2]), n = fit$n, events = fit$nevent)
  if (!is.null(fit$naive.var)) out$robust_se <- as.list(sqrt(diag(fit$var)))
  out
}
`%||%` <- function(a, b) if (is.null(a)) b else a

# --- propensity score and stabilised weights
ps_fit <- glm(treated ~ age + homeless + stimulant_use + depression + site, family = binomial, data = d)
ps <- num(fitted(ps_fit))
p1 <- mean(d$treated)
w <- ifelse(d$treated == 1, p1 / ps, (1 - p1) / (1 - ps))
q <- quantile(w, c(0.01, 0.99), type = 7)
w_trim <- pmin(pmax(w, q[1]), q[2])
d$w <- w

# --- IPTW Cox: weights with cluster(site), and weights alone (R switches to the robust variance itself)
cox_site <- coxph(Surv(time, event) ~ arm, data = d, weights = w, cluster = site, ties = "efron")
cox_row <- coxph(Surv(time, event) ~ arm, data = d, weights = w, ties = "efron")
cox_naive <- coxph(Surv(time, event) ~ arm, data = d, ties = "efron")

# --- weighted Kaplan-Meier per arm at some days, and weighted RMST to 90 days
km <- survfit(Surv(time, event) ~ arm, data = d, weights = w)
days <- c(10, 30, 60, 90, 150)
sk <- summary(km, times = days, extend = TRUE)
km_out <- list()
for (lev in levels(d$arm)) {
  sel <- sk$strata == paste0("arm=", lev)
  km_out[[lev]] <- setNames(as.list(num(sk$surv[sel])), as.character(days))
}
rm <- summary(km, rmean = 90)$table[, "rmean"]
rmst_out <- list(usual_care = num(rm[1]), peer = num(rm[2]))

# --- start-stop data with tmerge: sessions in the last 14 days, i.e. over (day, day + 14]
base <- d[, c("participant_id", "arm", "age", "homeless", "stimulant_use", "site", "time", "event")]
tv <- tmerge(base, base, id = participant_id, dropout = event(time, event))
cx$one <- 1
cx_end <- transform(cx, day_end = day + 14)
tv <- tmerge(tv, cx, id = participant_id, started = cumtdc(day, one))
tv <- tmerge(tv, cx_end, id = participant_id, ended = cumtdc(day_end, one))
# participants without sessions get NA from tmerge (no rows in data2): they have had none
tv$started[is.na(tv$started)] <- 0
tv$ended[is.na(tv$ended)] <- 0
tv$recent <- tv$started - tv$ended
tv$any_recent <- as.integer(tv$recent > 0)
cox_tv <- coxph(Surv(tstart, tstop, dropout) ~ arm + recent + age + homeless + stimulant_use, data = tv)
cox_tv_any <- coxph(Surv(tstart, tstop, dropout) ~ arm + any_recent + age + homeless + stimulant_use,
                    data = tv, cluster = participant_id)
cox_tv_strat <- coxph(Surv(tstart, tstop, dropout) ~ any_recent + arm + strata(site), data = tv,
                      ties = "breslow")
len <- tv$tstop - tv$tstart
expo <- aggregate(cbind(recent_days = len * tv$recent, any_days = len * tv$any_recent, rows = 1) ~ participant_id,
                  data = tv, FUN = sum)
write.csv(expo, file.path(dir, "observational_r_exposure.csv"), row.names = FALSE)

# --- landmark at day 30: exposure = any session on days 1..30; among time > 30; clock restarted at 30
L <- 30
ever_by_L <- unique(cx$participant_id[cx$day <= L])
lm <- d[d$time > L, ]
lm$exposed <- as.integer(lm$participant_id %in% ever_by_L)
cox_lm <- coxph(Surv(time - L, event) ~ exposed, data = lm)
# --- naive "ever had a session" (immortal-time biased)
d$ever <- as.integer(d$participant_id %in% cx$participant_id)
cox_ever <- coxph(Surv(time, event) ~ ever, data = d)

res <- list(
  R_version = R.version.string, survival_version = as.character(packageVersion("survival")),
  propensity = list(coef = as.list(coef(ps_fit)), ps = ps, weights = w, weights_trim_1_99 = num(w_trim),
                    ess = sum(w)^2 / sum(w^2)),
  cox_iptw_cluster_site = cox_out(cox_site), cox_iptw_robust = cox_out(cox_row), cox_naive = cox_out(cox_naive),
  weighted_km = km_out, weighted_rmst_90 = rmst_out,
  cox_timevarying_recent = cox_out(cox_tv), cox_timevarying_any_cluster = cox_out(cox_tv_any),
  cox_timevarying_any_strata_site_breslow = cox_out(cox_tv_strat), timevarying_rows = nrow(tv),
  landmark_30 = c(cox_out(cox_lm), list(n_at_risk = nrow(lm), n_exposed = sum(lm$exposed))),
  naive_ever = cox_out(cox_ever)
)
jsonlite_ok <- requireNamespace("jsonlite", quietly = TRUE)
if (jsonlite_ok) {
  writeLines(jsonlite::toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE),
             file.path(dir, "observational_r.json"))
} else {
  # minimal JSON writer (numbers at 17 significant digits), for R without jsonlite
  tojson <- function(x) {
    if (is.list(x)) {
      if (!is.null(names(x))) {
        return(paste0("{", paste0('"', names(x), '": ', vapply(x, tojson, ""), collapse = ", "), "}"))
      }
      return(paste0("[", paste(vapply(x, tojson, ""), collapse = ", "), "]"))
    }
    if (is.character(x)) return(if (length(x) == 1) paste0('"', x, '"') else tojson(as.list(x)))
    v <- formatC(x, digits = 17, format = "g")
    if (length(x) == 1) v else paste0("[", paste(v, collapse = ", "), "]")
  }
  writeLines(tojson(res), file.path(dir, "observational_r.json"))
}
cat("wrote", file.path(dir, "observational_r.json"), "\n")
