#!/usr/bin/env bash
# Run the test suite on a fresh machine: the browser for the web tests (Debian's chromium),
# a virtualenv with the project and its test extras, then pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "noto sans cjk"; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi
python3.11 -m venv .venv
.venv/bin/pip install -q -e '.[test]' -e examples/mengui-guangzhou
.venv/bin/python -m pytest "$@"
# the Guangzhou example plugin's own tests, as its authors would run them
(cd examples/mengui-guangzhou && ../../.venv/bin/python -m pytest "$@")
