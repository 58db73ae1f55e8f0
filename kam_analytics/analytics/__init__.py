"""Analytics: pure functions from an Ibis table of canonical transactions (plus parameters)
to a small DataFrame or dataclass. Aggregation runs in the database; only per-customer or
smaller results come back."""
