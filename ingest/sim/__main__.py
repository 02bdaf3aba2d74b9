"""``python -m ingest.sim`` = ``ingest sim``."""

from ingest.sim.cli import sim

if __name__ == "__main__":
    sim(prog_name="python -m ingest.sim")
