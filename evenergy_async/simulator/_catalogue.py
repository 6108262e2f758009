"""Static reference data the seeded generator draws from (names only; IDs come from the seed)."""

from __future__ import annotations

__all__: list[str] = []  # private module

NA = "NORTH_AMERICA"
EU = "EUROPE"

# make: (name, rank, auth_method, make-level onboarding, integration supported,
#        subscription (name, package) | None, icon?, models)
# model: (name, default connector, {region: connector}, trims)
# trim: (name, battery Wh)
MAKES: list[tuple[str, int | None, str, bool, bool, tuple[str, str] | None, bool,
                  list[tuple[str, str | None, dict[str, str], list[tuple[str, int]]]]]] = [
    ("Tesla", 1, "api", True, True, None, True, [
        ("Model 3", "NACS", {NA: "NACS", EU: "CCS"}, [
            ("Standard Range Plus (57.5 kWh)", 57500), ("Long Range (75 kWh)", 75000),
            ("Performance (79 kWh)", 79000)]),
        ("Model Y", "NACS", {NA: "NACS", EU: "CCS"}, [
            ("Long Range (75 kWh)", 75000), ("Performance (79 kWh)", 79000)]),
        ("Model S", "NACS", {NA: "NACS", EU: "CCS"}, [("Plaid (100 kWh)", 100000)]),
    ]),
    ("Volkswagen", 2, "api", True, True, ("Volkswagen We Connect ID", "We Connect ID"), True, [
        ("ID.3", "CCS", {EU: "CCS"}, [("Pro (58 kWh)", 58000), ("Pro S (77 kWh)", 77000)]),
        ("ID.4", "CCS", {EU: "CCS", NA: "CCS"}, [("Pure (52 kWh)", 52000), ("Pro (77 kWh)", 77000)]),
        ("ID. Buzz", "CCS", {EU: "CCS", NA: "CCS"}, [("Pro (77 kWh)", 77000)]),
    ]),
    ("Volvo", 3, "api", False, True, None, True, [
        ("C40", "CCS", {EU: "CCS", NA: "CCS"}, [
            ("Recharge Core (69 kWh)", 69000), ("Recharge Twin (78 kWh)", 78000)]),
        ("XC40", "CCS", {EU: "CCS", NA: "CCS"}, [("Recharge Plus (69 kWh)", 69000)]),
        ("EX30", "CCS", {EU: "CCS"}, [("Single Motor Extended Range (64 kWh)", 64000)]),
    ]),
    ("BMW", 4, "native", True, True, ("BMW ConnectedDrive", "Connected Drive"), True, [
        ("i4", "CCS", {EU: "CCS", NA: "CCS"}, [("eDrive40 (80.7 kWh)", 80700)]),
        ("iX", "CCS", {EU: "CCS", NA: "CCS"}, [("xDrive50 (105.2 kWh)", 105200)]),
        ("i3", "CCS", {EU: "CCS"}, [("120Ah (42.2 kWh)", 42200)]),
    ]),
    ("Nissan", 5, "api", True, True, None, True, [
        ("Leaf", "CHADEMO", {EU: "CHADEMO", NA: "CHADEMO"}, [
            ("40 kWh", 40000), ("e+ (62 kWh)", 62000)]),
        ("Ariya", "CCS", {EU: "CCS", NA: "NACS"}, [("63 kWh", 63000), ("87 kWh", 87000)]),
    ]),
    ("MINI", 6, "native", True, True, ("MINI Connected", "MINI Connected"), True, [
        ("Cooper SE", "CCS", {EU: "CCS"}, [("Level 3 (32.6 kWh)", 32600)]),
    ]),
    ("Kia", 7, "api", True, True, None, True, [
        ("EV6", "CCS", {EU: "CCS", NA: "NACS"}, [
            ("Standard Range (58 kWh)", 58000), ("Long Range (77.4 kWh)", 77400)]),
        ("Niro EV", "CCS", {EU: "CCS", NA: "CCS"}, [("64.8 kWh", 64800)]),
    ]),
    ("Hyundai", 8, "api", True, True, ("Bluelink", "Bluelink Connected Car"), True, [
        ("Ioniq 5", "CCS", {EU: "CCS", NA: "NACS"}, [
            ("Standard Range (58 kWh)", 58000), ("Long Range (77.4 kWh)", 77400)]),
        ("Kona Electric", "CCS", {EU: "CCS"}, [("64 kWh", 64000)]),
    ]),
    ("Ford", None, "api", True, True, None, True, [
        ("Mustang Mach-E", "CCS", {NA: "CCS", EU: "CCS"}, [
            ("Standard Range (70 kWh)", 70000), ("Extended Range (91 kWh)", 91000)]),
        ("F-150 Lightning", "CCS", {NA: "CCS"}, [
            ("Standard Range (98 kWh)", 98000), ("Extended Range (131 kWh)", 131000)]),
    ]),
    ("Polestar", 9, "api", True, True, None, True, [
        ("Polestar 2", "CCS", {EU: "CCS", NA: "CCS"}, [
            ("Long Range Single Motor (78 kWh)", 78000)]),
    ]),
    ("Rivian", 10, "api", True, True, None, True, [
        ("R1T", "NACS", {NA: "NACS"}, [("Large Pack (135 kWh)", 135000)]),
        ("R1S", "NACS", {NA: "NACS"}, [("Large Pack (135 kWh)", 135000)]),
    ]),
    ("Renault", None, "api", False, False, None, True, [
        ("Zoe", None, {EU: "CCS"}, [("R135 (52 kWh)", 52000)]),
        ("Megane E-Tech", "CCS", {EU: "CCS"}, [("EV60 (60 kWh)", 60000)]),
    ]),
    ("BYD", None, "api", False, False, None, False, [
        ("Atto 3", "CCS", {EU: "CCS", NA: "GBT"}, [("Extended Range (60.5 kWh)", 60500)]),
    ]),
]

