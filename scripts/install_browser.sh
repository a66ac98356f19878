#!/bin/sh
# install_browser.sh: make sure Debian's Chromium is at /usr/bin/chromium for the browser tests
# (tests/test_playground.py drives it with the Python `playwright` package, installed by pip).
#
# Idempotent: does nothing when /usr/bin/chromium already exists. Otherwise installs the Debian
# package `chromium` with apt-get, as root or through sudo. It never runs `playwright install`,
# which downloads browsers from the internet; only the system package repositories are used.
# Exits non-zero, saying why, when Chromium cannot be installed.
set -eu

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "install_browser: $CHROMIUM is already installed ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

fail() {
    echo "install_browser: ERROR: $*" >&2
    echo "install_browser: install Chromium yourself (Debian/Ubuntu: apt-get install chromium) so that $CHROMIUM exists, then rerun." >&2
    exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "$CHROMIUM is missing and apt-get is not available on this system"

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    fail "$CHROMIUM is missing; installing it needs root, and you are not root and sudo is not available"
fi

echo "install_browser: installing Debian's chromium with apt-get (this can take a minute)"
$SUDO apt-get update -qq || fail "apt-get update failed"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
    || fail "apt-get install chromium failed"

[ -x "$CHROMIUM" ] || fail "apt-get finished but $CHROMIUM is still missing"
echo "install_browser: installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
