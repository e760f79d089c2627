# Unpack for Slack on Python's slim Debian image, run as a non-root user. It mirrors the
# README's Quick start: a virtualenv, `pip install . -c constraints.txt`, `python app.py`.
# Settings come from the environment (docker run --env-file .env, or compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

WORKDIR /app
RUN python3 -m venv /opt/venv
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml constraints.txt README.md ./
COPY bot ./bot
COPY commands ./commands
COPY storage ./storage
RUN pip install --no-cache-dir . -c constraints.txt
COPY app.py ./

# SQLite (the default) keeps its file in /data; mount a volume there to keep it.
RUN useradd --create-home --uid 10001 unpack && mkdir /data && chown unpack /data
USER 10001
ENV PORT=3000 \
    DATABASE_URL=sqlite:////data/unpack.db
VOLUME ["/data"]
EXPOSE 3000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '3000') + '/healthz', timeout=4)"]

CMD ["python", "app.py"]
