# Reference values for peerstudy.survival.fast from R's survival package.
# Run from this folder: Rscript --vanilla fast_path.R  (reads fast_path_data.csv, writes fast_path_r.csv)
# fast_path_data.csv holds six simulated cohorts (whole-day times, so many ties) made once by peerstudy's
# simulator; every expected number below comes from R.
suppressMessages(library(survival))
d <- read.csv("fast_path_data.csv")
out <- list()
for (k in sort(unique(d$set))) {
  x <- d[d$set == k, ]
  lr <- survdiff(Surv(time, event) ~ peer, data = x)
  oe <- (lr$obs - lr$exp)[2]
  v <- lr$var[2, 2]
  f1 <- coxph(Surv(time, event) ~ peer, data = x, ties = "efron")
  f1r <- coxph(Surv(time, event) ~ peer, data = x, ties = "efron", cluster = site)
  fa <- coxph(Surv(time, event) ~ peer + age + homeless + depression, data = x, ties = "efron")
  far <- coxph(Surv(time, event) ~ peer + age + homeless + depression, data = x, ties = "efron", cluster = site)
  row <- data.frame(set = k, n = nrow(x), events = sum(x$event), logrank_chisq = lr$chisq,
                    logrank_o_minus_e = oe, logrank_var = v,
                    cox_coef = unname(coef(f1)), cox_se = sqrt(vcov(f1)[1, 1]), cox_loglik = f1$loglik[2],
                    cox_robust_se = sqrt(f1r$var[1, 1]))
  for (j in seq_along(coef(fa))) {
    nm <- names(coef(fa))[j]
    row[[paste0("adj_coef_", nm)]] <- unname(coef(fa)[j])
    row[[paste0("adj_se_", nm)]] <- sqrt(fa$var[j, j])
    row[[paste0("adj_robust_se_", nm)]] <- sqrt(far$var[j, j])
  }
  for (tau in c(90, 180)) {
    tab <- summary(survfit(Surv(time, event) ~ peer, data = x), rmean = tau)$table
    row[[paste0("rmst", tau, "_usual_care")]] <- tab[1, "rmean"]
    row[[paste0("rmst", tau, "_peer")]] <- tab[2, "rmean"]
    row[[paste0("rmst", tau, "_se_usual_care")]] <- tab[1, "se(rmean)"]
    row[[paste0("rmst", tau, "_se_peer")]] <- tab[2, "se(rmean)"]
  }
  out[[length(out) + 1]] <- row
}
res <- do.call(rbind, out)
write.csv(res, "fast_path_r.csv", row.names = FALSE)
cat("survival", as.character(packageVersion("survival")), ":", nrow(res), "data sets\n")
