"""Reporter privacy (PIPL): reporters' names and phones encrypted at rest, masked by default,
revealed with a reason into an append-only audit, the phone erased some time after closure."""
