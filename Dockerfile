# syntax=docker/dockerfile:1
# One image for every CRM process in compose.yaml: migrate, web, worker, beat.
# Operator notes: docs/deployment.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=crm.settings \
    CRM_VAR_DIR=/var/lib/crm

RUN pip install uv==0.13.8

WORKDIR /app

# Dependencies first, from the committed lock only (no dev group): this layer is
# rebuilt only when pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

COPY . .

# Static files with the production storage (hashed names + manifest, served by
# WhiteNoise). Production settings refuse to load without a secret and hosts,
# so this step gets throwaway values that exist only for this RUN; nothing
# connects to the database or Redis here. The runtime SECRET_KEY comes from the
# environment (compose.yaml), never from the image.
RUN python -m compileall -q . \
 && CRM_ENV=production \
    SECRET_KEY=build-only-collectstatic-key-never-used-at-runtime-0123456789abcdef \
    ALLOWED_HOSTS=build.invalid \
    FIELD_ENCRYPTION_KEYS=YnVpbGQtb25seS1rZXktbmV2ZXItdXNlZC1hdC1ydW4= \
    DATABASE_URL=postgres://build@build.invalid:5432/build \
    REDIS_URL=redis://build.invalid:6379/0 \
    CRM_VAR_DIR=/tmp/crm-build \
    python manage.py collectstatic --noinput \
 && rm -rf /tmp/crm-build

# Code and static files stay root-owned and read-only to the app; the only
# writable place is /var/lib/crm (beat's schedule lives on a volume below it).
RUN groupadd --system --gid 10001 crm \
 && useradd --system --uid 10001 --gid crm --home-dir /var/lib/crm --no-create-home \
      --shell /usr/sbin/nologin crm \
 && install -d -o crm -g crm -m 0750 /var/lib/crm /var/lib/crm/beat

USER 10001:10001

EXPOSE 8000

# Same command line as the web service in compose.yaml (.ci/process_smoke.py checks).
CMD ["gunicorn", "crm.wsgi:application", "--bind", "0.0.0.0:8000", "--preload", "--worker-tmp-dir", "/dev/shm", "--timeout", "60", "--graceful-timeout", "30", "--no-control-socket", "--access-logfile", "-", "--access-logformat", "%(h)s \"%(m)s %(U)s\" %(s)s %(B)s %(M)sms"]
