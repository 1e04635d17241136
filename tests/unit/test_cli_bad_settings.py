"""A setting that does not validate stops the command with the field and its variable named, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys


def test_a_bad_sender_pool_is_named_and_the_worker_does_not_start(tmp_path):
    env = {**os.environ, "SOLIDARITY_TWILIO__SENDERS": '[{"from_number": "+15005550010", "countries": ["Kenya"]}]'}
    done = subprocess.run([sys.executable, "-m", "streams.cli", "worker"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "twilio.senders.0.countries (SOLIDARITY_TWILIO__SENDERS)" in done.stderr
    assert "'Kenya' is not an ISO 3166 country code" in done.stderr
    assert "Traceback" not in done.stderr
