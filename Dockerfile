# gistbot's image. tests/test_image.py runs what this file runs (the install steps in a fresh
# virtualenv, then the app as a non-root user with the data folder and the health check), so
# keep the RUN steps plain shell and the paths below as they are.
#
# The base is pinned to an exact Python release; to pin the exact bytes too, append its digest
# (`docker buildx imagetools inspect python:3.11.13-slim-trixie`) as `@sha256:…`.
ARG PYTHON_IMAGE=python:3.11.13-slim-trixie

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies first, in a layer of their own: a change to the code doesn't reinstall them.
COPY pyproject.toml constraints.txt ./
RUN /opt/venv/bin/python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
 && /opt/venv/bin/pip install -c constraints.txt -r requirements.txt
COPY README.md LICENSE ./
COPY bot ./bot
RUN /opt/venv/bin/pip install --no-deps .

FROM ${PYTHON_IMAGE}
# A numeric user (Kubernetes' runAsNonRoot can check it) that owns the data folder: Docker
# copies the folder's owner into a new named volume, so the app can write its database there.
RUN groupadd --gid 10001 gistbot \
 && useradd --uid 10001 --gid 10001 --home-dir /home/gistbot --create-home --shell /usr/sbin/nologin gistbot \
 && mkdir -p /home/gistbot/data \
 && chown 10001:10001 /home/gistbot/data
COPY --from=build /opt/venv /opt/venv
# Shutdown must end before `docker stop` (10 s by default) sends SIGKILL: 4 s for running
# steps, then up to 5 s for background indexing requests. Unfinished jobs resume on the next
# start anyway. Raise it together with `docker run --stop-timeout`.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PORT=3000 \
    GIST_DB_PATH=/home/gistbot/data/gistbot.sqlite3 \
    GIST_SHUTDOWN_GRACE_S=4
USER 10001:10001
WORKDIR /home/gistbot
VOLUME ["/home/gistbot/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["gistbot", "health"]
STOPSIGNAL SIGTERM
CMD ["gistbot", "run"]
