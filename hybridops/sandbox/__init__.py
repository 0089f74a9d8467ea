"""A local world of AWS (moto) and the routing admin API, with incident scenarios.

Importing this package is cheap: moto and the servers load only when a Sandbox starts.
"""

from __future__ import annotations

from hybridops.sandbox.scenarios import SCENARIO_FOR_INCIDENT, SCENARIOS
from hybridops.sandbox.server import Sandbox

__all__ = ["SCENARIOS", "SCENARIO_FOR_INCIDENT", "Sandbox"]
