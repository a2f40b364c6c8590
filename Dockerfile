# caredge: one image for every process (api, ingest, scheduler, gateway, sim, provisioning).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1

WORKDIR /app
# Everything .dockerignore lets through: the packages pyproject.toml lists, no tests or data.
COPY . ./
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/caredge --create-home caredge \
    # `caredge mqtt provision` runs as Mosquitto's uid (1883 in eclipse-mosquitto) so the broker
    # can read the files it writes into this (volume) directory.
    && mkdir -p /mosquitto/auth && chown 1883:1883 /mosquitto/auth

USER caredge
WORKDIR /var/lib/caredge
ENV CAREDGE_VAR_DIR=/var/lib/caredge
ENTRYPOINT []
CMD ["caredge", "--help"]
