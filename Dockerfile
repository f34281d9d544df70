# One image for the API and the Celery worker (docker-compose.yml picks the
# command). Dependencies come from Pipfile.lock, dev ones included so that
# `docker-compose run --rm api invoke test` works in the same image.
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

EXPOSE 5000

CMD ["gunicorn", "-b", "0.0.0.0:5000", "run:app"]
