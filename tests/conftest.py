import sys

import pytest

from builders import Exports, loose_plugins
from mengui_core import plugins


def pytest_configure(config):
    # Keep a developer's installed third-party plugins out of the tests.
    sys._called_from_test = True


def pytest_unconfigure(config):
    if hasattr(sys, "_called_from_test"):
        del sys._called_from_test


@pytest.fixture
def exports(tmp_path):
    """A builder for one hospital's export files, written as real CSV files."""
    return Exports(tmp_path / "exports")


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "mengui.db"


@pytest.fixture
def clean_pm():
    """Unregister whatever a test adds to the process-wide plugin manager."""
    with loose_plugins():
        yield plugins.pm
