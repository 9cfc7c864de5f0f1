# Reference values for peerstudy.design.cluster: an independent implementation of the same published formulas.
# Run from this folder: Rscript --vanilla design_cluster.R  -> design_cluster.json (a few seconds)
#
# * design effect for unequal cluster sizes (Eldridge, Ashby & Kerry 2006): 1 + ((cv^2 + 1) m - 1) rho
# * ICC of the observed-dropout indicator implied by a mean-one site frailty Z (gamma or log-normal, variance
#   theta) on an exponential dropout hazard Z * log(2) / control_median: Var_Z p(Z) / (pbar (1 - pbar)),
#   by adaptive quadrature (integrate) over the frailty's 1e-15 .. 1 - 1e-15 quantiles
# * Schoenfeld (or Freedman) dropouts x design effect, 1:1 sites; participants from the arms' probability of an
#   observed dropout (uniform enrolment over `accrual` days; follow-up to study end or fixed; loss to follow-up
#   a constant hazard); power with k sites per arm from the noncentral t on 2k - 1 df (or the normal)
suppressMessages(library(jsonlite))

loss_hazard <- function(lost, lost_by, loss_rate) {
  if (!is.null(loss_rate)) return(loss_rate / 365.25)
  -log1p(-lost) / lost_by
}
p_event <- function(h, accrual, follow_up, g, type) {
  total <- h + g
  leave <- if (type == "fixed") -expm1(-total * follow_up) else
    1 - exp(-total * follow_up) * -expm1(-total * accrual) / (total * accrual)
  h / total * leave
}
frailty_icc <- function(theta, dist, lambda, accrual, follow_up, g, type) {
  if (dist == "gamma") {
    dens <- function(z) dgamma(z, shape = 1 / theta, scale = theta)
    lo <- qgamma(1e-15, shape = 1 / theta, scale = theta)
    hi <- qgamma(1e-15, shape = 1 / theta, scale = theta, lower.tail = FALSE)
  } else {
    s <- sqrt(log1p(theta))
    dens <- function(z) dlnorm(z, meanlog = -s^2 / 2, sdlog = s)
    lo <- qlnorm(1e-15, meanlog = -s^2 / 2, sdlog = s)
    hi <- qlnorm(1e-15, meanlog = -s^2 / 2, sdlog = s, lower.tail = FALSE)
  }
  moment <- function(k) {
    f <- function(z) sapply(z, function(zz) p_event(zz * lambda, accrual, follow_up, g, type)^k) * dens(z)
    parts <- if (lo < 1 && 1 < hi) list(c(lo, 1), c(1, hi)) else list(c(lo, hi))
    sum(sapply(parts, function(ab) integrate(f, ab[1], ab[2], rel.tol = 1e-12, abs.tol = 1e-14,
                                             subdivisions = 2000L)$value))
  }
  p1 <- moment(1); p2 <- moment(2)
  (p2 - p1^2) / (p1 * (1 - p1))
}
effect <- function(hr, method) if (method == "schoenfeld") abs(log(hr)) / 2 else abs(1 - hr) / (1 + hr)
power_sites <- function(hr, k, m, pbar, deff, alpha, method, small) {
  d <- 2 * k * m * pbar
  delta <- effect(hr, method) * sqrt(d / deff)
  if (small) {
    df <- 2 * k - 1
    tc <- qt(1 - alpha / 2, df)
    pw <- pt(tc, df, ncp = delta, lower.tail = FALSE) + pt(-tc, df, ncp = delta)
  } else {
    z <- qnorm(1 - alpha / 2)
    pw <- pnorm(delta - z) + pnorm(-delta - z)
  }
  c(power = pw, events = d)
}

