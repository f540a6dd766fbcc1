"""Tests of __APP_NAME__ with forgeq's testing API: run `uv run pytest` (or `pytest`) in the app's folder.

The `forge_app` fixture (installed with forgeq) loads ../manifest.yml and gives each test a fresh
in-memory state on virtual time: hours of retries run in milliseconds.
"""

QUEUE = "issue-writes"


def test_each_created_issue_is_written(forge_app):
    forge_app.push_product_event("issue-created", count=3)
    forge_app.run_until_idle()
    assert sorted(forge_app.kvs.keys(prefix="issue-")) == ["issue-DEMO-1", "issue-DEMO-2", "issue-DEMO-3"]
    assert forge_app.dropped() == []


def test_a_storage_rate_limit_is_retried_with_backoff(forge_app):
    forge_app.faults.storage_429(0, 60)  # the first virtual minute refuses every storage call
    forge_app.push(QUEUE, {"body": {"issueKey": "DEMO-7", "summary": "Retry me"}})
    forge_app.run_until_idle()

    attempts = forge_app.timeline(queue=QUEUE)
    assert attempts[0].outcome == "retry"
    assert 20 <= attempts[0].retry_after_applied <= 50  # BASE_DELAY plus up to MAX_JITTER
    assert attempts[-1].outcome == "succeeded"
    assert forge_app.kvs.get("issue-DEMO-7") == {"summary": "Retry me"}


def test_a_bulk_import_loses_nothing(forge_app):
    # 600 issues at once: past the 500 pushed events per minute, so some trigger pushes are refused.
    forge_app.push_product_event("issue-created", count=600)
    forge_app.run_until_idle()
    assert forge_app.dropped() == []
    assert len(forge_app.kvs.keys(prefix="issue-")) == 600
    assert any(a.reason == "FUNCTION_UPSTREAM_RATE_LIMITED" for a in forge_app.timeline(kind="trigger"))


def test_a_long_storage_outage_gives_up_after_the_retry_limit_without_raising(forge_app):
    # Three virtual hours of refused storage calls: longer than the consumer's backoff (about 1.5 h).
    forge_app.faults.storage_429(0, 3 * 3600)
    forge_app.push(QUEUE, {"body": {"issueKey": "DEMO-9", "summary": "Outage"}})
    forge_app.run_until_idle()

    attempts = forge_app.timeline(queue=QUEUE)
    assert attempts[-1].outcome == "succeeded"  # the event is finished: no 24 h of platform retries
    assert len(attempts) == 9  # the first delivery and MAX_RETRIES (8) retries
    assert "giving up on DEMO-9 after 8 retries" in attempts[-1].logs
    assert forge_app.kvs.get("issue-DEMO-9") is None and forge_app.dropped() == []
