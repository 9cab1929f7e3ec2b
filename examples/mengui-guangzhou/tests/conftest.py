import os
import sys

# Load this plugin through its real entry point even under pytest, where mengui loads only
# its own built-ins (so that other installed plugins cannot change test results).
os.environ["MENGUI_LOAD_PLUGINS"] = "mengui-guangzhou"


def pytest_configure(config):
    sys._called_from_test = True
