"""Data in: the canonical cohort schema, bundled datasets, and programme exports (:mod:`.programme`)."""
