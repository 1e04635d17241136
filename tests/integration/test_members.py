"""Members through the real broker: CSV import/export with the CLI, the member API, the worker's table."""

from __future__ import annotations

from pathlib import Path

from agents.members_csv import parse_csv
from testing.stack import wait_for

DEMO = Path(__file__).resolve().parent.parent.parent / "deploy" / "demo" / "members.csv"
HEAD = "member_id,organization,contact_name,phone,email,language,country,working_groups,channels,roles"
NEW = {"member_id": "api-1", "organization": "Colectivo Río Claro", "contact_name": "Rosa Quispe",
       "phone": "+51912345001", "email": "rosa@example.org", "language": "es", "country": "PE",
       "working_groups": ["land"], "channels": ["sms", "email"]}


def get(stack, token, path):
    """GET with a token; (status, body)."""
    return stack.http.request("GET", path, token=token)


def count(stack, token, query: str = "") -> int | None:
    """The member count the API reports, or None when the request fails."""
    status, body = get(stack, token, f"/api/v1/members{query}")
    return body["count"] if status == 200 else None


def write(tmp_path: Path, name: str, text: str) -> str:
    """Write a CSV file and return its path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_import_demo_csv_then_list_all_500(stack, secretariat_token):
    result = stack.cli("members", "import", str(DEMO))
    assert "imported 500, updated 0, rejected 0" in result.stdout
    wait_for(lambda: count(stack, secretariat_token) == 500, 60, 0.25, "500 members in the table")
    status, body = get(stack, secretariat_token, "/api/v1/members?language=ar")
    assert status == 200 and body["count"] == 100 and {m["language"] for m in body["members"]} == {"ar"}
    status, body = get(stack, secretariat_token, "/api/v1/members?role=secretariat_oncall")
    assert body["count"] == 3 and all(m["phone"].startswith("+") for m in body["members"])
    by_country = count(stack, secretariat_token, "?country=mx&language=es")
    assert by_country and by_country < 100
    status, body = get(stack, secretariat_token, "/api/v1/members?working_group=fisherfolk")
    assert body["count"] > 0 and all("fisherfolk" in m["working_groups"] for m in body["members"])


def test_list_filters_are_checked(stack, secretariat_token):
    status, body = get(stack, secretariat_token, "/api/v1/members?role=boss")
    assert status == 422 and body["errors"][0]["field"] == "query.role"
    status, body = get(stack, secretariat_token, "/api/v1/members?colour=red")
    assert status == 422 and body["errors"][0]["field"] == "query.colour"


def test_reimport_is_idempotent_and_a_changed_row_updates(stack, secretariat_token, tmp_path):
    again = stack.cli("members", "import", str(DEMO))
    assert "imported 0, updated 0, rejected 0, unchanged 500" in again.stdout
    lines = DEMO.read_text(encoding="utf-8").splitlines()
    cells = lines[10].split(",")
    member_id, cells[1] = cells[0], "Renamed Fisherfolk Association"
    lines[10] = ",".join(cells)
    changed = stack.cli("members", "import", write(tmp_path, "changed.csv", "\n".join(lines) + "\n"))
    assert "imported 0, updated 1, rejected 0, unchanged 499" in changed.stdout

    def renamed():
        status, body = get(stack, secretariat_token, f"/api/v1/members/{member_id}")
        return status == 200 and body["organization"] == "Renamed Fisherfolk Association"

    wait_for(renamed, 30, 0.2, "the changed row to reach the table")
    assert count(stack, secretariat_token) == 500


def test_reimport_without_opted_out_column_keeps_opt_outs(stack, secretariat_token, tmp_path):
    status, body = get(stack, secretariat_token, "/api/v1/members")
    opted = next(m for m in body["members"] if m["opted_out"] == ["sms"])
    row = [opted[c] if not isinstance(opted[c], list) else ";".join(opted[c]) for c in HEAD.split(",")]
    row[1] = "Opted-out Org, renamed"
    row[1] = f'"{row[1]}"'
    result = stack.cli("members", "import", write(tmp_path, "no-optout.csv", f"{HEAD}\n{','.join(row)}\n"))
    assert "imported 0, updated 1" in result.stdout

    def updated():
        status, member = get(stack, secretariat_token, f"/api/v1/members/{opted['member_id']}")
        return member if member.get("organization") == "Opted-out Org, renamed" else None

    assert wait_for(updated, 30, 0.2, "the re-imported member")["opted_out"] == ["sms"]


def test_bad_rows_are_reported_by_line_and_good_rows_still_imported(stack, secretariat_token, tmp_path):
    text = "\n".join([
        HEAD,
        "bad-0,Good Org,Ana,+525512340001,ana@example.org,es,MX,,sms,member",
        "bad-1,Bad Phone Org,Luis,+52551234,luis@example.org,es,MX,,sms,member",
        "",
        "bad-2,Bad Country Org,Joy,,joy@example.org,en,ZZ,,email,member",
    ]) + "\n"
    result = stack.cli("members", "import", write(tmp_path, "bad.csv", text), check=False)
    assert result.returncode == 1
    assert "line 3: phone: is not a valid phone number" in result.stderr
    assert "line 5: country: must be an ISO 3166-1 alpha-2 country code" in result.stderr
    assert "+52551234" not in result.stderr
    assert "imported 1, updated 0, rejected 2" in result.stdout
    wait_for(lambda: get(stack, secretariat_token, "/api/v1/members/bad-0")[0] == 200, 30, 0.2, "the good row")
    assert get(stack, secretariat_token, "/api/v1/members/bad-1")[0] == 404


def test_unreadable_file_or_bad_header_exits_2(stack, tmp_path):
    missing = stack.cli("members", "import", str(tmp_path / "nope.csv"), check=False)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    header = stack.cli("members", "import", write(tmp_path, "h.csv", "id,name\n1,x\n"), check=False)
    assert header.returncode == 2 and "missing column(s)" in header.stderr
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert stack.cli("members", "import", str(binary), check=False).returncode == 2


def test_api_needs_a_secretariat_token(stack, reporter_token):
    assert stack.http.request("GET", "/api/v1/members")[0] == 401
    assert stack.http.request("GET", "/api/v1/members", token="sol_sec_wrong")[0] == 401
    status, body = stack.http.request("GET", "/api/v1/members", token=reporter_token)
    assert status == 403 and body["errors"][0]["field"] == "authorization"
    assert stack.http.request("POST", "/api/v1/members", NEW, token=reporter_token)[0] == 403
    assert stack.http.request("GET", "/api/v1/members/m0001", token=reporter_token)[0] == 403
    assert stack.http.request("PATCH", "/api/v1/members/m0001", {"language": "fr"}, token=reporter_token)[0] == 403


def test_post_get_patch_member(stack, secretariat_token):
    http, tok = stack.http, secretariat_token
    status, created = http.request("POST", "/api/v1/members", NEW, token=tok)
    assert status == 201, created
    assert created["member_id"] == "api-1" and created["roles"] == ["member"] and created["updated_at"]
    wait_for(lambda: get(stack, tok, "/api/v1/members/api-1")[0] == 200, 30, 0.1, "the new member")
    status, body = http.request("POST", "/api/v1/members", NEW, token=tok)
    assert status == 409 and body["errors"][0]["field"] == "member_id"
    status, body = http.request("POST", "/api/v1/members", {**NEW, "member_id": "api-2"}, token=tok)
    assert status == 409 and body["errors"][0]["field"] == "phone"

    status, patched = http.request("PATCH", "/api/v1/members/api-1",
                                   {"phone": "+51912345002", "opted_out": ["sms"]}, token=tok)
    assert status == 200 and patched["phone"] == "+51912345002" and patched["organization"] == NEW["organization"]
    fresh = wait_for(lambda: (lambda r: r[1] if r[1].get("phone") == "+51912345002" else None)(
        get(stack, tok, "/api/v1/members/api-1")), 30, 0.1, "the patch")
    assert fresh["opted_out"] == ["sms"] and fresh["updated_at"] > created["updated_at"]
    # The old phone is free again once the worker dropped its mapping.
    free = {**NEW, "member_id": "api-2"}
    status, body = http.request("POST", "/api/v1/members", free, token=tok)
    assert status == 201, body


def test_member_api_errors(stack, secretariat_token):
    http, tok = stack.http, secretariat_token
    status, body = http.request("POST", "/api/v1/members",
                                {**NEW, "member_id": "api-3", "phone": "+5191", "country": "ZZ", "nickname": "x"},
                                token=tok)
    assert status == 422
    assert {"phone", "country", "nickname"} <= {e["field"] for e in body["errors"]}
    status, body = http.request("POST", "/api/v1/members", {"member_id": "api-4"}, token=tok)
    assert status == 422 and {"organization", "contact_name", "country"} <= {e["field"] for e in body["errors"]}
    assert http.request("POST", "/api/v1/members", raw=b"{not json", token=tok)[0] == 422
    assert http.request("POST", "/api/v1/members", [1, 2], token=tok)[0] == 422
    status, body = get(stack, tok, "/api/v1/members/nobody")
    assert status == 404 and body["errors"][0]["field"] == "member_id"
    assert http.request("PATCH", "/api/v1/members/nobody", {"language": "fr"}, token=tok)[0] == 404
    status, body = http.request("PATCH", "/api/v1/members/m0001", {"language": "klingon", "member_id": "x"}, token=tok)
    assert status == 422 and {"language", "member_id"} <= {e["field"] for e in body["errors"]}
    status, body = http.request("PATCH", "/api/v1/members/m0001", {"organization": None}, token=tok)
    assert status == 422 and body["errors"][0]["field"] == "organization"


def test_export_round_trips(stack, secretariat_token, tmp_path):
    out = tmp_path / "export.csv"
    stack.cli("members", "export", "--output", str(out))
    exported, rejected = parse_csv(out.read_text(encoding="utf-8"))
    assert rejected == []
    status, body = get(stack, secretariat_token, "/api/v1/members")
    api = {m["member_id"]: m for m in body["members"]}
    assert len(exported) == body["count"] >= 500
    for member in exported:
        data = member.model_dump(mode="json", exclude={"updated_at"})
        assert {k: api[member.member_id][k] for k in data} == data
    again = stack.cli("members", "import", str(out))
    assert f"imported 0, updated 0, rejected 0, unchanged {len(exported)}" in again.stdout
    assert stack.cli("members", "export").stdout == out.read_text(encoding="utf-8")


def test_members_survive_a_worker_restart(stack, secretariat_token):
    before = count(stack, secretariat_token)
    assert before and before >= 500
    stack.stop()
    stack.start()
    # Tables (tokens, members) come back from their changelogs once the worker has recovered.
    wait_for(lambda: count(stack, secretariat_token) == before, 60, 0.25, "the members table to recover")
    status, body = get(stack, secretariat_token, "/api/v1/members/api-1")
    assert status == 200 and body["phone"] == "+51912345002"
