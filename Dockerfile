FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY ingest ./ingest
COPY migrations ./migrations
COPY sql ./sql
RUN pip install --no-cache-dir -e .
ENTRYPOINT ["ingest"]
CMD ["run"]
