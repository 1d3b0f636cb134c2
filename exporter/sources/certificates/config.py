"""The ``certificates`` config section (exporter/sources/refresh.py: ``Schedule``)::

    certificates:
      enabled: true            # default; false sends no ssl command at all
      refresh_interval: 5m     # how often the list and each certificate are read again
      max_per_poll: 200        # certificates read in one poll at most (the rest in the next polls)
"""

from __future__ import annotations

from typing import Any

from exporter.sources.refresh import Schedule, parse_schedule

SECTION = "certificates"
CertificatesConfig = Schedule


def parse_certificates(value: Any) -> Schedule:
    return parse_schedule(SECTION, value)
