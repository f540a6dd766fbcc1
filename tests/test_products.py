"""Product-event payloads and local trigger filters (forgeq/emulator/products/payloads.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from forgeq.emulator.errors import InputError
from forgeq.emulator.products import payloads
from forgeq.emulator.products.payloads import (
    EVENT_ALIASES,
    PayloadOverrideError,
    ProductEventError,
    UnknownProductEvent,
    filter_matches,
    list_event_types,
    make_payloads,
    resolve_event_type,
)

NOW = 1763370000.0  # Mon 17 Nov 2025 09:00:00 UTC
APP_ACCOUNT = "app-account-id"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "events"
JIRA_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")


def one(event_type: str, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("first_seq", 1)
    kwargs.setdefault("now", NOW)
    return next(make_payloads(event_type, 1, **kwargs))


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in strings_in(item)]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    return []


# ------------------------------------------------------------------------------ event types


def test_aliases_resolve_to_full_types() -> None:
    assert resolve_event_type("issue-created") == "avi:jira:created:issue"
    assert resolve_event_type("comment-created") == "avi:jira:commented:issue"
    assert resolve_event_type("page-updated") == "avi:confluence:updated:page"
    assert resolve_event_type("  Issue-Updated ") == "avi:jira:updated:issue"


def test_full_types_resolve_to_themselves() -> None:
    for full_type in EVENT_ALIASES.values():
        assert resolve_event_type(full_type) == full_type


def test_required_aliases_exist() -> None:
    required = {
        "issue-created",
        "issue-updated",
        "issue-deleted",
        "issue-assigned",
        "comment-created",
        "page-created",
        "page-updated",
    }
    assert required <= set(EVENT_ALIASES)


def test_unknown_alias_lists_known_names_and_the_list_command() -> None:
    with pytest.raises(UnknownProductEvent) as caught:
        resolve_event_type("issue-creatd")
    message = str(caught.value)
    assert "'issue-creatd'" in message
    assert "Did you mean 'issue-created'?" in message
    for alias in EVENT_ALIASES:
        assert alias in message
    assert "forgeq push --list" in message
    assert caught.value.name == "issue-creatd"
    assert set(EVENT_ALIASES) <= set(caught.value.known)


def test_unknown_product_event_is_a_value_error_and_an_input_error() -> None:
    with pytest.raises(ValueError):
        resolve_event_type("nope")
    with pytest.raises(InputError):
        resolve_event_type("nope")


def test_real_event_without_template_suggests_payload_file() -> None:
    with pytest.raises(UnknownProductEvent, match="--payload FILE"):
        resolve_event_type("avi:jira:viewed:issue")


def test_list_event_types_matches_aliases() -> None:
    rows = list_event_types()
    assert [(alias, full) for alias, full, _, _ in rows] == list(EVENT_ALIASES.items())
    for alias, full_type, product, description in rows:
        assert full_type.startswith(f"avi:{product}:")
        assert description.endswith(".")
        assert alias == alias.lower()


def test_every_template_file_is_registered_and_every_alias_has_one() -> None:
    files = {path.stem for path in payloads.TEMPLATE_DIR.glob("*.json")}
    assert files == set(EVENT_ALIASES)


# ------------------------------------------------------------------------------ templates


@pytest.mark.parametrize("alias", sorted(EVENT_ALIASES))
def test_every_template_renders_to_json_with_its_event_type(alias: str) -> None:
    full_type = EVENT_ALIASES[alias]
    raw = payloads.load_template(full_type)
    assert raw["eventType"] == full_type, "the file's own eventType must match the registry"
    payload = one(alias)
    assert payload["eventType"] == full_type
    assert json.loads(json.dumps(payload)) == payload
    leftovers = [text for text in strings_in(payload) if "{{" in text]
    assert leftovers == [], f"unfilled placeholders in {alias}: {leftovers}"
    assert payload["atlassianId"] == payloads.DEMO_USER_ACCOUNT_ID


@pytest.mark.parametrize("alias", sorted(a for a, t in EVENT_ALIASES.items() if t.startswith("avi:jira:")))
def test_jira_payloads_have_issue_users_and_self_flag(alias: str) -> None:
    payload = one(alias, first_seq=42, project_key="OPS")
    assert payload["issue"]["id"] == "10042"
    assert payload["issue"]["key"] == "OPS-42"
    assert payload["issue"]["fields"]["project"]["key"] == "OPS"
    assert payload["selfGenerated"] is False
    assert {"accountId": payloads.DEMO_USER_ACCOUNT_ID} in payload["associatedUsers"]
    assert JIRA_TIME.match(payload["issue"]["fields"]["updated"])


def test_updated_issue_carries_a_changelog() -> None:
    payload = one("issue-updated", first_seq=5)
    [item] = payload["changelog"]["items"]
    assert set(item) >= {"field", "fieldtype", "from", "fromString", "to", "toString"}
    assert item["field"] == "summary"
    assert item["toString"] == payload["issue"]["fields"]["summary"]
    assert payload["changelog"]["id"] == "30005"


def test_assigned_issue_names_the_assignee() -> None:
    payload = one("issue-assigned")
    [item] = payload["changelog"]["items"]
    assert item["field"] == "assignee"
    assert item["to"] == payloads.DEMO_ASSIGNEE_ACCOUNT_ID
    assert payload["issue"]["fields"]["assignee"] == {"accountId": payloads.DEMO_ASSIGNEE_ACCOUNT_ID}


def test_comment_event_has_issue_and_comment() -> None:
    payload = one("comment-created", first_seq=3)
    assert payload["issue"]["key"] == "DEMO-3"
    assert payload["comment"]["id"] == "20003"
    assert payload["comment"]["body"]["type"] == "doc"
    assert payload["comment"]["author"]["accountId"] == payloads.DEMO_USER_ACCOUNT_ID


def test_confluence_page_payload_shape() -> None:
    payload = one("page-updated", first_seq=9, project_key="DOCS")
    content = payload["content"]
    assert content["id"] == "40009"
    assert content["type"] == "page"
    assert content["space"]["key"] == "DOCS"
    assert content["version"]["number"] == 2
    assert payload["updateTrigger"] == "edit_page"
    assert payload["eventCreatedDate"] == "2025-11-17T09:00:00.000Z"
    assert content["history"]["createdDate"] == "2025-11-17T08:00:00.000Z"


# ------------------------------------------------------------------------------ generation


def test_generation_is_deterministic() -> None:
    first = list(
        make_payloads("comment-created", 50, first_seq=7, now=NOW, sets=["issue.fields.summary=S {{seq}}"])
    )
    second = list(
        make_payloads("comment-created", 50, first_seq=7, now=NOW, sets=["issue.fields.summary=S {{seq}}"])
    )
    assert first == second
    assert json.dumps(first) == json.dumps(second)


def test_ids_and_keys_are_unique_across_a_thousand_events() -> None:
    payloads = list(make_payloads("comment-created", 1000, first_seq=1, now=NOW))
    assert len(payloads) == 1000
    for field in ("id", "key"):
        assert len({payload["issue"][field] for payload in payloads}) == 1000
    assert len({payload["comment"]["id"] for payload in payloads}) == 1000
    assert len({payload["comment"]["created"] for payload in payloads}) == 1000
    assert payloads[0]["issue"]["key"] == "DEMO-1"
    assert payloads[-1]["issue"]["key"] == "DEMO-1000"
    assert payloads[-1]["issue"]["id"] == "11000"


def test_page_ids_are_unique_across_a_thousand_events() -> None:
    payloads = list(make_payloads("page-created", 1000, first_seq=1, now=NOW))
    assert len({payload["content"]["id"] for payload in payloads}) == 1000


def test_consecutive_runs_continue_the_sequence() -> None:
    first = list(make_payloads("issue-created", 3, first_seq=1, now=NOW))
    then = list(make_payloads("issue-created", 3, first_seq=4, now=NOW))
    keys = [payload["issue"]["key"] for payload in first + then]
    assert keys == [f"DEMO-{n}" for n in range(1, 7)]


def test_timestamps_come_from_the_emulator_clock() -> None:
    payloads = list(make_payloads("issue-created", 3, first_seq=1, now=NOW + 12.797))
    stamps = [payload["issue"]["fields"]["created"] for payload in payloads]
    assert stamps == [
        "2025-11-17T09:00:12.797+0000",
        "2025-11-17T09:00:12.798+0000",
        "2025-11-17T09:00:12.799+0000",
    ]


def test_payloads_do_not_share_mutable_parts() -> None:
    first, second = make_payloads("issue-created", 2, first_seq=1, now=NOW)
    first["issue"]["fields"]["status"]["name"] = "Done"
    assert second["issue"]["fields"]["status"]["name"] == "To Do"
    assert one("issue-created")["issue"]["fields"]["status"]["name"] == "To Do"


def test_zero_count_yields_nothing() -> None:
    assert list(make_payloads("issue-created", 0, first_seq=1, now=NOW)) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": -1}, "0 or more"),
        ({"first_seq": 0}, "start at 1"),
        ({"now": float("nan")}, "finite"),
        ({"project_key": "demo"}, "not a Jira project key"),
    ],
)
def test_bad_generation_arguments_fail_eagerly(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"count": 1, "first_seq": 1, "now": NOW} | kwargs
    with pytest.raises(ProductEventError, match=message):
        make_payloads("issue-created", **arguments)  # no next(): the call itself must fail


# ------------------------------------------------------------------------------ --set


def test_set_replaces_a_string_field() -> None:
    payload = one("issue-created", sets=["issue.fields.summary=Hello"])
    assert payload["issue"]["fields"]["summary"] == "Hello"


def test_set_parses_json_values() -> None:
    payload = one(
        "issue-created",
        sets=[
            'issue.fields.priority={"name": "High"}',
            'issue.fields.labels=["a", "b"]',
            "issue.fields.storyPoints=3",
            "selfGenerated=true",
            "issue.fields.summary=null",
        ],
    )
    fields = payload["issue"]["fields"]
    assert fields["priority"] == {"name": "High"}
    assert fields["labels"] == ["a", "b"]
    assert fields["storyPoints"] == 3
    assert payload["selfGenerated"] is True
    assert fields["summary"] is None


def test_set_keeps_text_that_is_not_json() -> None:
    payload = one("issue-created", sets=["issue.fields.summary=Fix it = now", "issue.fields.x=NaN", "a.b="])
    assert payload["issue"]["fields"]["summary"] == "Fix it = now"
    assert payload["issue"]["fields"]["x"] == "NaN"
    assert payload["a"] == {"b": ""}


def test_set_reaches_into_lists() -> None:
    payload = one(
        "issue-updated", sets=["changelog.items.0.field=status", "associatedUsers.0.accountId=someone"]
    )
    assert payload["changelog"]["items"][0]["field"] == "status"
    assert payload["associatedUsers"] == [{"accountId": "someone"}]


def test_set_creates_missing_objects_and_replaces_null() -> None:
    payload = one("issue-created", sets=["issue.fields.assignee.accountId=abc", "extra.deep.value=1"])
    assert payload["issue"]["fields"]["assignee"] == {"accountId": "abc"}
    assert payload["extra"] == {"deep": {"value": 1}}


def test_set_values_get_placeholders_filled() -> None:
    first, second = make_payloads(
        "issue-created", 2, first_seq=1, now=NOW, sets=["issue.fields.summary=Bug {{issue.key}}"]
    )
    assert first["issue"]["fields"]["summary"] == "Bug DEMO-1"
    assert second["issue"]["fields"]["summary"] == "Bug DEMO-2"


def test_set_can_override_the_event_type() -> None:
    assert one("issue-created", sets=["eventType=avi:jira:created:issue:custom"])["eventType"] == (
        "avi:jira:created:issue:custom"
    )


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("issue.fields.summary", "expected PATH=VALUE"),
        ("=Hello", "path before '=' is empty"),
        ("issue..summary=x", "empty part"),
        (".issue=x", "empty part"),
        ("issue.fields.summary.text=x", "'issue.fields.summary' is a string"),
        ("eventType.x=1", "'eventType' is a string"),
        ("selfGenerated.x=1", "'selfGenerated' is a boolean"),
        ("associatedUsers.5.accountId=x", "index 5 is out of range: 'associatedUsers' has 1 item"),
        ("associatedUsers.first=x", "'associatedUsers' is a list, so 'first' must be an index"),
        ("associatedUsers.-1=x", "must be an index"),
    ],
)
def test_bad_set_items_raise_naming_the_item(item: str, reason: str) -> None:
    with pytest.raises(PayloadOverrideError) as caught:
        make_payloads("issue-created", 1, first_seq=1, now=NOW, sets=["issue.fields.summary=fine", item])
    assert caught.value.item == item
    assert repr(item) in str(caught.value)
    assert reason in str(caught.value)
    assert isinstance(caught.value, ValueError)


# ------------------------------------------------------------------------------ --payload


def test_base_payload_replaces_the_template_and_is_filled() -> None:
    base: dict[str, Any] = {
        "issue": {"key": "{{issue.key}}", "n": "{{seq}}", "when": "at {{now.iso}}"},
        "note": "{{not.a.placeholder}}",
    }
    first, second = make_payloads("issue-created", 2, first_seq=10, now=NOW, base_payload=base)
    assert first == {
        "issue": {"key": "DEMO-10", "n": 10, "when": "at 2025-11-17T09:00:00.000+0000"},
        "note": "{{not.a.placeholder}}",
        "eventType": "avi:jira:created:issue",
    }
    assert second["issue"]["n"] == 11
    assert base["issue"]["key"] == "{{issue.key}}", "the caller's payload must not be modified"


def test_base_payload_may_name_an_event_without_a_template() -> None:
    payload = one("avi:jira:viewed:issue", base_payload={"issue": {"key": "{{issue.key}}"}})
    assert payload["eventType"] == "avi:jira:viewed:issue"


def test_base_payload_must_be_an_object() -> None:
    with pytest.raises(
        PayloadOverrideError, match="^--payload: the payload must be a JSON object, not a list$"
    ):
        make_payloads("issue-created", 1, first_seq=1, now=NOW, base_payload=[1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda path: path.name)
def test_fixture_payloads_render(path: Path) -> None:
    base = json.loads(path.read_text(encoding="utf-8"))
    payloads = list(make_payloads("issue-created", 5, first_seq=1, now=NOW, base_payload=base))
    assert len({payload["issue"]["key"] for payload in payloads}) == 5
    assert not [text for payload in payloads for text in strings_in(payload) if "{{" in text]


def test_bug_fixture_passes_a_bug_filter_and_the_stock_template_does_not() -> None:
    bug_filter = {"expression": "event.issue.fields.issuetype.name == 'Bug'"}
    base = json.loads((FIXTURES / "bug-created.json").read_text(encoding="utf-8"))
    assert filter_matches(
        bug_filter, one("issue-created", base_payload=base), app_account_id=APP_ACCOUNT
    ) == (
        True,
        None,
    )
    delivered, reason = filter_matches(bug_filter, one("issue-created"), app_account_id=APP_ACCOUNT)
    assert not delivered
    assert reason is not None and "expression is false" in reason


# ------------------------------------------------------------------------------ filters


def matches(
    trigger_filter: dict[str, Any] | None, payload: dict[str, Any] | None = None
) -> tuple[bool, str | None]:
    return filter_matches(trigger_filter, payload or one("issue-created"), app_account_id=APP_ACCOUNT)


def test_no_filter_delivers() -> None:
    assert matches(None) == (True, None)
    assert matches({}) == (True, None)


def test_ignore_self_drops_events_caused_by_the_app() -> None:
    by_app = one("issue-created", sets=[f"atlassianId={APP_ACCOUNT}"])
    delivered, reason = matches({"ignoreSelf": True}, by_app)
    assert not delivered
    assert reason is not None and "ignoreSelf" in reason and APP_ACCOUNT in reason


def test_ignore_self_drops_self_generated_events() -> None:
    delivered, reason = matches({"ignoreSelf": True}, one("issue-updated", sets=["selfGenerated=true"]))
    assert not delivered
    assert reason == "ignoreSelf: selfGenerated is true"


def test_ignore_self_keeps_events_from_people() -> None:
    assert matches({"ignoreSelf": True}) == (True, None)


def test_without_ignore_self_the_apps_own_events_arrive() -> None:
    assert matches({"ignoreSelf": False}, one("issue-created", sets=["selfGenerated=true"])) == (True, None)


def test_ignore_self_is_not_applied_to_confluence_events() -> None:
    page = one("page-created", sets=[f"atlassianId={APP_ACCOUNT}"])
    delivered, note = matches({"ignoreSelf": True}, page)
    assert delivered
    assert note is not None and "works only with Jira events" in note


@pytest.mark.parametrize(
    "expression",
    [
        "event.issue.fields.issuetype.name == 'Task'",
        'event.issue.fields.issuetype.name == "Task"',
        "event.issue.fields.issuetype.name != 'Bug'",
        "event.issue.fields.project.key == 'DEMO' && event.issue.fields.status.name == 'To Do'",
        "event.issue.fields.issuetype.name == 'Bug' || event.issue.key == 'DEMO-1'",
        "!(event.issue.fields.issuetype.name == 'Bug')",
        "!event.selfGenerated",
        "event.issue.fields.assignee == null",
        "event.issue.fields.status.statusCategory.id == 2",
        "event.issue.fields.status.statusCategory.id >= 2 && event.issue.fields.status.statusCategory.id < 3",
        "event.issue.fields.issuetype.subtask == false",
        "['Task', 'Story'].includes(event.issue.fields.issuetype.name)",
        "event.associatedUsers.length == 1",
        "event.associatedUsers[0].accountId == event.atlassianId",
        "event['issue']['key'] == 'DEMO-1'",
        "event.issue.key.startsWith('DEMO-') && event.issue.key.endsWith('-1')",
        "event.issue.fields.summary.includes('issue')",
        "event.issue.fields.assignee?.accountId == null",
        "(event.issue.fields.assignee?.accountId ?? 'nobody') == 'nobody'",
        "event.issue.fields.issuetype.name == 'Task' ? true : false",
        "event.issue.fields.priority == null",
        "event.issue.fields.status.statusCategory.id > -1",
    ],
)
def test_expressions_that_hold(expression: str) -> None:
    assert matches({"expression": expression}) == (True, None)


@pytest.mark.parametrize(
    "expression",
    [
        "event.issue.fields.issuetype.name == 'Bug'",
        "event.issue.fields.issuetype.name == 'task'",
        "event.selfGenerated",
        "event.issue.fields.status.statusCategory.id == '2'",
        "event.selfGenerated == 0",
        "['Bug'].includes(event.issue.fields.issuetype.name)",
        "event.issue.fields.project.key == 'DEMO' && event.issue.key == 'DEMO-2'",
    ],
)
def test_expressions_that_do_not_hold(expression: str) -> None:
    delivered, reason = matches({"expression": expression})
    assert not delivered
    assert reason == f"expression is false: {expression}"


def test_ignore_self_and_expression_together() -> None:
    trigger_filter = {"ignoreSelf": True, "expression": "event.issue.fields.issuetype.name == 'Task'"}
    assert matches(trigger_filter) == (True, None)
    delivered, reason = matches(trigger_filter, one("issue-created", sets=["selfGenerated=true"]))
    assert not delivered and reason is not None and reason.startswith("ignoreSelf")


def test_evaluation_errors_follow_on_error() -> None:
    expression = "event.issue.fields.assignee.accountId == 'x'"
    delivered, reason = matches({"expression": expression})
    assert not delivered
    assert reason is not None
    assert "event.issue.fields.assignee is null or missing" in reason
    assert "onError IGNORE_AND_LOG drops the event" in reason
    delivered, reason = matches({"expression": expression, "onError": "RECEIVE_AND_LOG"})
    assert delivered
    assert reason is not None and "onError RECEIVE_AND_LOG delivers the event" in reason
    assert matches({"expression": expression, "onError": "IGNORE"})[0] is False
    assert matches({"expression": expression, "onError": "RECEIVE"})[0] is True


def test_forge_docs_example_with_wrong_case_is_an_evaluation_error() -> None:
    # The trigger reference's example reads `issueType`; the payload field is `issuetype`.
    delivered, reason = matches(
        {"expression": "event.issue.fields?.issueType.name == 'Bug'", "onError": "RECEIVE_AND_LOG"}
    )
    assert delivered
    assert reason is not None and "event.issue.fields.issueType is null or missing" in reason


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("event.issue.fields.summary", "gave a string, not true or false"),
        ("event.issue.key < 3", "cannot compare a string to a number"),
        ("event.issue.fields.status.statusCategory.id.includes(2)", "so includes(a number) cannot be called"),
        ("event.issue.key.name == 'x'", "event.issue.key is a string, so 'name' cannot be read"),
    ],
)
def test_evaluation_errors_are_explained(expression: str, error: str) -> None:
    delivered, reason = matches({"expression": expression})
    assert not delivered
    assert reason is not None and error in reason


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("issue.issueType.name == 'Bug'", "the name 'issue'"),
        ("event.issue.key in ['DEMO-1']", "'in' at column 17 is not a Jira expression operator"),
        ("event.issue.fields.summary + '!' == 'x'", "'+' at column 28"),
        ("event.issue.key === 'DEMO-1'", "'=' at column"),
        ("event.associatedUsers.map(u => u.accountId).length == 1", "the method map()"),
        ("event.issue.fields.summary.toLowerCase() == 'x'", "the method toLowerCase()"),
        ("(event.issue.key == 'DEMO-1'", "expected ')'"),
        ("event.issue.key ==", "the expression ends too early"),
        ("event.issue.key == - event.issue.id", "'-' at column 20 (arithmetic is not supported)"),
        ("let x = 1; x == 1", "the name 'let'"),
        ("`${event.issue.key}` == 'x'", "'`' at column 1"),
        ("event.issue.fields.count - 1 > 0", "unexpected '-'"),
    ],
)
def test_expressions_outside_the_subset_are_delivered_with_a_note(expression: str, why: str) -> None:
    delivered, note = matches({"expression": expression})
    assert delivered
    assert note is not None
    assert note.startswith("expression not evaluated locally: ")
    assert why in note


def test_deeply_nested_expression_is_not_evaluated() -> None:
    expression = "(" * 2000 + "true" + ")" * 2000
    assert matches({"expression": expression}) == (
        True,
        "expression not evaluated locally: it is nested too deeply",
    )


def test_non_string_expression_is_not_evaluated() -> None:
    delivered, note = matches({"expression": 42})
    assert delivered
    assert note == "expression not evaluated locally: it is a number, not a string"


def test_strings_with_escapes() -> None:
    payload = one("issue-created", sets=['issue.fields.summary=it\'s "quoted"'])
    assert matches({"expression": "event.issue.fields.summary == 'it\\'s \"quoted\"'"}, payload) == (
        True,
        None,
    )


def test_evaluator_never_runs_python() -> None:
    for expression in ("__import__('os').system('true')", "().__class__", "event.keys().length > 0"):
        delivered, note = matches({"expression": expression})
        assert delivered
        assert note is not None and note.startswith("expression not evaluated locally")
    # Member access reads payload keys, never Python attributes.
    assert matches({"expression": "event.__class__ == null && event.items == null"}) == (True, None)
