"""peerstudy: simulate, design and analyse evaluations of peer recovery support.

Retention is the number of days from enrolment to leaving treatment; dropout is the event.
Data flows one way: scenario -> simulate -> cohort -> survival -> results -> report.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .exceptions import PeerstudyError  # noqa: E402

__all__ = ["PeerstudyError", "__version__"]
