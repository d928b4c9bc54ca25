FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir --prefix=/install -c constraints.txt .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 gistbot
COPY --from=build /install /usr/local
USER gistbot
WORKDIR /home/gistbot
ENV PORT=3000 GIST_DB_PATH=/home/gistbot/data/gistbot.sqlite3 PYTHONUNBUFFERED=1
VOLUME ["/home/gistbot/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import os,urllib.request,sys; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"3000\")}/healthz', timeout=4); sys.exit(0)"
STOPSIGNAL SIGTERM
CMD ["gistbot", "run"]
