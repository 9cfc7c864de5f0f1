# Reference values for peerstudy.survival.permutation (tests/test_survival_permutation.py): randomisation tests
# by full enumeration, every statistic from R's survival package.
#
# Needs R >= 4.1 with the packages survival and jsonlite (Debian: r-cran-survival, r-cran-jsonlite).
# Run from anywhere (it finds its inputs beside itself):
#     Rscript --vanilla tests/reference/permutation.R
# Input: permutation_data.csv (make_permutation_data.py: 8 sites in 2 strata, arm randomised by site with 4
# peer sites, 2 per stratum; arm_within randomised within site). Writes permutation.json beside this script
# (jsonlite digits = NA: 15 significant digits). The output is deterministic.
#
# For every allocation the design could have produced, the peer arm's log-rank O - E and chi-squared come from
# survdiff and the Efron Cox score at beta = 0 from coxph(init = 0, iter.max = 0) (the sum of its score
# residuals). Stored:
#   observed: survdiff's obs and exp per arm, O - E, variance and chi-squared for the observed site allocation,
#     and the Efron score;
#   cluster: the 70 allocations of 4 peer sites among 8 (peer site labels), each with o_minus_e, chisq and
#     efron_score, and the exact two-sided p-values of the observed allocation (#{|S| >= |S_obs|} / 70);
#   cluster_stratified: the 36 allocations with 2 peer sites per stratum, o_minus_e and the exact p;
#   individual: sites S1-S3 only, arm_within permuted within site (C(4,2) C(5,2) C(6,3) = 1200 allocations),
#     the observed O - E and the exact p-values of O - E and of chi-squared (= z^2).
# Ties between statistics: |S| >= |S_obs| - 1e-9 max(1, |S_obs|), as peerstudy counts them.
suppressPackageStartupMessages({library(survival); library(jsonlite)})

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))
d <- read.csv(file.path(here, "permutation_data.csv"))

stats_for <- function(data, peer) {
  data$peer <- as.integer(peer)
  lr <- survdiff(Surv(time, event) ~ peer, data = data)
  f0 <- coxph(Surv(time, event) ~ peer, data = data, ties = "efron", init = 0,
              control = coxph.control(iter.max = 0))
  c(o_minus_e = unname((lr$obs - lr$exp)[2]), chisq = lr$chisq, efron_score = sum(residuals(f0, type = "score")))
}
exact_p <- function(x, obs) mean(abs(x) >= abs(obs) - 1e-9 * max(1, abs(obs)))

sites <- sort(unique(d$site))
peer_obs <- d$arm == "peer"
lr <- survdiff(Surv(time, event) ~ arm, data = d)
arm_levels <- sub("^arm=", "", names(lr$n))
s_obs <- stats_for(d, peer_obs)
observed <- list(arms = arm_levels, obs = setNames(as.list(lr$obs), arm_levels),
                 exp = setNames(as.list(lr$exp), arm_levels), o_minus_e = lr$obs[arm_levels == "peer"] -
                 lr$exp[arm_levels == "peer"], variance = lr$var[arm_levels == "peer", arm_levels == "peer"],
                 chisq = lr$chisq, efron_score = unname(s_obs["efron_score"]))

# cluster: 4 peer sites among 8
combos <- combn(sites, 4, simplify = FALSE)
cl <- t(sapply(combos, function(s) stats_for(d, d$site %in% s)))
cluster <- list(
  n_allocations = length(combos),
  allocations = lapply(seq_along(combos), function(i) list(peer_sites = combos[[i]], o_minus_e = cl[i, "o_minus_e"],
                                                           chisq = cl[i, "chisq"], efron_score = cl[i, "efron_score"])),
  p_logrank = exact_p(cl[, "o_minus_e"], s_obs["o_minus_e"]),
  p_logrank_z = exact_p(sqrt(cl[, "chisq"]), sqrt(s_obs["chisq"])),
  p_cox = exact_p(cl[, "efron_score"], s_obs["efron_score"]))

# stratified: 2 peer sites in each stratum
sa <- sort(unique(d$site[d$stratum == "A"]))
sb <- sort(unique(d$site[d$stratum == "B"]))
strat <- list()
for (a in combn(sa, 2, simplify = FALSE)) for (b in combn(sb, 2, simplify = FALSE)) strat[[length(strat) + 1]] <- c(a, b)
st <- sapply(strat, function(s) stats_for(d, d$site %in% s)["o_minus_e"])
cluster_stratified <- list(
  n_allocations = length(strat),
  allocations = lapply(seq_along(strat), function(i) list(peer_sites = strat[[i]], o_minus_e = unname(st[i]))),
  p_logrank = exact_p(st, s_obs["o_minus_e"]))

# individual: within-site permutation of arm_within, sites S1-S3
sub <- d[d$site %in% c("S1", "S2", "S3"), ]
idx <- split(seq_len(nrow(sub)), sub$site)
choices <- lapply(idx, function(ix) combn(ix, sum(sub$arm_within[ix] == "peer"), simplify = FALSE))
grid <- expand.grid(lapply(choices, seq_along))
ind <- t(apply(grid, 1, function(r) {
  peer <- rep(FALSE, nrow(sub))
  for (k in seq_along(choices)) peer[choices[[k]][[r[k]]]] <- TRUE
  stats_for(sub, peer)[c("o_minus_e", "chisq")]
}))
s_ind <- stats_for(sub, sub$arm_within == "peer")
individual <- list(sites = c("S1", "S2", "S3"), n = nrow(sub), n_allocations = nrow(grid),
                   o_minus_e = unname(s_ind["o_minus_e"]), chisq = unname(s_ind["chisq"]),
                   p_logrank = exact_p(ind[, "o_minus_e"], s_ind["o_minus_e"]),
                   p_logrank_z = exact_p(sqrt(ind[, "chisq"]), sqrt(s_ind["chisq"])))

res <- list(observed = observed, cluster = cluster, cluster_stratified = cluster_stratified, individual = individual,
            versions = list(R = R.version.string, survival = as.character(packageVersion("survival")),
                            jsonlite = as.character(packageVersion("jsonlite"))))
out <- file.path(here, "permutation.json")
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), out)
cat("wrote", out, "\n")
