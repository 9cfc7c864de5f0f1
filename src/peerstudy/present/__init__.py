"""Presentation: small-cell suppression (:mod:`.privacy`), tables for people (:mod:`.tables`) and figures (:mod:`.plots`)."""
