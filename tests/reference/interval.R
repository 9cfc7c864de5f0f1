# Reference values for peerstudy.survival.interval and peerstudy.data.programme.teds (tests/test_survival_interval.py,
# tests/test_teds.py). Run from tests/reference: Rscript --vanilla interval.R  (R survival >= 3.5).
# Reads ../../data/synthetic/teds_d_synthetic.csv (written by peerstudy.make_data.write_programme_examples)
# and derives the intervals here, independently of the Python reader:
#   dropout = REASON 2 or 3; LOS 1-30 = day d; 31-37 = bands 31-45, 46-60, 61-90, 91-120, 121-180, 181-365, >365.
#   dropout on day d -> (d-1, d]; in band [a, b] -> (a-1, b]; open band -> right-censored at 365.
#   other endings: day d -> right-censored at d; band [a, b] -> right-censored at (a-1+b)/2; open band -> at 366.
# Writes interval_reference.json.
suppressMessages(library(survival))
library(jsonlite)

teds <- read.csv("../../data/synthetic/teds_d_synthetic.csv")
first <- ifelse(teds$LOS <= 30, teds$LOS, c(31, 46, 61, 91, 121, 181, 366)[pmax(teds$LOS - 30, 1)])
last <- ifelse(teds$LOS <= 30, teds$LOS, c(45, 60, 90, 120, 180, 365, Inf)[pmax(teds$LOS - 30, 1)])
drop <- teds$REASON %in% c(2, 3)
band <- first != last & is.finite(last)
cens <- ifelse(band, (first - 1 + last) / 2, first)
lower <- ifelse(drop, first - 1, cens)
upper <- ifelse(drop, last, Inf)
# interval2: NA = infinite; a lower bound of 0 is left-censoring (-Inf, upper]
left <- ifelse(lower == 0, NA, lower)
right <- ifelse(is.finite(upper), upper, NA)

agemid <- c(13, 16, 19, 22.5, 27, 32, 37, 42, 47, 52, 59.5, 70)[teds$AGE]
d <- data.frame(left = left, right = right, lower = lower, upper = upper,
                age10 = (agemid - 32) / 10, homeless = as.integer(teds$LIVARAG == 1),
                stimulant_use = as.integer(teds$SUB1 %in% c(3, 10, 11, 12)), injects = teds$IDU,
                unemployed = as.integer(teds$EMPLOY == 3))

km <- survfit(Surv(left, right, type = "interval2") ~ 1, data = d)
horizons <- c(1:30, 45, 60, 90, 120, 180, 365)
sk <- summary(km, times = horizons, extend = TRUE)

fit <- survreg(Surv(left, right, type = "interval2") ~ age10 + homeless + stimulant_use + injects + unemployed,
               data = d, dist = "weibull", control = survreg.control(rel.tolerance = 1e-12, maxiter = 100))
fit0 <- survreg(Surv(left, right, type = "interval2") ~ 1, data = d, dist = "weibull",
                control = survreg.control(rel.tolerance = 1e-12))
v <- vcov(fit)

# all-cause discharge: (first-1, last], open band right-censored at 365
dl <- ifelse(first - 1 == 0, NA, first - 1)
dr <- ifelse(is.finite(last), last, NA)
km_all <- survfit(Surv(dl, dr, type = "interval2") ~ 1)
sa <- summary(km_all, times = c(30, 90, 180), extend = TRUE)

# a small hand-made set with exact, left-, right- and interval-censored times and overlapping intervals
hl <- c(NA, 1, 2, 30, 30, 45, 60, 365, 5, 10, 12, 3, NA, 20)
hr <- c(1, 1, 2, 45, 45, 60, NA, NA, 5, 25, NA, 8, 4, 40)
hk <- survfit(Surv(hl, hr, type = "interval2") ~ 1)
hw <- survreg(Surv(hl, hr, type = "interval2") ~ 1, dist = "weibull", control = survreg.control(rel.tolerance = 1e-12))

out <- list(
  r_version = R.version.string, survival_version = as.character(packageVersion("survival")),
  n = nrow(d), n_dropout = sum(drop),
  turnbull = list(times = sk$time, surv = sk$surv),
  discharge_turnbull = list(times = sa$time, surv = sa$surv),
  weibull = list(coef = as.list(coef(fit)), se = as.list(sqrt(diag(v))[names(coef(fit))]),
                 log_scale = log(fit$scale), log_scale_se = sqrt(v["Log(scale)", "Log(scale)"]),
                 loglik = fit$loglik[2]),
  weibull_null = list(intercept = unname(coef(fit0)), log_scale = log(fit0$scale), loglik = fit0$loglik[2]),
  hand = list(lower = ifelse(is.na(hl), 0, hl), upper = ifelse(is.na(hr), "Inf", hr), km_time = hk$time,
              km_surv = hk$surv, weibull_intercept = unname(coef(hw)), weibull_log_scale = log(hw$scale),
              weibull_loglik = hw$loglik[2])
)
write_json(out, "interval_reference.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("wrote interval_reference.json\n")
