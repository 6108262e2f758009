"""A faithful, seeded, in-memory simulator of the ev.energy v2 API (vehicles part).

Start it in tests or demos::

    async with Simulator(SimulatorConfig(vehicles=10, logs_per_kind=200)) as sim:
        sim.base_url          # http://127.0.0.1:PORT/v2
        sim.user_token(0)     # a bearer token of end user 0
        sim.client_id, sim.client_secret   # OAuth client credentials (POST /o/token/)

or standalone: ``python -m evenergy_async.simulator --port 8080``.
"""

from __future__ import annotations

from ._app import Simulator
from ._config import SimulatorConfig, SimulatorStats
from ._data import DataSet
from ._faults import FAULT_KINDS, FaultConfig, FaultEvent

__all__ = [
    "FAULT_KINDS",
    "DataSet",
    "FaultConfig",
    "FaultEvent",
    "Simulator",
    "SimulatorConfig",
    "SimulatorStats",
]
