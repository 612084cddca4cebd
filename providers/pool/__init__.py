"""The local engine's queue: in the bot's process (the embedded default) or a pool of
GPU worker machines behind Redis (streaq). See providers.pool.contract."""
