# One image for the API and the Celery worker (docker-compose.yml picks the
# command). Dependencies come from Pipfile.lock, dev ones included so that
# `docker-compose run --rm api invoke test` works in the same image.
# The web console (console/): built with Node in a stage of its own, so the
# final image has its built files and no Node.
FROM node:20-slim AS console
WORKDIR /console
COPY console/package.json console/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY console/ ./
RUN node build.mjs

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# git (and ssh for ssh:// and user@host: URLs): the worker checks out
# pipeline repositories. nginx: the tests' blob server (blob_server.py).
# redis-server: each test process starts one of its own (README, Tests).
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client nginx redis-server bubblewrap \
    && rm -rf /var/lib/apt/lists/*

RUN pip install pipenv

WORKDIR /app

# Installed before the rest is copied, so a code change reuses this layer.
COPY Pipfile Pipfile.lock ./
RUN pipenv install --system --deploy --dev

COPY . .
COPY --from=console /console/dist /app/console/dist

EXPOSE 5000

CMD ["gunicorn", "-b", "0.0.0.0:5000", "run:app"]
