# syntax=docker/dockerfile:1
# sitrep's image. The build stage turns the project and every dependency into wheels; the
# runtime stage installs them from a read-only bind mount of that stage, so neither the wheels
# nor the build tools end up in a layer of the image. Needs BuildKit (the default builder).
#
#   docker build -t sitrep .
#   docker run -p 8000:8000 -v sitrep-data:/data sitrep            # migrates, then serves
#   docker run --rm -v sitrep-data:/data sitrep token create --role admin

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sitrep ./sitrep
COPY events ./events
COPY projections ./projections
COPY api ./api
# The cache mount only speeds up rebuilds; it is not part of any layer.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Only the wheels built above (--no-index): what runs is what was built. pip still compiles
# the installed modules once, here, so a start does not recompile them on every run (the
# non-root user cannot write __pycache__ into site-packages). pycountry's translations of
# country names (22 MB) go in the same step: sitrep uses its codes and English names only.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --no-cache-dir --find-links=/wheels sitrep \
 && python -c "import pathlib, pycountry, shutil; shutil.rmtree(pathlib.Path(pycountry.__file__).parent / 'locales')"
# A fixed, numeric non-root user (so runAsNonRoot-style checks can verify it) owning /data:
# the working directory, the default SQLite database and the demo store live there.
RUN groupadd --gid 10001 sitrep \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /data \
        --shell /usr/sbin/nologin sitrep \
 && mkdir /data \
 && chown 10001:10001 /data
# A new volume is initialised from the image's /data, so it starts owned by uid 10001.
# One SQLite file serves one container: run several instances against PostgreSQL instead.
VOLUME ["/data"]
WORKDIR /data
ENV SITREP_DATABASE_URL=sqlite:////data/sitrep.db
USER 10001:10001
EXPOSE 8000
# Liveness only (/readyz is the database check). Exit 0 healthy, 1 unhealthy: urlopen raises,
# and so exits 1, on a refused connection, a timeout or a non-2xx status. --start-interval
# needs Docker Engine 25 or later; older engines ignore it and probe every --interval.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --start-interval=2s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# `docker stop` sends SIGTERM (the default, stated here): uvicorn stops accepting, finishes
# the requests in flight, ends open event streams and the scheduler, and exits.
STOPSIGNAL SIGTERM
# `serve` brings the schema to the newest migration first (on PostgreSQL under an advisory
# lock, so several instances may start at once), then serves. Every other CLI command works
# the same way: `docker run IMAGE token create --role admin`, `docker run IMAGE migrate`.
ENTRYPOINT ["sitrep"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
