"""Read-side handlers over the read models and Redis; never the event store."""