PROVIDER_BY_MAKE = {
    "Tesla": "TESLA",
    "BMW": "SMARTCAR",
    "MINI": "SMARTCAR",
    "Volkswagen": "ENODE",
}
OTHER_PROVIDERS = ("ENODE", "SMARTCAR", "HIGH_MOBILITY")

FIRST_NAMES = (
    "Frodo", "Samwise", "Meriadoc", "Peregrin", "Rosie", "Elanor", "Arwen", "Eowyn",
    "Faramir", "Galadriel", "Bilbo", "Lobelia", "Hamfast", "Goldberry", "Celeborn", "Legolas",
    "Gimli", "Théoden", "Éomer", "Radagast",
)
LAST_NAMES = (
    "Baggins", "Gamgee", "Brandybuck", "Took", "Cotton", "Proudfoot", "Underhill", "Greenleaf",
    "Boffin", "Bolger", "Sackville", "Burrows", "Goodbody", "Hornblower", "Smallburrow",
)

# country: (region, [(address_1, city, state, postal_code, lat, lon)])
COUNTRIES: dict[str, tuple[str, list[tuple[str, str, str | None, str, float, float]]]] = {
    "GB": (EU, [
        ("1 Bagshot Row", "London", None, "EC2A 4NE", 51.5257, -0.0836),
        ("14 Queen Street", "Edinburgh", None, "EH2 1JX", 55.9547, -3.1969),
    ]),
    "US": (NA, [
        ("500 Market Street", "San Francisco", "CA", "94105", 37.7897, -122.3996),
        ("77 Massachusetts Ave", "Cambridge", "MA", "02139", 42.3601, -71.0942),
    ]),
    "DE": (EU, [("Unter den Linden 1", "Berlin", None, "10117", 52.5170, 13.3889)]),
    "FR": (EU, [("10 Rue de Rivoli", "Paris", None, "75004", 48.8555, 2.3580)]),
    "NL": (EU, [("Damrak 1", "Amsterdam", None, "1012 LG", 52.3760, 4.8975)]),
    "CA": (NA, [("100 Queen St W", "Toronto", "ON", "M5H 2N2", 43.6526, -79.3839)]),
    "ES": (EU, [("Calle Mayor 1", "Madrid", None, "28013", 40.4169, -3.7069)]),
    "NO": (EU, [("Karl Johans gate 1", "Oslo", None, "0154", 59.9110, 10.7500)]),
}
COUNTRY_ORDER = ("GB", "US", "DE", "FR", "NL", "CA", "ES", "NO")

NA_COUNTRIES = frozenset({"US", "CA", "MX", "PR"})

VEHICLE_STATES = (
    "DRIVING", "RECENTLY_FINISHED_DRIVING", "STATIONARY", "IN_SERVICE",
    "PLUGGED_IN_NOT_CHARGING", "PLUGGED_IN_CHARGING", "PLUGGED_IN_COMPLETE",
    "PLUGGED_IN_NEAR_READY_BY_TIME", "PLUGGED_IN_ALMOST_COMPLETE", "UNKNOWN", None,
)
CURRENT_AC = "AC - Typically home chargers"
CURRENT_DC = "DC - Typically OTG chargers"
COMMANDS = ("START_CHARGE", "STOP_CHARGE", "WAKE_UP", "SEND_SCHEDULE")
CONNECTOR_TYPES = ("CCS", "NACS", "CHADEMO")
MODEL_CONNECTOR_TYPES = ("CCS", "NACS", "CHADEMO", "GBT")
REGIONS = (NA, EU)
SOURCES = ("EV_ENERGY", "CAR_API", "USER", "DVLA", "PROVIDER", "FLEET", None)
CONFIDENCES = ("HIGH", "MEDIUM", "LOW", None)

ERRORS = (
    (400, "INVALID_REQUEST", "VehicleAPIBadRequest", "The provider rejected the request body."),
    (401, "AUTHENTICATION_ERROR", "VehicleAPIUnauthorized",
     "Access token expired or revoked by the vehicle owner."),
    (403, "PERMISSION_DENIED", "VehicleAPIForbidden",
     "The vehicle owner has not granted the charge-control permission."),
    (404, "VEHICLE_NOT_FOUND", "VehicleAPINotFound", "The vehicle is no longer on the account."),
    (408, "VEHICLE_ASLEEP", "VehicleAPITimeout",
     "Fahrzeug nicht erreichbar: Zeitüberschreitung beim Aufwecken."),
    (429, "RATE_LIMITED", "VehicleAPIRateLimited", "Provider rate limit reached; retry later."),
    (500, "UPSTREAM_ERROR", "VehicleAPIServerError", "Provider internal error."),
    (502, "UPSTREAM_ERROR", "VehicleAPIServerError", "Bad gateway at the provider."),
    (503, "UPSTREAM_UNAVAILABLE", "VehicleAPIUnavailable",
     "Le service du constructeur est indisponible."),
    (504, "UPSTREAM_TIMEOUT", "VehicleAPITimeout", "The provider did not answer in time."),
)
ERROR_COMMANDS = ("START_CHARGE", "STOP_CHARGE", "WAKE_UP", "SEND_SCHEDULE", "GET_STATUS")
