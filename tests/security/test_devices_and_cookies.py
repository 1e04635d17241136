"""A reporter's phone can forget its token; cookies are Secure whenever the public URL is https."""

from __future__ import annotations

import re

import httpx

from testing.stack import Stack


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_forget_this_device_drops_the_remembered_reporter_token(stack, reporter_token):
    with httpx.Client(base_url=stack.http.base_url, follow_redirects=False, timeout=30) as client:
        client.cookies.set("sol_reporter", reporter_token)
        page = client.get("/report")
        assert 'id="forget"' in page.text and 'id="token"' not in page.text
        answer = client.post("/report", data={"csrf": csrf_of(page.text), "forget": "1", "lang": "es"})
        assert answer.status_code == 303
        assert re.search(r'sol_reporter="?"?;', answer.headers["set-cookie"]), answer.headers["set-cookie"]
        client.cookies.delete("sol_reporter")
        assert 'id="token"' in client.get("/report").text, "the form asks for the token again"


def test_forgetting_without_the_forms_csrf_token_is_refused(stack, reporter_token):
    with httpx.Client(base_url=stack.http.base_url, follow_redirects=False, timeout=30) as client:
        client.cookies.set("sol_reporter", reporter_token)
        client.get("/report")
        assert client.post("/report", data={"forget": "1"}).status_code == 403


def test_every_cookie_is_secure_when_the_public_url_is_https(kafka, tmp_path):
    stack = Stack(tmp_path, extra_env={"SOLIDARITY_WEB__PUBLIC_URL": "https://solidarity.example.org"}).start()
    try:
        token = stack.token("secretariat", "https-desk")
        with httpx.Client(base_url=stack.http.base_url, follow_redirects=False, timeout=30) as client:
            page = client.get("/dashboard/login")
            assert "Secure" in page.headers["set-cookie"]
            # A client only returns Secure cookies over https: hand the CSRF cookie back explicitly.
            csrf = csrf_of(page.text)
            client.cookies.clear()
            login = client.post("/dashboard/login", data={"csrf": csrf, "token": token},
                                headers={"Cookie": f"sol_csrf={csrf}"})
            assert login.status_code == 303 and "sol_session=" in login.headers["set-cookie"]
            assert "Secure" in login.headers["set-cookie"] and "HttpOnly" in login.headers["set-cookie"]
            assert "Secure" in client.get("/report").headers["set-cookie"]
    finally:
        stack.stop()
