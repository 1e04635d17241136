"""Nothing approved is lost silently: an action that cannot be fanned out is marked failed with its reason
(API and dashboard) and dead-lettered."""

from __future__ import annotations

import json

from schemas.actions import Audience, CallToAction
from streams import topics
from streams.admin import producer
from testing.stack import wait_for


def test_an_action_whose_fan_out_fails_says_so_and_is_dead_lettered(stack, secretariat_token):
    action = CallToAction(action_id="act_orphan_0001", case_id="case_that_does_not_exist", reference="SOL-ZZZZZZ",
                          kind="petition", audience=Audience(), messages={"en": "Sign {reference}."},
                          channels=["sms"], approved_by="test")
    settings = stack.settings()
    prod = producer(settings)
    prod.send(topics.full_name(topics.ACTIONS, settings.topic_prefix), key=action.action_id.encode(),
              value=stack.sealer().dumps(action)).get(timeout=30)
    prod.close()
    body = wait_for(lambda: (r := stack.http.request("GET", f"/api/v1/actions/{action.action_id}",
                                                     token=secretariat_token))[0] == 200
                    and r[1].get("status") == "failed" and r[1], 30, 0.2, "the action to be marked failed")
    assert "not known" in body["failure"] and body["failed_at"] and not body["finished"]
    letters = [json.loads(v) for _, v in stack.read_topic(topics.NOTIFY_DLQ)]
    assert any(d["key"] == action.action_id and d["stage"] == "fan_out" for d in letters), letters
