"""Read models kept by the eventsourcing projection machinery, and the queries on them."""
