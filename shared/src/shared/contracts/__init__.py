"""Wire schemas that one service serves and another reads. Never table models.

* :mod:`shared.contracts.auth` — token responses and access-token claims (grid_service issues).
* :mod:`shared.contracts.grids` — areas and point location (grid serves, case reads).
* :mod:`shared.contracts.events` — case domain events (case_service relays, notify_service maps).
"""
