# Reference values for peerstudy.survival cox / zph / aft / finegray (R survival + cmprsk, Debian packages
# r-cran-survival, r-cran-cmprsk).
#
# Regenerate from the repository root with
#     .venv/bin/python tests/reference/make_survival_models_cohort.py    # the simulated cohort (only if changed)
#     Rscript --vanilla tests/reference/survival_models.R
# It reads the packaged real datasets (src/peerstudy/data/uis.csv, pharmacoSmoking.csv), Rossi from carData
# (the same data as lifelines.datasets.load_rossi) and the simulated cohort survival_models_cohort.csv, and writes
# survival_models.json beside this script (jsonlite, 15 significant digits).
suppressPackageStartupMessages({library(survival); library(cmprsk); library(jsonlite)})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
root <- normalizePath(file.path(here, "..", ".."))

uis <- read.csv(file.path(root, "src/peerstudy/data/uis.csv"))
uis$AGE_SITE <- uis$AGE * uis$SITE
uis$RACE_SITE <- uis$RACE * uis$SITE
pharm <- read.csv(file.path(root, "src/peerstudy/data/pharmacoSmoking.csv"))
pharm$grp <- factor(ifelse(pharm$grp == "C", "combination", "patchOnly"))
pharm$employment <- factor(pharm$employment, levels = c("ft", "other", "pt"))
pharm$ageGroup4 <- cut(pharm$age, c(0, 34, 49, 64, Inf), labels = c("21-34", "35-49", "50-64", "65+"))
rossi <- carData::Rossi[, c("week", "arrest", "fin", "age", "prio")]
rossi$fin <- as.integer(rossi$fin == "yes")
sim <- read.csv(file.path(here, "survival_models_cohort.csv"))
sim$arm <- factor(sim$arm, levels = c("usual_care", "peer"))

cox_out <- function(fit) {
  s <- summary(fit)$coefficients
  out <- list(coef = as.list(coef(fit)), se = as.list(sqrt(diag(if (is.null(fit$naive.var)) fit$var else fit$naive.var))),
              loglik = fit$loglik[2], loglik_null = fit$loglik[1], concordance = unname(fit$concordance["concordance"]),
              n = fit$n, events = fit$nevent, p = as.list(s[, ncol(s)]))
  if (!is.null(fit$naive.var)) out$robust_se <- as.list(sqrt(diag(fit$var)))
  out
}
zph_out <- function(fit, transform = "km") {
  z <- cox.zph(fit, transform = transform)
  list(table = lapply(split(as.data.frame(z$table), rownames(z$table)), as.list),
       x = z$x, time = z$time, y = lapply(seq_len(ncol(z$y)), function(j) z$y[, j]), y_names = colnames(z$y))
}
sim_covs <- "arm + age + female + homeless + depression + prior_treatments"
sf <- function(rhs) as.formula(paste("Surv(time, event) ~", rhs))

res <- list()
# --- published / real-data models
res$uis_breslow <- cox_out(coxph(Surv(TIME, CENSOR) ~ AGE + BECK + ND1 + ND2 + IV3 + RACE + TREAT + SITE +
                                   AGE_SITE + RACE_SITE, data = uis, ties = "breslow"))
res$uis_treat_efron <- cox_out(coxph(Surv(TIME, CENSOR) ~ TREAT, data = uis))
pfit <- coxph(Surv(ttr, relapse) ~ grp + employment + ageGroup4, data = pharm)
res$pharmaco <- cox_out(pfit)
res$pharmaco_zph <- zph_out(pfit)
rfit <- coxph(Surv(week, arrest) ~ fin + age + prio, data = rossi)
res$rossi <- cox_out(rfit)
res$rossi_breslow <- cox_out(coxph(Surv(week, arrest) ~ fin + age + prio, data = rossi, ties = "breslow"))
res$rossi_zph <- zph_out(rfit)
res$rossi_zph_identity <- zph_out(rfit, "identity")
res$rossi_zph_log <- zph_out(rfit, "log")
res$rossi_zph_rank <- zph_out(rfit, "rank")

