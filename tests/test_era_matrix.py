"""The full era matrix (-m slow): one probe app on every combination of @forge versions listed here.

Each combination is installed from npm once per machine (a folder under the temp directory, keyed
by the versions) and runs the probe: a v1 resolver consumer that uses the legacy storage API
(get, set, a startsWith query), pushes to a v2 function consumer (a v1 push before @forge/events
2.x), calls requestJira, and prints its context. tests/apps/published covers one app per era in
the quick suite; this covers the versions in between.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest
from conftest import write_app
from nodejs import NODE, requires_node

from forgeq.emulator.app.packages import release
from forgeq.testing import ForgeApp

pytestmark = [requires_node, pytest.mark.slow]

# (@forge/api, @forge/events, @forge/resolver): every era of each, and versions where one changed.
MATRIX = (
    ("1.2.0", "0.5.3", "1.3.5"),
    ("2.0.0", "0.5.3", "1.4.2"),
    ("2.6.1", "0.6.1", "1.4.10"),
    ("2.8.1", "0.8.16", "1.4.10"),
    ("2.10.0", "0.8.16", "1.5.3"),
    ("2.18.0", "0.8.22", "1.5.20"),
    ("2.18.3", "0.8.28", "1.5.30"),
    ("2.22.1", "0.8.34", "1.5.40"),
    ("3.0.0", "0.9.1", "1.5.40"),
    ("2.15.1", "0.8.22", "1.5.10"),
    ("2.19.4", "0.8.30", "1.5.25"),
    ("3.7.1", "0.8.30", "1.5.25"),
    ("3.9.2", "0.9.1", "1.6.3"),
    ("4.1.2", "1.0.3", "1.6.3"),
    ("5.0.0", "1.0.3", "1.6.8"),
    ("5.1.0", "2.0.5", "1.6.16"),
    ("5.2.0", "2.0.9", "1.6.10"),
    ("6.0.3", "2.0.14", "1.7.1"),
    ("6.2.0", "2.0.14", "1.6.16"),
    ("6.4.3", "2.1.4", "1.8.0"),
    ("7.0.0", "2.1.4", "1.8.0"),
    ("7.1.4", "3.0.4", "1.8.0"),
    ("7.2.2", "3.0.1", "2.0.0"),
    ("8.3.0", "3.0.8", "2.0.1"),
)

PROBE = """
const api = require('@forge/api');
const { Queue } = require('@forge/events');
const Resolver = require('@forge/resolver').default;

const v2 = require('@forge/events/package.json').version.split('.')[0] >= 2;
const queue = new Queue({ key: 'probe-out' });
const resolver = new Resolver();

resolver.define('probe', async ({ payload, context }) => {
  const out = {};
  if (api.storage) {
    await api.storage.set('probe', { n: payload.n });
    out.stored = await api.storage.get('probe');
    out.listed = (await api.storage.query().where('key', api.startsWith('pro')).getMany()).results.length;
  }
  const pushed = await queue.push(v2 ? { body: { n: payload.n } } : { n: payload.n });
  out.job = typeof pushed === 'string' ? pushed.split('#')[0] : typeof pushed.jobId;
  // @forge/api 1.x has no route: apps of its day passed the path as a string
  const myself = api.route ? api.route`/rest/api/3/myself` : '/rest/api/3/myself';
  out.jira = (await api.asApp().requestJira(myself)).status;
  out.installContext = context.installContext;
  console.log(JSON.stringify(out));
});

exports.handler = resolver.getDefinitions();
exports.out = async (event) => {
  console.log(JSON.stringify(event.body));
};
"""

MANIFEST = """
app:
  id: ari:cloud:ecosystem::app/0f1e2d3c-4b5a-4697-8a8b-9c0d1e2f3a4b
  runtime:
    name: nodejs20.x
modules:
  consumer:
    - key: probe-consumer
      queue: probe
      resolver:
        function: probe
        method: probe
    - key: out-consumer
      queue: probe-out
      function: out
  function:
    - key: probe
      handler: index.handler
    - key: out
      handler: index.out
"""


def _installed(api: str, events: str, resolver: str) -> Path:
    """node_modules with the three versions, as `npm install` gives them today (once per machine):
    @forge/api below 2.14 gets a newer @forge/storage than its era had, which forgeq adapts."""
    folder = Path(tempfile.gettempdir()) / "forgeq-era-matrix" / f"api{api}-events{events}-resolver{resolver}-fresh"
    stamp = folder / "node_modules" / ".forgeq-installed"
    if stamp.exists():
        return folder / "node_modules"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    package = {"name": "era-probe", "version": "1.0.0", "private": True,
               "dependencies": {"@forge/api": api, "@forge/events": events, "@forge/resolver": resolver}}
    (folder / "package.json").write_text(json.dumps(package))
    npm = shutil.which("npm")
    assert npm is not None, "npm is needed to install the matrix"
    done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    stamp.write_text("ok")
    return folder / "node_modules"


@pytest.mark.parametrize(("api", "events", "resolver"), MATRIX, ids=["-".join(combo) for combo in MATRIX])
def test_the_probe_runs_on(tmp_path, api, events, resolver):
    if NODE is None:
        pytest.skip("Node.js is not installed")
    modules = _installed(api, events, resolver)
    root = tmp_path / "app"
    write_app(root, MANIFEST, {"src/index.js": textwrap.dedent(PROBE)})
    (root / "node_modules").symlink_to(modules, target_is_directory=True)
    with ForgeApp(root / "manifest.yml") as app:
        app.push("probe", {"body": {"n": 7}})
        app.run_until_idle()
        assert app.dropped() == [], [a.error for a in app.attempts]
        probe = next(a for a in app.attempts if a.target == "probe")
        out = json.loads(probe.logs.strip().splitlines()[-1])
        major = release(api)[0]  # type: ignore[index]
        if major < 8:  # @forge/api 8 removed the legacy storage API
            assert out["stored"] == {"n": 7} and out["listed"] == 1
        assert out["job"] == ("probe-out" if release(events) < (2, 0, 0) else "string")  # type: ignore[operator]
        assert isinstance(out["jira"], int) and out["installContext"] == "ari:cloud:jira::site/site-1"
        delivered = [json.loads(a.logs) for a in app.attempts if a.target == "probe-out"]
        assert delivered == [{"n": 7}]
