# The service image: the bot with the remote providers (no torch; the local-engine
# GPU image is a separate target, added with the engine).
#   docker build -t framepack-bot .
#   docker run -e DISCORD_TOKEN=... -e FAL_KEY=... -v fpbot-data:/data framepack-bot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FPBOT_DATA_DIR=/data

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY providers ./providers
COPY local_engine ./local_engine
COPY storage ./storage
RUN pip install '.[pool]' \
    && useradd --create-home --uid 10001 fpbot \
    && mkdir -p /data \
    && chown fpbot:fpbot /data

USER fpbot
# The database, job inputs and results; a framepack-bot.toml or .env placed here is read.
VOLUME ["/data"]
WORKDIR /data
ENTRYPOINT ["framepack-bot"]
CMD ["run"]
