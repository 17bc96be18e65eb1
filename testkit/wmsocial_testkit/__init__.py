"""The bot's test kit: the local test wiki, the platform simulator and the shared pytest fixtures.

A separate package, installed only for development and CI (``pip install -e testkit``), never
with the bot: ``pip install .`` and the Toolforge build ship ``wmsocial_bot`` alone.  Tests,
benchmarks and the offline demo import it; the bot never does.
"""
