"""The manifest: both consumer forms, Forge's validator checks, every problem at once with file:line."""

from __future__ import annotations

import pytest
from conftest import V1_MANIFEST, V2_MANIFEST, forgeq

from forgeq.emulator.app.manifest import load_manifest
from forgeq.emulator.errors import ManifestError

HANDLER = {"src/index.py": "def handler(event, context):\n    pass\n"}


def problems_of(make_app, manifest: str, files=HANDLER) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load_manifest(make_app(manifest, files))
    return [f"{p.line}|{p.path}|{p.message}" for p in caught.value.problems]


def test_v1_and_v2_consumers_are_parsed(make_app):
    v1 = load_manifest(make_app(V1_MANIFEST, HANDLER, name="v1"))
    v2 = load_manifest(make_app(V2_MANIFEST, HANDLER, name="v2"))
    assert (v1.consumers[0].version, v1.consumers[0].method, v1.consumers[0].queue) == (1, "listener", "work")
    assert (v2.consumers[0].version, v2.consumers[0].function) == (2, "consumer-function")
    assert v2.functions["consumer-function"].timeout_seconds == 55


def test_every_problem_is_reported_at_once_with_lines(make_app):
    manifest = """
    app:
      id: x
    modules:
      consumer:
        - key: c1
          queue: this-queue-name-is-far-too-long-for-forge-ok
          function: missing-function
          colour: blue
        - key: c1
          queue: bad/queue
          resolver:
            function: f
            method: m
      function:
        - key: a-function-key-longer-than-23
          handler: index.handler
        - key: f
          handler: ../escape.handler
          timeoutSeconds: 1000
    """
    found = problems_of(make_app, manifest)
    text = "\n".join(found)
    assert "6|modules.consumer[0].queue|queue 'this-queue-name-is-far-too-long-for-forge-ok' must match" in text
    assert "8|modules.consumer[0].colour|should NOT have additional property 'colour'" in text
    assert "found duplicate module key 'c1'" in text
    assert "queue 'bad/queue' must match" in text
    assert "The function key exceeds 23 characters: 'a-function-key-longer-than-23'." in text
    assert "handler property '../escape.handler' must be in format <module>.<function> (example: index.run)." in text
    assert "timeoutSeconds|must be a number from 1 to 900" in text
    assert "consumer references undefined function module with key 'missing-function'" in text
    assert len(found) >= 8


def test_a_queue_name_ending_in_a_newline_is_refused_as_forge_refuses_it(make_app):
    # The schema's /^[a-zA-Z0-9-_]+$/ is a JavaScript pattern: its `$` ends the input.
    found = problems_of(make_app, V2_MANIFEST.replace("queue: work", 'queue: "work\\n"'))
    assert any("modules.consumer[0].queue|queue 'work\n' must match" in problem for problem in found), found


def test_duplicate_yaml_keys_are_an_error_not_silently_dropped(make_app):
    found = problems_of(make_app, V2_MANIFEST.replace("      queue: work\n", "      queue: work\n      queue: other\n"))
    assert any("duplicate key 'queue' (first at line 6)" in p for p in found)


def test_missing_handler_file_names_the_paths_looked_at(make_app):
    found = problems_of(make_app, V2_MANIFEST, {"src/other.py": ""})
    assert any("cannot find associated file for 'index.handler' (looked for src/index.py, index.py)" in p for p in found)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "the manifest is empty"),
        ("- a\n- b\n", "must be a mapping"),
        ("modules: [\n", "1:"),
        ("app: !!python/object/apply:os.system ['touch /tmp/forgeq-pwned']\nmodules: {}\n", "unknown YAML tag"),
        ("a: &a [1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n", "alias bomb"),
    ],
)
def test_broken_yaml_is_one_clear_error(tmp_path, text, expected):
    path = tmp_path / "manifest.yml"
    path.write_text(text)
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_cli_reports_manifest_problems_with_exit_code_2_and_no_traceback(make_app):
    app = make_app(V2_MANIFEST.replace("queue: work", "queue: bad/queue"), HANDLER)
    done = forgeq("run", app, "--until-idle")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"{app}:6: modules.consumer[0].queue: queue 'bad/queue' must match" in done.stderr
    assert not (app.parent / ".forgeq").exists()


def test_cli_prints_every_manifest_problem_one_per_line(make_app):
    manifest = V2_MANIFEST.replace("queue: work", "queue: bad/queue").replace(
        "handler: index.handler", "handler: index.handler\n      colour: blue"
    )
    app = make_app(manifest, HANDLER)
    for argv in (("run", app, "--until-idle"), ("push", "-m", app, "--queue", "work", "--body", "{}")):
        done = forgeq(*argv)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, (argv, done.stderr)
        problems = [line for line in lines if "bad/queue" in line or "colour" in line]
        assert len(problems) == 2, (argv, done.stderr)
        assert "Traceback" not in done.stderr
