# Reference values for peerstudy.design.boundaries and peerstudy.design.sequential from rpact
# (getDesignGroupSequential, getSampleSizeSurvival, getPowerSurvival).
# Run from this folder: Rscript --vanilla design_sequential.R  -> design_sequential.json (about 2 minutes)
#
# Times: peerstudy works in days; rpact's times are passed in months (days / 30.4375, a month being
# 365.25 / 12 days) and its analysis times converted back. Loss to follow-up: "lost" lost by day "lost_by"
# is rpact's dropoutRate1 = dropoutRate2 = lost with dropoutTime = lost_by (in months).
# allocation = share allocated to peer support; rpact's allocationRatioPlanned = n1 / n2.
suppressMessages({library(rpact); library(jsonlite)})
month <- 365.25 / 12
grid <- expand.grid(
  design = c("OF", "P", "asOF", "asP"),
  looks = c(2, 3, 4),
  sided = c(1, 2),
  rates = c("equal", "unequal"),
  futility = c("none", "binding", "nonbinding"),
  hazard_ratio = c(0.7, 0.8, 1.25),
  power = c(0.8, 0.9),
  method = c("Schoenfeld", "Freedman"),
  allocation = c(0.5, 2 / 3),
  stringsAsFactors = FALSE
)
grid <- grid[!(grid$sided == 2 & grid$futility != "none"), ]
# a deterministic subset keeps the file small but covers every level of every factor
set.seed(20261201)
grid <- grid[sort(sample(nrow(grid), 96)), ]
timings <- list(
  list(control_median = 60, accrual = 548, follow_up = 180, lost = 0.1, lost_by = 365.25),
  list(control_median = 150, accrual = 365, follow_up = 365, lost = 0.2, lost_by = 365),
  list(control_median = 90, accrual = 730, follow_up = 90, lost = 0, lost_by = 365.25)
)
rates_of <- function(kind, k) {
  if (kind == "equal") return((1:k) / k)
  list(`2` = c(0.4, 1), `3` = c(0.3, 0.6, 1), `4` = c(0.25, 0.45, 0.75, 1))[[as.character(k)]]
}
futility_of <- function(k) c(0, 0.3, 0.5)[seq_len(k - 1)]
rows <- vector("list", nrow(grid))
for (i in seq_len(nrow(grid))) {
  g <- as.list(grid[i, ])
  tm <- timings[[(i - 1) %% length(timings) + 1]]
  alpha <- if (g$sided == 1) 0.025 else 0.05
  rates <- rates_of(g$rates, g$looks)
  args <- list(kMax = g$looks, alpha = alpha, beta = 1 - g$power, sided = g$sided, typeOfDesign = g$design,
               informationRates = rates)
  fut <- NULL
  if (g$futility != "none") {
    fut <- futility_of(g$looks)
    args$futilityBounds <- fut
    args$bindingFutility <- g$futility == "binding"
  }
  d <- do.call(getDesignGroupSequential, args)
  s <- getSampleSizeSurvival(d,
    hazardRatio = g$hazard_ratio, median2 = tm$control_median / month,
    accrualTime = c(0, tm$accrual / month), followUpTime = tm$follow_up / month,
    dropoutRate1 = tm$lost, dropoutRate2 = tm$lost, dropoutTime = tm$lost_by / month,
    allocationRatioPlanned = g$allocation / (1 - g$allocation), typeOfComputation = g$method
  )
  # power for given events and participants: the design's own maximum, and 80% of it
  p <- getPowerSurvival(d,
    hazardRatio = g$hazard_ratio, median2 = tm$control_median / month,
    accrualTime = c(0, tm$accrual / month), maxNumberOfEvents = 0.8 * s$maxNumberOfEvents,
    maxNumberOfSubjects = s$maxNumberOfSubjects,
    dropoutRate1 = tm$lost, dropoutRate2 = tm$lost, dropoutTime = tm$lost_by / month,
    allocationRatioPlanned = g$allocation / (1 - g$allocation), typeOfComputation = g$method,
    directionUpper = g$hazard_ratio > 1
  )
  hr_upper <- if (g$sided == 2) s$criticalValuesEffectScaleUpper else s$criticalValuesEffectScale
  g$method <- tolower(g$method)
  rows[[i]] <- c(g, tm, list(
    alpha = alpha, information_rates = I(rates),
    futility_bounds = if (is.null(fut)) NULL else I(fut),
    critical_values = I(d$criticalValues), alpha_spent = I(d$alphaSpent),
    inflation_factor = getDesignCharacteristics(d)$inflationFactor,
    max_events = s$maxNumberOfEvents, max_subjects = s$maxNumberOfSubjects,
    events_per_look = as.vector(s$eventsPerStage),
    expected_events_h0 = s$expectedEventsH0, expected_events_h01 = s$expectedEventsH01,
    expected_events_h1 = s$expectedEventsH1, expected_subjects_h1 = s$expectedNumberOfSubjectsH1,
    analysis_times = as.vector(s$analysisTime) * month, subjects_per_look = as.vector(s$numberOfSubjects),
    critical_values_hr = as.vector(hr_upper),
    critical_values_hr_lower = if (g$sided == 2) as.vector(s$criticalValuesEffectScaleLower) else NULL,
    futility_hr = if (is.null(fut)) NULL else I(as.vector(s$futilityBoundsEffectScale)),
    reject_per_look = as.vector(s$rejectPerStage), futility_per_look = I(as.vector(s$futilityPerStage)),
    power_events = 0.8 * s$maxNumberOfEvents, power_at_events = p$overallReject,
    power_reject_per_look = as.vector(p$rejectPerStage),
    power_expected_events = p$expectedNumberOfEvents
  ))
}
# power of a fixed two-sided design for N participants split exactly (n_peer = round(N * allocation)), with
# loss to follow-up as a proportion by a day: the expected dropouts are N times rpact's probability of an
# observed dropout for the realised ratio n_peer / n_usual_care, and the power is rpact's for those dropouts
fgrid <- expand.grid(subjects = c(301, 800), allocation = c(0.5, 2 / 3), hazard_ratio = c(0.75, 1.3),
                     lost = c(0, 0.2), lost_by = c(180, 365), stringsAsFactors = FALSE)
