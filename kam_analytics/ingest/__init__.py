"""File ingest: read (format, encoding, delimiter) → map headers → parse → atomic load."""
from kam_analytics.ingest.load import IngestReport, ingest_file, parse_overrides, resolve_mapping
from kam_analytics.ingest.read import list_sheets

__all__ = ["IngestReport", "ingest_file", "parse_overrides", "resolve_mapping", "list_sheets"]
