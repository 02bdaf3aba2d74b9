"""Live collection (`ingest run`) and its status (`ingest status`); see docs/live.md."""
