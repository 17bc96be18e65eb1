"""The shared fixtures: the test kit's pytest plugin, testkit/wmsocial_testkit/fixtures.py.

Declared here, in the one conftest above every test directory, so that each fixture is written
once; a directory's own conftest only binds what differs (tests/faults: ``suite_wiki``).
"""

pytest_plugins = ["wmsocial_testkit.fixtures"]
