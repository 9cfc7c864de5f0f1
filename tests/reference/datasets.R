# Fingerprints of the R original of a packaged dataset (Debian r-cran-quantreg), for tests/test_datasets.py.
#
# Regenerate from the repository root or from tests/reference/ with
#     Rscript --vanilla tests/reference/datasets.R        (or: make r-reference)
# src/peerstudy/data/uis.csv is quantreg's data(uis) exported unchanged; this writes datasets.json beside this
# script: its dimensions, column names and, per column, the sum, the sum of squares and the sum weighted by row
# number (which changes if rows are reordered), at jsonlite's full precision (15 significant digits), so the
# test can check the packaged copy against the original without a copy of the original.
# (pharmacoSmoking comes from asaur, which has no Debian package; its copy is checked against the published
# model of Moore 2016 in tests/test_survival_cox.py.)
suppressPackageStartupMessages(library(jsonlite))

args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("^--file=", "", args[grep("^--file=", args)])))

fingerprint <- function(d) {
  i <- seq_len(nrow(d))
  list(rows = nrow(d), columns = names(d),
       sum = lapply(d, sum), sum_squares = lapply(d, function(x) sum(x^2)),
       sum_by_row = lapply(d, function(x) sum(i * x)))
}

data(uis, package = "quantreg", envir = environment())
out <- list(uis = c(list(source = paste0("quantreg ", packageVersion("quantreg"), ", data(uis)")), fingerprint(uis)))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "datasets.json"))
