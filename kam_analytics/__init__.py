"""KAM Analytics: key-account management analytics on a DuckDB store of transactions."""

__version__ = "0.1.0"
