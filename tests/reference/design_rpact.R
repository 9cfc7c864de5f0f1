# Reference values for peerstudy.design.power from rpact (getSampleSizeSurvival, getPowerSurvival).
# Run from this folder: Rscript --vanilla design_rpact.R  -> design_rpact_samplesize.csv, design_rpact_power.csv
#
# peerstudy works in days; rpact is unit-free except that dropoutRate1/2 are proportions lost by
# dropoutTime (default 12, meant as months). We pass every time in months (days / 30.4375, a month
# being 365.25 / 12 days) with dropoutTime = 12, so "dropout_per_year" is the proportion lost in a year.
# allocation = share allocated to the treatment (peer) arm; rpact's allocationRatioPlanned = n1 / n2.
suppressMessages(library(rpact))
month <- 365.25 / 12
grid <- expand.grid(
  hazard_ratio = c(0.6, 0.8, 0.9, 1.25),
  alpha = c(0.05, 0.01),
  power = c(0.8, 0.9),
  allocation = c(0.5, 2 / 3, 1 / 3),
  method = c("Schoenfeld", "Freedman"),
  control_median = c(60, 150),
  accrual = c(365, 548),
  follow_up = c(90, 365),
  dropout_per_year = c(0, 0.1, 0.3),
  stringsAsFactors = FALSE
)
# a deterministic subset keeps the file small but covers every level of every factor
set.seed(20240611)
grid <- grid[sort(sample(nrow(grid), 120)), ]
rows <- vector("list", nrow(grid))
for (i in seq_len(nrow(grid))) {
  g <- grid[i, ]
  d <- getDesignGroupSequential(kMax = 1, alpha = g$alpha, sided = 2, beta = 1 - g$power)
  s <- getSampleSizeSurvival(d,
    hazardRatio = g$hazard_ratio, median2 = g$control_median / month,
    accrualTime = c(0, g$accrual / month), followUpTime = g$follow_up / month,
    dropoutRate1 = g$dropout_per_year, dropoutRate2 = g$dropout_per_year, dropoutTime = 12,
    allocationRatioPlanned = g$allocation / (1 - g$allocation), typeOfComputation = g$method
  )
  rows[[i]] <- data.frame(g, events = s$maxNumberOfEvents, subjects = s$maxNumberOfSubjects,
                          subjects_peer = s$nFixed1, subjects_usual_care = s$nFixed2)
}
out <- do.call(rbind, rows)
out$method <- tolower(out$method)
write.csv(out, "design_rpact_samplesize.csv", row.names = FALSE)

pgrid <- expand.grid(
  hazard_ratio = c(0.6, 0.8, 0.9, 1.25), alpha = c(0.05, 0.01), events = c(50, 200, 631),
  allocation = c(0.5, 2 / 3), method = c("Schoenfeld", "Freedman"), stringsAsFactors = FALSE
)
prow <- vector("list", nrow(pgrid))
for (i in seq_len(nrow(pgrid))) {
  g <- pgrid[i, ]
  d <- getDesignGroupSequential(kMax = 1, alpha = g$alpha, sided = 2)
  # with maxNumberOfSubjects given, power depends on the events only; the timing is a placeholder
  p <- getPowerSurvival(d,
    hazardRatio = g$hazard_ratio, median2 = 3, accrualTime = c(0, 12),
    maxNumberOfEvents = g$events, maxNumberOfSubjects = 10 * g$events,
    allocationRatioPlanned = g$allocation / (1 - g$allocation), typeOfComputation = g$method
  )
  prow[[i]] <- data.frame(g, power = p$overallReject)
}
pout <- do.call(rbind, prow)
pout$method <- tolower(pout$method)
write.csv(pout, "design_rpact_power.csv", row.names = FALSE)
cat("rpact", as.character(packageVersion("rpact")), ":", nrow(out), "sample sizes,", nrow(pout), "powers\n")
