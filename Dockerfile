# The hub image: one image for every role (API, workers, adapter workers, migrations, one-off commands).
#   docker build -t contact-hub:0.1.0 .
#   docker run --rm contact-hub:0.1.0 --help
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
# The three floors (docs/architecture.md): every package pyproject.toml installs.
COPY plumbing ./plumbing
COPY tenants ./tenants
COPY routing ./routing
COPY figures ./figures
COPY backoffice ./backoffice
COPY whatif ./whatif
COPY adapters ./adapters
COPY hub ./hub
RUN pip install . && rm -rf /app/plumbing /app/tenants /app/routing /app/figures /app/backoffice /app/whatif \
    /app/adapters /app/hub
# The example partners, so that `hub tenants load deploy/examples` works inside the image.
COPY deploy/examples ./deploy/examples

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin hub \
    && mkdir -p /app/.hub && chown hub /app/.hub
USER 10001

EXPOSE 8000
ENTRYPOINT ["hub"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
