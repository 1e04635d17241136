"""`solidarity worker` refuses to start, naming the entry and field, when a policy or schedule file is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BAD = {
    "policies": ("SOLIDARITY_ESCALATION__POLICIES_FILE", "policies:\n  - id: critical\n    name: x\n"
                 "    match: {urgency: [critical]}\n    steps:\n      - {targets: [{schedule: primary}], delay: soon}\n",
                 "policies[0] (id 'critical').steps[0].delay"),
    "unknown schedule": ("SOLIDARITY_ESCALATION__POLICIES_FILE", "policies:\n  - id: critical\n    name: x\n"
                         "    match: {urgency: [critical]}\n    steps:\n      - {targets: [{schedule: primry}], delay: 5m}\n",
                         "unknown schedule 'primry'"),
    "schedules": ("SOLIDARITY_ESCALATION__SCHEDULES_FILE", "schedules:\n  - {id: primary, name: P, timezone: Mars/Base,"
                  " role: secretariat_oncall}\n", "schedules[0] (id 'primary').timezone"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_paging_file_stops_the_worker_before_it_starts(tmp_path, case):
    variable, text, named = BAD[case]
    path = tmp_path / "file.yaml"
    path.write_text(text)
    env = {**os.environ, variable: str(path), "SOLIDARITY_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    done = subprocess.run([sys.executable, "-m", "streams.cli", "worker"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "refusing to start" in done.stdout and named in done.stdout