frows <- vector("list", nrow(fgrid))
for (i in seq_len(nrow(fgrid))) {
  g <- as.list(fgrid[i, ])
  n1 <- round(g$subjects * g$allocation)
  n2 <- g$subjects - n1
  d <- getDesignGroupSequential(kMax = 1, alpha = 0.05, sided = 2, beta = 0.2)
  timing <- list(hazardRatio = g$hazard_ratio, median2 = 120 / month, accrualTime = c(0, 365 / month),
                 followUpTime = 180 / month, dropoutRate1 = g$lost, dropoutRate2 = g$lost,
                 dropoutTime = g$lost_by / month, allocationRatioPlanned = n1 / n2)
  s <- do.call(getSampleSizeSurvival, c(list(d), timing))
  events <- g$subjects * s$maxNumberOfEvents / s$maxNumberOfSubjects
  timing$followUpTime <- NULL
  p <- do.call(getPowerSurvival, c(list(d), timing, list(maxNumberOfEvents = events,
                                                          maxNumberOfSubjects = g$subjects)))
  frows[[i]] <- c(g, list(control_median = 120, accrual = 365, follow_up = 180, subjects_peer = n1,
                          subjects_usual_care = n2, events = events, power = p$overallReject))
}
out <- list(rpact = as.character(packageVersion("rpact")), designs = rows, fixed_power = frows)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", pretty = FALSE), "design_sequential.json")
cat("rpact", out$rpact, ":", length(rows), "group-sequential designs,", length(frows), "fixed powers\n")
