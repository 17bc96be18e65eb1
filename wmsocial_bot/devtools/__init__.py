"""Developer tooling shipped with the package: the local test wiki and the platform simulator.

Nothing here is used by the bot in production; tests, benchmarks and the offline demo use it.
"""
