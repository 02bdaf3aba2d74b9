# The image of docker-compose.yml's `backup` service: the ingester (as in ../../Dockerfile) plus pg_dump of
# the timescaledb service's PostgreSQL major (17). pg_dump refuses a server newer than itself, and Debian
# bookworm (python:3.11-slim) ships only PostgreSQL 15's client, so it comes from the PostgreSQL project's
# apt repository, set up by Debian's own postgresql-common script (its signing key ships in that package).
FROM python:3.11-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-common ca-certificates \
 && /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y \
 && apt-get install -y --no-install-recommends postgresql-client-17 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ingest ./ingest
COPY migrations ./migrations
COPY sql ./sql
RUN pip install --no-cache-dir -e .
ENV INGEST_PG_BINDIR=/usr/lib/postgresql/17/bin
ENTRYPOINT ["ingest"]
CMD ["db", "backup"]
