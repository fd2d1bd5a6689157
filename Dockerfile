# syntax=docker/dockerfile:1
# Tickler's image. `tickler serve` by default; the chart's migration job runs `tickler migrate`
# from the same image. The final stage holds a slim Python and the app's virtualenv: no
# compilers, no pip cache, no dev or test extras. It runs as a numeric non-root user with a
# read-only root filesystem; /tmp is the one writable path, an emptyDir in the chart.
# The base is pinned by tag; the release pipeline pins it by digest (.github/workflows/release.yml).
ARG PYTHON_IMAGE=python:3.12.8-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY . .
RUN sh image/install-venv.sh /src /opt/tickler /tmp/wheels

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="tickler" \
      org.opencontainers.image.description="Task and reminder backend for AI agents, on Dapr" \
      org.opencontainers.image.source="https://github.com/tickler/tickler"
ENV PATH=/opt/tickler/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TICKLER_ENV=production
COPY --from=build /opt/tickler /opt/tickler
USER 10001:10001
EXPOSE 8000 9464
# For `docker run` and compose; Kubernetes ignores it and runs the chart's probes. Python's
# own urllib, as the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["tickler"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--no-migrate"]
