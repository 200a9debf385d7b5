# syntax=docker/dockerfile:1
# Build a wheel in one stage, install it into a slim runtime as a non-root user in the next.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sitrep ./sitrep
COPY events ./events
COPY projections ./projections
COPY api ./api
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 sitrep
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER sitrep
WORKDIR /home/sitrep
ENV SITREP_DATABASE_URL=sqlite:////home/sitrep/sitrep.db
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
ENTRYPOINT ["sitrep"]
# `serve` migrates the database first, then serves; `docker run IMAGE token create ...` and the
# other CLI commands work the same way.
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
