# syntax=docker/dockerfile:1
# One image recipe for every Python service of Task Manager. Build from the repository root:
#   docker build -f deploy/docker/service.Dockerfile --build-arg SERVICE=auth -t taskmanager/auth .
# A service qualifies when it lives in services/$SERVICE and its pyproject declares the console
# scripts tm-$SERVICE (the gRPC server) and tm-$SERVICE-migrate (its Alembic migrations).
#
# Stages: codegen (Python stubs from protos/ with tools/gen_protos.py, the same code path as
# `make protos`) -> build (virtualenv: requirements/runtime.txt, libs/common, the service) ->
# runtime (non-root, no compilers or code generators).
#
# What an image holds: its own services/$SERVICE (tests excluded by .dockerignore), the common kit
# (libs/common), the code generated from protos/ and third_party/, and the pinned runtime
# requirements. It never COPYs another service's directory (tests/deploy/test_images.py checks it,
# and .github/scripts/images.py rebuilds an image exactly when one of these inputs changes).
# No secrets: everything secret (DATABASE_URL, keys) comes from the environment at run time.
#
# Base image: one exact tag, the same in every stage and in gateway/Dockerfile (a digest can be
# appended, `python:3.11.14-slim-bookworm@sha256:...`, where the registry is reachable to read it).

# Required: no default, so that an image is never built for the wrong service by omission.
ARG SERVICE

# --- codegen ---------------------------------------------------------------------------------
FROM python:3.11.14-slim-bookworm AS codegen
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY requirements/runtime.txt requirements/dev.txt requirements/
# The generator's pins come from the repository's own requirements files (one source of truth).
RUN grep -hE '^(grpcio|grpcio-tools|protobuf|googleapis-common-protos)==' \
        requirements/runtime.txt requirements/dev.txt > /tmp/codegen.txt \
    && test "$(wc -l < /tmp/codegen.txt)" -eq 4 \
    && pip install --no-cache-dir -r /tmp/codegen.txt
COPY protos/ protos/
COPY third_party/ third_party/
COPY tools/gen_protos.py tools/
# No .pyi (nothing type-checks in the image), no .pth (the runtime sets PYTHONPATH).
RUN python tools/gen_protos.py --no-pyi --no-pth

# --- build -----------------------------------------------------------------------------------
FROM python:3.11.14-slim-bookworm AS build
ARG SERVICE
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/venv/bin:$PATH
# Before any COPY: with SERVICE empty, services/${SERVICE}/ would be every service.
RUN case "${SERVICE}" in \
        ""|*/*|.*) echo "build with --build-arg SERVICE=<a directory of services/>" >&2; exit 1 ;; \
    esac
RUN python -m venv /opt/venv
WORKDIR /app
COPY requirements/runtime.txt requirements/
RUN pip install --no-cache-dir -r requirements/runtime.txt
COPY libs/common/ libs/common/
# tm-certs: compose's one-shot `certs` runs it from a service image (service identities).
RUN pip install --no-cache-dir --no-deps ./libs/common \
    && test -x /opt/venv/bin/tm-certs
COPY services/${SERVICE}/ services/${SERVICE}/
# Editable on purpose: a service finds its migrations beside its source (services/<name>/migrations),
# so the source stays at /app/services/<name> in the runtime image. tm-service is the stable
# name the ENTRYPOINT runs (an exec-form ENTRYPOINT cannot expand ${SERVICE}).
RUN pip install --no-cache-dir --no-deps -e "services/${SERVICE}" \
    && test -x "/opt/venv/bin/tm-${SERVICE}" \
    && test -x "/opt/venv/bin/tm-${SERVICE}-migrate" \
    && ln -s "tm-${SERVICE}" /opt/venv/bin/tm-service
COPY --from=codegen /src/build/gen/python/ gen/
RUN python -m compileall -q gen "services/${SERVICE}"

# --- runtime ---------------------------------------------------------------------------------
FROM python:3.11.14-slim-bookworm AS runtime
ARG SERVICE
ARG GRPC_PORT=50051
# Prometheus metrics (/metrics), on the gRPC host (tm_common.metrics).
ARG METRICS_PORT=9464
LABEL org.opencontainers.image.title="taskmanager-${SERVICE}" \
      org.opencontainers.image.description="Task Manager ${SERVICE} service (gRPC)"
# DATA_DIR is writable by the service user: mount a volume there for state (auth: JWT_KEYS_DIR).
RUN groupadd --system --gid 10001 taskmanager \
    && useradd --system --uid 10001 --gid taskmanager --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin taskmanager \
    && install -d -o taskmanager -g taskmanager -m 0700 /var/lib/taskmanager
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app/gen /app/gen
COPY --from=build /app/services/${SERVICE} /app/services/${SERVICE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app/gen \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GRPC_HOST=0.0.0.0 \
    GRPC_PORT=${GRPC_PORT} \
    METRICS_PORT=${METRICS_PORT} \
    DATA_DIR=/var/lib/taskmanager
WORKDIR /app
# taskmanager:taskmanager, by number so that orchestrators can check runAsNonRoot.
USER 10001:10001
EXPOSE ${GRPC_PORT} ${METRICS_PORT}
# The standard grpc.health.v1 check of the whole server (service ""): SERVING only while the
# service's own dependency checks (database, Redis, ...) pass. With TLS_* set (service identity)
# the gRPC port speaks mTLS only: the check asks HEALTH_PORT (the same answers, plaintext, served
# only with TLS on: tm_common.server) when it is set, else presents the service's own certificate.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, grpc; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; e = os.environ; s = bool(e.get('TLS_CA_FILE')); p = e.get('HEALTH_PORT') or '0'; probe = s and p != '0'; t = '127.0.0.1:' + (p if probe else e['GRPC_PORT']); o = [('grpc.enable_http_proxy', 0)]; f = [open(e[k], 'rb').read() for k in ('TLS_CA_FILE', 'TLS_KEY_FILE', 'TLS_CERT_FILE')] if s and not probe else None; c = grpc.secure_channel(t, grpc.ssl_channel_credentials(*f), options=o) if f else grpc.insecure_channel(t, options=o); r = g.HealthStub(c).Check(h.HealthCheckRequest(), timeout=3); sys.exit(r.status != h.HealthCheckResponse.SERVING)"]
# The server; migrations run from the same image: `docker run --entrypoint tm-<service>-migrate ...`
ENTRYPOINT ["tm-service"]
