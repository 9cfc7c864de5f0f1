"""Study design: power and sample size, and simulation studies."""