# --- simulated canonical cohort
efit <- coxph(sf(sim_covs), data = sim)
res$sim_efron <- cox_out(efit)
bfit <- coxph(sf(sim_covs), data = sim, ties = "breslow")
res$sim_breslow <- cox_out(bfit)
sfit <- coxph(sf(paste(sim_covs, "+ strata(site)")), data = sim)
res$sim_strata <- cox_out(sfit)
res$sim_cluster <- cox_out(coxph(sf(sim_covs), data = sim, cluster = site))
res$sim_cluster_breslow <- cox_out(coxph(sf(sim_covs), data = sim, cluster = site, ties = "breslow"))
res$sim_strata_cluster <- cox_out(coxph(sf(paste(sim_covs, "+ strata(site)")), data = sim, cluster = site))
res$sim_weights <- cox_out(coxph(sf(sim_covs), data = sim, weights = w))
res$sim_weights_int <- cox_out(coxph(sf(sim_covs), data = sim, weights = wi))
res$sim_weights_cluster <- cox_out(coxph(sf(sim_covs), data = sim, weights = w, cluster = site))
# counting process: split at days 30 and 90 (same fit as without the split; exercises (start, stop])
split <- survSplit(Surv(time, event) ~ ., data = sim, cut = c(30, 90), episode = "period", start = "tstart")
write.csv(split[, c("participant_id", "site", "arm", "age", "female", "homeless", "depression",
                    "prior_treatments", "tstart", "time", "event", "period")],
          file.path(here, "survival_models_split.csv"), row.names = FALSE)
res$sim_counting <- cox_out(coxph(Surv(tstart, time, event) ~ arm + age + female + homeless + depression +
                                    prior_treatments, data = split, cluster = participant_id))
res$sim_counting_strata <- cox_out(coxph(Surv(tstart, time, event) ~ arm + age + female + homeless + depression +
                                           prior_treatments + strata(period), data = split))
res$sim_zph <- zph_out(efit)
res$sim_zph_breslow <- zph_out(bfit)
res$sim_zph_strata <- zph_out(sfit)
res$sim_zph_weights <- zph_out(coxph(sf(sim_covs), data = sim, weights = w))

# --- Weibull AFT
aft_out <- function(fit) {
  v <- vcov(fit)
  list(coef = as.list(coef(fit)), se = as.list(sqrt(diag(v))[names(coef(fit))]), log_scale = log(fit$scale),
       log_scale_se = sqrt(v["Log(scale)", "Log(scale)"]), scale = fit$scale, loglik = fit$loglik[2],
       n = nrow(fit$y))
}
res$aft_sim <- aft_out(survreg(Surv(time, event) ~ arm + age + female + homeless + depression + prior_treatments,
                               data = sim, dist = "weibull"))
res$aft_rossi <- aft_out(survreg(Surv(week, arrest) ~ fin + age + prio, data = rossi, dist = "weibull"))
res$aft_uis <- aft_out(survreg(Surv(TIME, CENSOR) ~ TREAT + AGE + BECK + IV3, data = uis, dist = "weibull"))

# --- competing endings: cause-specific Cox, Fine-Gray via finegray() + weighted coxph, and cmprsk::crr
sim$ending <- factor(ifelse(sim$outcome %in% c("retained", "lost_to_follow_up"), "censor", sim$outcome),
                     levels = c("censor", "dropout", "incarcerated", "died"))
res$cs_sim <- cox_out(coxph(Surv(time, outcome == "dropout") ~ arm + age + homeless + depression, data = sim))
fg_out <- function(cause, cluster = FALSE) {
  fg <- finegray(Surv(time, ending) ~ ., data = sim, etype = cause)
  fit <- if (cluster) coxph(Surv(fgstart, fgstop, fgstatus) ~ arm + age + homeless + depression,
                            data = fg, weight = fgwt, cluster = site)
         else coxph(Surv(fgstart, fgstop, fgstatus) ~ arm + age + homeless + depression,
                    data = fg, weight = fgwt, cluster = participant_id)
  cox_out(fit)
}
res$fg_dropout <- fg_out("dropout")
res$fg_dropout_site <- fg_out("dropout", cluster = TRUE)
res$fg_incarcerated <- fg_out("incarcerated")
fg <- finegray(Surv(time, ending) ~ ., data = sim, etype = "dropout")
res$fg_dropout_breslow <- cox_out(coxph(Surv(fgstart, fgstop, fgstatus) ~ arm + age + homeless + depression,
                                        data = fg, weight = fgwt, cluster = participant_id, ties = "breslow"))
res$fg_dropout_breslow$expanded_rows <- nrow(fg)
cov1 <- cbind(`arm[peer]` = as.integer(sim$arm == "peer"), age = sim$age, homeless = sim$homeless,
              depression = sim$depression)
status <- ifelse(sim$ending == "censor", 0L, as.integer(sim$ending) - 1L)   # 1 dropout, 2 incarcerated, 3 died
crr_fit <- crr(sim$time, status, cov1, failcode = 1, cencode = 0)
res$crr_dropout <- list(coef = as.list(crr_fit$coef), se = as.list(sqrt(diag(crr_fit$var))), n = crr_fit$n,
                        loglik = crr_fit$loglik)

res$versions <- list(R = R.version.string, survival = as.character(packageVersion("survival")),
                     cmprsk = as.character(packageVersion("cmprsk")))
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "survival_models.json"))
cat("wrote", file.path(here, "survival_models.json"), "\n")
