"""The Discord adapter: discord.py cogs that turn interactions into job-service calls
and render the service's updates. Knows nothing about providers."""
