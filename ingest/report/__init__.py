"""`ingest report`: one self-contained HTML page of what the database holds (ingest/report/cli.py).

* data.py     reads it, as SQL (sql/queries/report_*.sql) over the project's views and aggregates
* figures.py  turns it into plotly figures (each says "no data" when its query returned nothing)
* page.py     lays the figures and tables out in one HTML file, plotly's JavaScript inlined

Python API::

    import psycopg
    from ingest.report import Window, write_report

    with psycopg.connect("postgresql://analyst@db/deribit", autocommit=True) as conn:
        write_report(conn, "report.html", Window.last_days(30))
"""

from __future__ import annotations

from ingest.report.data import ReportData, Window, fetch
from ingest.report.page import build_report, write_report

__all__ = ["ReportData", "Window", "build_report", "fetch", "write_report"]
