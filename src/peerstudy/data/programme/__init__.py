"""Programme data in: read a programme's export (or TEDS-D), validate it, and make the canonical cohort.

:mod:`.mapping` (which column is which), :mod:`.checks` (problems and the CONSORT-style flow),
:mod:`.dates` (dated exports), :mod:`.teds` (the TEDS-D codebook and reader) and :mod:`.export`
(reading, validating and writing exports).
"""

from peerstudy.data.programme.checks import Problem, ValidationReport
from peerstudy.data.programme.export import ProgrammeData, read_export, to_export, validate_export
from peerstudy.data.programme.mapping import FIELDS, REASON_TABLES, REQUIRED_FIELDS, load_mapping

__all__ = ["REASON_TABLES", "REQUIRED_FIELDS", "FIELDS", "Problem", "ValidationReport", "ProgrammeData",
           "load_mapping", "validate_export", "read_export", "to_export"]
