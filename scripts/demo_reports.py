"""Submit the demo reports in deploy/demo/reports.json ("@-6h" means six hours ago) through the API."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path


def resolve_times(body: dict) -> dict:
    """Turn '@-Nh' into an ISO timestamp N hours ago."""
    value = body.get("occurred_at", "")
    if isinstance(value, str) and value.startswith("@-") and value.endswith("h"):
        body["occurred_at"] = (datetime.now(timezone.utc) - timedelta(hours=int(value[2:-1]))).isoformat()
    return body


def main(base_url: str, token: str) -> int:
    """Post every demo report and print its reference."""
    reports = json.loads((Path(__file__).parent.parent / "deploy" / "demo" / "reports.json").read_text())
    for body in reports:
        req = urllib.request.Request(f"{base_url}/api/v1/reports", data=json.dumps(resolve_times(body)).encode(),
                                     method="POST", headers={"Content-Type": "application/json",
                                                             "Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                receipt = json.loads(resp.read())
                print(f"  {receipt['reference']}  {body['incident_type']:24} {body['country']}")
        except urllib.error.HTTPError as err:
            print(f"  refused ({err.code}): {err.read().decode()[:200]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