cases <- list(
  list(hr = 0.8, m = 50, cv = 0, icc = 0.02, median = 90, accrual = 548, follow_up = 180, type = "study_end",
       lost = 0.1, lost_by = 365.25, alpha = 0.05, power = 0.8, method = "schoenfeld", small = TRUE),
  list(hr = 0.75, m = 30, cv = 0.6, icc = 0.05, median = 60, accrual = 365, follow_up = 180, type = "fixed",
       lost = 0.2, lost_by = 365, alpha = 0.05, power = 0.9, method = "schoenfeld", small = TRUE),
  list(hr = 0.7, m = 20, cv = 0.4, theta = 0.1, dist = "gamma", median = 90, accrual = 548, follow_up = 180,
       type = "fixed", loss_rate = 0.2, alpha = 0.05, power = 0.8, method = "schoenfeld", small = TRUE),
  list(hr = 0.8, m = 80, cv = 0.8, theta = 0.3, dist = "lognormal", median = 120, accrual = 730,
       follow_up = 365, type = "study_end", lost = 0.15, lost_by = 365.25, alpha = 0.05, power = 0.8,
       method = "freedman", small = FALSE),
  list(hr = 1.25, m = 12.5, cv = 0.3, theta = 0.05, dist = "gamma", median = 45, accrual = 300, follow_up = 90,
       type = "study_end", lost = 0, lost_by = 365.25, alpha = 0.01, power = 0.8, method = "schoenfeld",
       small = TRUE),
  list(hr = 0.6, m = 40, cv = 0, theta = 1.5, dist = "gamma", median = 200, accrual = 400, follow_up = 200,
       type = "fixed", lost = 0.05, lost_by = 180, alpha = 0.05, power = 0.8, method = "schoenfeld",
       small = TRUE),
  list(hr = 0.85, m = 25, cv = 0.5, theta = 0.02, dist = "lognormal", median = 30, accrual = 548,
       follow_up = 60, type = "fixed", lost = 0.1, lost_by = 365.25, alpha = 0.05, power = 0.8,
       method = "schoenfeld", small = TRUE)
)
out <- list()
for (i in seq_along(cases)) {
  cs <- cases[[i]]
  g <- loss_hazard(if (is.null(cs$lost)) 0 else cs$lost, if (is.null(cs$lost_by)) 365.25 else cs$lost_by,
                   cs$loss_rate)
  lambda <- log(2) / cs$median
  rho <- if (!is.null(cs$icc)) cs$icc else
    frailty_icc(cs$theta, cs$dist, lambda, cs$accrual, cs$follow_up, g, cs$type)
  deff <- 1 + ((cs$cv^2 + 1) * cs$m - 1) * rho
  pbar <- (p_event(cs$hr * lambda, cs$accrual, cs$follow_up, g, cs$type) +
           p_event(lambda, cs$accrual, cs$follow_up, g, cs$type)) / 2
  z <- qnorm(1 - cs$alpha / 2) + qnorm(cs$power)
  d <- (z / effect(cs$hr, cs$method))^2 * deff
  k <- max(1, ceiling(d / (2 * cs$m * pbar) - 1e-9))
  while (power_sites(cs$hr, k, cs$m, pbar, deff, cs$alpha, cs$method, cs$small)[["power"]] < cs$power) k <- k + 1
  at <- power_sites(cs$hr, k, cs$m, pbar, deff, cs$alpha, cs$method, cs$small)
  # the power with a given number of sites: a few below and above the solution
  given <- lapply(c(max(1, k - 3), k + 2), function(kk) {
    pw <- power_sites(cs$hr, kk, cs$m, pbar, deff, cs$alpha, cs$method, cs$small)
    list(sites_per_arm = kk, power = pw[["power"]], events_exact = pw[["events"]])
  })
  inputs <- cs[setdiff(names(cs), character(0))]
  out[[i]] <- list(inputs = inputs, icc = rho, design_effect = deff, event_probability = pbar,
                   sites_per_arm = k, events_required = d, power = at[["power"]], events_exact = at[["events"]],
                   subjects_per_arm = ceiling(k * cs$m - 1e-9), given = given)
}
writeLines(toJSON(list(cases = out, r_version = R.version.string), auto_unbox = TRUE, digits = NA, pretty = TRUE),
           "design_cluster.json")
