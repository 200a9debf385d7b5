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
ENTRYPOINT ["sitrep"]
# The HTTP API (`sitrep serve`) arrives with the API issue; until then the image migrates the
# database and offers the store's CLI (token, import, export, verify).
CMD ["migrate"]
