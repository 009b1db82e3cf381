"""Layered network probes of one source: DNS, TCP, proxy, TLS, HTTP, transfer.

:func:`probe_source` walks the layers of one URL, each under its own deadline, and
returns a :class:`~unstall.doctor.model.SourceReport` naming the failing layer, a cause
id of :mod:`unstall.doctor.causes`, a message and a fix. :func:`probe_sources` probes
several at once, so a run in which every source fails takes about one deadline.
"""

from __future__ import annotations

from unstall.doctor.probe.options import ProbeOptions
from unstall.doctor.probe.source import probe_source, probe_sources

__all__ = ["ProbeOptions", "probe_source", "probe_sources"]
