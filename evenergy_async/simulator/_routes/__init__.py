"""The simulator's route tables, one module per resource group (as the client's services)."""

from __future__ import annotations

from aiohttp import web

from . import catalogue, logs, oauth, onboarding, vehicles

__all__: list[str] = []  # private package

#: every route table, in the order the client's ``_services.py`` lists the groups
ROUTE_TABLES: tuple[web.RouteTableDef, ...] = (
    vehicles.routes, catalogue.routes, logs.routes, onboarding.routes, oauth.routes,
)
