"""Shared fixtures: the real Kafka broker and a worker stack per test module."""

from __future__ import annotations

import os

import pytest

from streams import crypto
from testing.stack import Stack, bootstrap, broker_up


# Unit tests seal with keys held in memory (installed before any test module is imported: streams.app builds the
# runtime at import); a test of a real stack starts the stack's own (Stack.sealer).
if not crypto.started():
    crypto.install(crypto.memory_sealer())


@pytest.fixture
def installed_sealer():
    """A fresh in-memory sealer installed as the process's own for one test (the one before is put back)."""
    before = crypto.sealer() if crypto.started() else None
    made = crypto.memory_sealer()
    crypto.install(made)
    yield made
    crypto.install(before)


def require_service(up: bool, what: str) -> None:
    """Fail under CI=true when a real service is missing; skip locally."""
    if up:
        return
    message = f"{what} is not reachable"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} (CI=true: tests of real services must not skip)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def kafka() -> str:
    """Bootstrap address of the real Apache Kafka broker."""
    require_service(broker_up(), f"Kafka at {bootstrap()} (start it: python deploy/kafka/broker.py start)")
    return bootstrap()


@pytest.fixture(scope="module")
def stack(kafka, tmp_path_factory):
    """A running worker with its own topics, tables and port, for one test module."""
    s = Stack(tmp_path_factory.mktemp("stack")).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def reporter_token(stack) -> str:
    """A reporter token known to the worker."""
    return stack.token("reporter", "field-team")


@pytest.fixture(scope="module")
def secretariat_token(stack) -> str:
    """A secretariat token known to the worker."""
    return stack.token("secretariat", "secretariat-desk")
