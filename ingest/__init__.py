"""deribit-ingest: complete, correct and fresh Deribit derivatives data in TimescaleDB."""

__version__ = "0.1.0"
