# The shop in a container: locked dependencies, migrations on start, then uvicorn on 0.0.0.0:8000.
# Not exercised by CI (no Docker engine there); see README.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VAR_DIR=/app/var \
    MEDIA_DIR=/app/var/media

WORKDIR /app

COPY requirements.lock ./
RUN pip install -r requirements.lock

# Run from the source tree (not a site-packages install): alembic.ini and alembic/ are found beside app/.
COPY pyproject.toml alembic.ini ./
COPY alembic ./alembic
COPY app ./app
RUN useradd --create-home --uid 10001 daoxiang \
    && mkdir -p /app/var/media \
    && chown -R daoxiang /app/var

USER daoxiang
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=5 \
    CMD python -c "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=2).status == 200 else 1)"

CMD ["sh", "-c", "python -m app.cli migrate && exec python -m app.cli serve --host 0.0.0.0 --port 8000"]
