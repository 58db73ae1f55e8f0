"""File ingest: read (format, encoding, delimiter) → map headers → parse → atomic load."""
from kam_analytics.ingest.load import IngestReport, Preview, ingest_file, parse_overrides, preview_file, resolve_mapping
from kam_analytics.ingest.attributes import AttributesReport, ingest_attributes
from kam_analytics.ingest.read import list_sheets

__all__ = ["IngestReport", "Preview", "preview_file", "ingest_file", "parse_overrides", "resolve_mapping", "list_sheets",
           "AttributesReport", "ingest_attributes"]
