"""The worker refuses to start with a default or empty secret when it talks to a real provider."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.settings import Settings

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("env, names", [
    ({"SOLIDARITY_TWILIO__BASE_URL": "https://api.twilio.com"},
     ["SOLIDARITY_TWILIO__AUTH_TOKEN", "SOLIDARITY_TWILIO__ACCOUNT_SID"]),
    ({"SOLIDARITY_TWILIO__BASE_URL": "https://api.twilio.com", "SOLIDARITY_TWILIO__AUTH_TOKEN": "",
      "SOLIDARITY_TWILIO__ACCOUNT_SID": "AC1234"}, ["SOLIDARITY_TWILIO__AUTH_TOKEN"]),
    ({"SOLIDARITY_SMTP__HOST": "smtp.example.org", "SOLIDARITY_SMTP__USERNAME": "alerts"},
     ["SOLIDARITY_SMTP__PASSWORD"]),
    # Production without a key-encryption key: the development key under .local/keys is refused.
    ({"SOLIDARITY_ENVIRONMENT": "production"}, ["SOLIDARITY_CRYPTO__KEY_FILE", "SOLIDARITY_CRYPTO__KEK"]),
    ({"SOLIDARITY_ENVIRONMENT": "production", "SOLIDARITY_CRYPTO__KEK": "c2VjcmV0" * 6},
     ["SOLIDARITY_CRYPTO__BLIND_INDEX_KEY", "SOLIDARITY_CRYPTO__AUDIT_KEY"]),
    ({"SOLIDARITY_ENVIRONMENT": "production", "SOLIDARITY_CRYPTO__KEY_FILE": "/k.json",
      "SOLIDARITY_CRYPTO__ENABLED": "false"}, ["SOLIDARITY_CRYPTO__ENABLED"]),
])
def test_the_worker_refuses_to_start_naming_the_setting(tmp_path, env, names):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SOLIDARITY_")}
    done = subprocess.run([str(BIN / "solidarity"), "worker"], env={**clean, **env,
                          "SOLIDARITY_DATA_DIR": str(tmp_path)}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("error: refusing to start")]
    assert sorted(n for n in names if any(n in line for line in lines)) == sorted(names), done.stdout


@pytest.mark.parametrize("env", [
    {},  # the sandbox on loopback with its own defaults: development
    {"twilio": {"base_url": "https://api.twilio.com", "auth_token": "a-real-token", "account_sid": "AC1234"},
     "crypto": {"key_file": "/etc/solidarity/keys.json"}},
    {"twilio": {"base_url": "http://[::1]:8025"}},
])
def test_real_secrets_or_the_local_sandbox_start(env):
    assert Settings(**env).insecure_defaults() == []
