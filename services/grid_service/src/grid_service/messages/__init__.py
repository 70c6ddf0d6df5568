"""Messages grid_service itself sends to people (e.g. both grids' workers of a resident's
move): written in the same transaction as the change that causes them (an outbox), relayed
to notify_service by a background loop."""
