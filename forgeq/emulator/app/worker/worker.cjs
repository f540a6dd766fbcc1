'use strict';
// forgeq's Node.js worker: runs a Forge app's JavaScript handlers for the Python emulator.
//
// Started once per run by forgeq/emulator/app/bridge.py with the app's folder as argument, and kept
// warm. It speaks newline-delimited JSON: requests come on stdin, answers go to stdout (no network
// listener). What the app prints is captured per attempt, never written to stdout.
//
//   forgeq -> worker   {t: "load", id, file, export}
//                      {t: "invoke", id, file, export, args, seed, runtime, timeoutMs}
//                      {t: "reply", id, status, statusText, headers, body}   (answers a "call")
//   worker -> forgeq   {t: "ready", node}
//                      {t: "loaded", id, ok, error?, logs}
//                      {t: "call", id, inv, target, path, method, headers, body}   (a platform request)
//                      {t: "done", id, ok, value?, error?, logs, notes}
//                      {t: "late", inv, text}   (what an ended invocation's leftover work printed or tried)
//
// Every era of Forge's own packages reaches the platform through `call()` below, in one shape:
// `global.__forge_fetch__(target, path, init)` of @forge/api 5.1+ and @forge/kvs, and, through
// transports.cjs, the legacy sandbox runtime's `global.api`, the Node.js runtime's proxy and the
// FORGE_PRODUCT_REQUEST agent of older @forge/api versions. `global.__forge_runtime__` holds the
// invocation's context and metrics. Each request becomes a "call" that the emulator answers as
// the cloud would (platform/api.py).
//
// An invocation ends when no call it started is outstanding and a turn of the event loop has
// passed without a new one (the continuations of the last answers run in that turn). Work left
// after that (a timer) is never run: its calls are refused, and what it prints or tries goes to
// forgeq as a "late" line of the invocation that started it.
const childProcess = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const nodeModule = require('node:module');
const { AsyncLocalStorage } = require('node:async_hooks');
const { pathToFileURL } = require('node:url');
const { PythonRandom } = require('./pyrandom.cjs');
const transports = require('./transports.cjs');

const APP_DIR = process.argv[2] || process.cwd();
const OPTIONS = JSON.parse(process.argv[3] || '{}'); // {legacyApi, storageAdapters, allowedEgress}: bridge.py
const MAX_LOG_CHARS = 256 * 1024; // forgeq cuts an attempt's log at 200 KB (Forge's limit) and says so
const LATE = Symbol('forgeq.late');

const protocolWrite = process.stdout.write.bind(process.stdout);
function send(message) {
  protocolWrite(JSON.stringify(message) + '\n');
}

// -- what the app prints ---------------------------------------------------------------------------

const context = new AsyncLocalStorage();
let active = null; // the invocation (or load) in progress: {id, logs, size, outstanding, ...}
let orphanLogs = []; // printed while nothing ran (a timer left behind): shown with the next attempt

// A line belongs to the invocation (or module load) whose code printed it: AsyncLocalStorage
// follows its promises and timers. Code that runs outside any prints into the one in progress.
function capture(chunk, encoding, callback) {
  const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  const owner = context.getStore();
  const target = owner && !owner.finished ? owner : owner ? null : active;
  if (owner && owner.finished) {
    late(owner, text);
  } else if (target) {
    if (target.size < MAX_LOG_CHARS) target.logs.push(text);
    target.size += text.length;
  } else if (orphanLogs.length < 1000) {
    orphanLogs.push(text);
  }
  const done = typeof encoding === 'function' ? encoding : callback;
  if (typeof done === 'function') process.nextTick(done);
  return true;
}

// What an ended invocation's leftover work printed or tried: sent to forgeq, which adds it to that
// invocation's attempt, once per turn of the event loop. A module load is no attempt: its
// leftovers are shown with the next attempt, labelled.
function late(owner, text) {
  if (owner.load) {
    if (orphanLogs.length < 1000) orphanLogs.push(`[forgeq: printed by work left from loading a module] ${text}`);
    return;
  }
  if (owner.lateSize < MAX_LOG_CHARS) owner.lateText += text;
  owner.lateSize += text.length;
  if (owner.lateQueued) return;
  owner.lateQueued = true;
  setImmediate(() => {
    send({ t: 'late', inv: owner.id, text: owner.lateText });
    owner.lateQueued = false;
    owner.lateText = '';
  });
}
process.stdout.write = capture;
process.stderr.write = capture;

process.removeAllListeners('warning');
process.on('warning', (warning) => {
  // Node's notes about how it parsed a file are about forgeq's loading, not the app.
  if (warning.code === 'MODULE_TYPELESS_PACKAGE_JSON' || warning.name === 'ExperimentalWarning') return;
  capture(`(node) ${warning.name}: ${warning.message}\n`);
});
process.on('SIGINT', () => {}); // Ctrl-C is forgeq's to handle: it ends the run between attempts

// -- determinism: Math.random and crypto.randomUUID, seeded per attempt -------------------------------

let randomSeed = 'forgeq:load';
let random = null; // made at the attempt's first draw: most attempts draw nothing
let uuidSeed = 'forgeq:load';
let uuidCount = 0;
Math.random = function random_() {
  if (random === null) random = new PythonRandom(randomSeed);
  return random.random();
};
function seededUUID() {
  const bytes = crypto.createHash('sha256').update(`${uuidSeed}:uuid:${++uuidCount}`).digest();
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
crypto.randomUUID = seededUUID;
if (globalThis.crypto) {
  try {
    Object.defineProperty(globalThis.crypto, 'randomUUID', { value: seededUUID, configurable: true, writable: true });
  } catch {
    // a read-only webcrypto object: leave it
  }
}
nodeModule.syncBuiltinESMExports();

// -- the platform: Forge's globals -----------------------------------------------------------------

let callCount = 0;
const pending = new Map();

const metrics = {
  counter: () => ({ incr() {}, decr() {} }),
  timing: () => ({ measure: () => ({ stop() {} }), set() {} }),
  gauge: () => ({ set() {} }),
};

const runtime = {
  appContext: {},
  contextAri: undefined,
  aaid: undefined,
  proxy: { token: 'forgeq', url: transports.PROXY_URL },
  allowedEgress: OPTIONS.allowedEgress || [],
  externalAuth: [],
  container: { appCodeDir: APP_DIR },
  tracing: { traceId: '0', spanId: '0' },
  metrics,
  lambdaContext: { getRemainingTimeInMillis: () => 0 },
};
global.__forge_runtime__ = runtime;
global.proxyInfo = runtime.proxy; // @forge/api 2.8-2.9 read the proxy from here

// One platform request of the invocation `owner` (the one whose code runs now, unless given): sent
// to forgeq as a "call"; resolves with its reply {status, statusText, headers, body}.
function call(target, requestPath, init, owner = context.getStore() || null) {
  const options = init || {};
  const method = String(options.method || 'GET').toUpperCase();
  if (owner && owner.finished) {
    // Work left behind by an invocation that already ended (an unawaited call in a timer): Forge
    // may run it in a later invocation, or never. forgeq never runs it, and says so.
    const error = new Error(
      `forgeq: ${method} ${requestPath} was made after its invocation ended; Forge may run such work in a later invocation, or never: forgeq drops it`
    );
    error[LATE] = true;
    late(owner, `${error.message}\n`);
    return Promise.reject(error);
  }
  const id = ++callCount;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, owner });
    if (owner) {
      owner.outstanding += 1;
      owner.started += 1;
    }
    send({
      t: 'call',
      id,
      inv: owner ? owner.id : null,
      target,
      path: String(requestPath),
      method,
      headers: transports.headerObject(options.headers),
      body: transports.bodyText(options.body),
    });
  });
}

global.__forge_fetch__ = async function forgeFetch(target, requestPath, init) {
  const answer = await call(target, requestPath, init);
  const bodyless = answer.status === 204 || answer.status === 205 || answer.status === 304;
  return new Response(bodyless || answer.body == null ? null : answer.body, {
    status: answer.status,
    statusText: answer.statusText || '',
    headers: answer.headers || {},
  });
};

// An app's own fetch() to the outside world: the global fetch (@forge/api 7.x and 8.x take it when
// they load), the legacy sandbox's api.fetch and the runtime proxy's /egress (transports.cjs).
// forgeq answers each itself (the fake product site: a stub, or 501 with a note), so nothing
// leaves the machine, and a URL the manifest does not declare fails as Forge's egress rule fails it.
async function egress(input, init) {
  const options = init || {};
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : String((input && input.url) || input);
  const method = options.method || (input && typeof input === 'object' && input.method) || 'GET';
  const response = await global.__forge_fetch__({ type: 'fetch' }, url, { method, headers: options.headers, body: options.body });
  if (response.headers.get('forge-proxy-error') === 'REQUEST_EGRESS_ALLOWLIST_ERR') {
    const error = new Error(
      `URL not included in the external fetch backend permissions: ${url}. Visit go.atlassian.com/forge-egress for more information.`
    );
    error.name = 'REQUEST_EGRESS_ALLOWLIST_ERR';
    error.status = 403;
    throw error;
  }
  return response;
}
global.fetch = egress;

transports.interceptHttp(call, egress, () => context.getStore() || null);
if (OPTIONS.legacyApi) global.api = transports.sandboxApi(call, egress, runtime);
transports.adaptStorage(OPTIONS.storageAdapters);

// Any other way out (node-fetch without Forge's agent, axios, http.request, a raw socket) ends at a
// TCP connect: refused here, so nothing an app does in the worker reaches the network. Local IPC
// (a path) is left alone.
const net = require('node:net');
const connectSocket = net.Socket.prototype.connect;
net.Socket.prototype.connect = function forgeqConnect(...args) {
  const first = args[0];
  const options = Array.isArray(first) ? first[0] || {} : typeof first === 'object' && first !== null ? first : { port: first, host: args[1] };
  if (options.path) return connectSocket.apply(this, args);
  const where = `${typeof options.host === 'string' ? options.host : 'localhost'}:${options.port}`;
  const error = new Error(
    `forgeq: a connection to ${where} was refused: nothing leaves the machine. Forge apps reach the network through @forge/api's fetch ` +
      '(declare the domain under permissions.external.fetch.backend, and stub it in stubs.yml)'
  );
  error.code = 'ECONNREFUSED';
  process.nextTick(() => this.destroy(error));
  return this;
};

function reply(message) {
  const waiting = pending.get(message.id);
  if (!waiting) return;
  pending.delete(message.id);
  waiting.resolve(message);
  const owner = waiting.owner;
  if (owner) {
    owner.outstanding -= 1;
    if (owner.outstanding === 0 && owner.onIdle) owner.onIdle();
  }
}

// -- the app's modules -----------------------------------------------------------------------------

const modules = new Map();

function importFile(file) {
  let loading = modules.get(file);
  if (!loading) {
    loading = import(pathToFileURL(file).href);
    modules.set(file, loading);
  }
  return loading;
}

class ExportProblem extends Error {}

async function exported(file, name) {
  const namespace = await importFile(file);
  // Own properties only: `index.constructor` must not find the Object every exports object inherits.
  const own = (object, key) => Object.prototype.hasOwnProperty.call(object, key);
  let value = own(namespace, name) ? namespace[name] : undefined;
  const fallback = namespace.default;
  if (value === undefined && fallback !== null && (typeof fallback === 'object' || typeof fallback === 'function') && own(fallback, name)) {
    value = fallback[name]; // a CommonJS module: module.exports.handler
  }
  if (value === undefined) throw new ExportProblem(`has no export '${name}'`);
  if (typeof value !== 'function') throw new ExportProblem(`export '${name}' is ${value === null ? 'null' : typeof value}, not a function`);
  return value;
}

// -- errors, as the timeline shows them --------------------------------------------------------------

function typeName(error) {
  if (error === null || typeof error !== 'object') return 'Error';
  const constructor = error.constructor && error.constructor.name;
  return constructor && constructor !== 'Object' ? constructor : error.name || 'Error';
}

const FRAME = /\(?((?:file:\/\/)?\/[^()\s]+?):(\d+):(\d+)\)?\s*$/;

function fileOf(location) {
  return location.startsWith('file://') ? decodeURIComponent(new URL(location).pathname) : location;
}

// The first stack frame in the app's own code (not node_modules, not Node, not forgeq).
function appFrame(stack) {
  for (const line of String(stack || '').split('\n')) {
    const match = FRAME.exec(line.trim());
    if (!match) continue;
    const file = fileOf(match[1]);
    if (!file.startsWith(APP_DIR + '/') || file.includes('/node_modules/')) continue;
    return { file: file.slice(APP_DIR.length + 1), line: Number(match[2]) };
  }
  return null;
}

// The stack without forgeq's and Node's internal frames.
function appStack(stack) {
  return String(stack || '')
    .split('\n')
    .filter((line) => !/^\s+at .*(node:internal|forgeq\/emulator\/app\/worker\/(worker|transports)\.cjs|AsyncLocalStorage\.run \(node:async_hooks)/.test(line))
    .join('\n');
}

function describe(error, file) {
  if (error === null || typeof error !== 'object') {
    return { type: 'Error', message: `a non-Error was thrown: ${safeString(error)}`, stack: null, where: null };
  }
  if (error._retry === true && !(error instanceof Error)) {
    // A thrown InvocationError: the plain object its constructor returns. Forge honours only a
    // returned one; forgeq names it as the Python SDK's raised InvocationError is named.
    return { type: 'InvocationError', message: safeString(error), stack: null, where: null };
  }
  let message = error.message === undefined ? safeString(error) : String(error.message);
  const code = typeof error.code === 'string' ? error.code : null;
  if (code && !message.includes(code) && typeName(error).startsWith('ForgeKvs')) message = `${code}: ${message}`;
  let frame = appFrame(error.stack);
  if (!frame && error instanceof SyntaxError) frame = syntaxLocation(error, file);
  return {
    type: typeName(error),
    message,
    code,
    stack: error.stack ? appStack(error.stack) : null,
    where: frame ? `${frame.file}:${frame.line}` : null,
  };
}

// Where a SyntaxError is. CommonJS compile errors start their stack with `file:line`; an ES
// module's compile error carries no location (Node keeps it private), so the app's .js/.mjs files
// (the failing module first) are checked one by one with `node --check`, which prints it.
function syntaxLocation(error, file) {
  const first = /^((?:file:\/\/)?\/[^\n]+):(\d+)$/m.exec(String(error.stack || '').split('\n')[0]);
  if (first) return { file: fileOf(first[1]).replace(APP_DIR + '/', ''), line: Number(first[2]) };
  const candidates = [];
  if (file) candidates.push(file);
  listSources(path.join(APP_DIR, 'src'), candidates, 200);
  for (const candidate of new Set(candidates)) {
    if (!/\.m?js$/.test(candidate)) continue;
    let source;
    try {
      source = fs.readFileSync(candidate, 'utf8');
    } catch {
      continue;
    }
    const checked = childProcess.spawnSync(process.execPath, ['--input-type=module', '--check'], { input: source, encoding: 'utf8' });
    const match = /^\[stdin\]:(\d+)/m.exec(checked.stderr || '');
    if (checked.status !== 0 && match && (checked.stderr || '').includes(error.message)) {
      return { file: path.relative(APP_DIR, candidate), line: Number(match[1]) };
    }
  }
  return null;
}

function listSources(folder, found, limit) {
  let entries;
  try {
    entries = fs.readdirSync(folder, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    if (found.length >= limit) return;
    const full = path.join(folder, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules' && !entry.name.startsWith('.')) listSources(full, found, limit);
    else if (entry.isFile()) found.push(full);
  }
}

function safeString(value) {
  try {
    return typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

// Unhandled rejections and uncaught exceptions would end the process; here they fail the attempt
// in progress (as in Forge's Node runtime, where they end the invocation).
function failure(kind, error) {
  if (error && error[LATE]) return;
  const target = active;
  if (target && !target.finished) {
    target.failures.push({ kind, error });
  } else {
    const described = describe(error);
    orphanLogs.push(`${kind} after its invocation ended: ${described.type}: ${described.message}\n`);
  }
}
process.on('unhandledRejection', (reason) => failure('unhandled rejection', reason));
process.on('uncaughtException', (error) => failure('uncaught exception', error));

// -- requests --------------------------------------------------------------------------------------

function takeLogs(owner) {
  let text = owner.logs.join('');
  if (owner.size > MAX_LOG_CHARS) text += `\n[forgeq: ${owner.size - MAX_LOG_CHARS} more characters of output not kept]\n`;
  return text;
}

function newOwner(id, load) {
  return { id, load, logs: [], size: 0, outstanding: 0, started: 0, failures: [], finished: false, onIdle: null, lateText: '', lateSize: 0, lateQueued: false };
}

async function load(message) {
  const owner = newOwner(message.id, true);
  active = owner;
  let answer;
  try {
    await context.run(owner, () => exported(message.file, message.export));
    answer = { ok: true };
  } catch (error) {
    answer = { ok: false, error: describe(error, message.file), problem: error instanceof ExportProblem };
  }
  owner.finished = true;
  active = null;
  send({ t: 'loaded', id: message.id, ...answer, logs: takeLogs(owner) });
}

// A turn of the event loop: rejections left unhandled by the ticks so far have been reported then.
function afterEvents() {
  return new Promise((resolve) => setImmediate(resolve));
}

// An invocation ends when no call it started is outstanding and one more turn of the event loop
// starts none: what the last answers' continuations do (read the body, call again) belongs to it.
// Timers are not waited for: Forge may run them in a later invocation, or never.
async function settle(owner) {
  for (;;) {
    while (owner.outstanding > 0) {
      await new Promise((resolve) => {
        owner.onIdle = resolve;
      });
    }
    const started = owner.started;
    await afterEvents();
    if (owner.outstanding === 0 && owner.started === started) return;
  }
}

async function invoke(message) {
  const owner = newOwner(message.id, false);
  active = owner;
  if (orphanLogs.length) {
    owner.logs.push(...orphanLogs);
    orphanLogs = [];
  }
  randomSeed = message.seed;
  random = null;
  uuidSeed = message.seed;
  uuidCount = 0;
  const deadline = Date.now() + (message.timeoutMs || 0);
  runtime.appContext = message.runtime || {};
  runtime.contextAri = runtime.appContext.installContext;
  runtime.lambdaContext = { getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) };
  let outcome;
  try {
    const handler = await context.run(owner, () => exported(message.file, message.export));
    const value = await context.run(owner, () => handler(...message.args));
    outcome = { ok: true, value };
  } catch (error) {
    outcome = { ok: false, error };
  }
  await settle(owner); // SDK calls the handler did not await finish, and their rejections surface
  owner.finished = true;
  active = null;
  const notes = [];
  const answer = { t: 'done', id: message.id, ok: outcome.ok, notes };
  if (!outcome.ok) {
    answer.error = describe(outcome.error);
  } else if (owner.failures.length) {
    const first = owner.failures[0];
    answer.ok = false;
    answer.error = describe(first.error);
    answer.error.kind = first.kind;
  } else if (outcome.value !== undefined) {
    try {
      answer.value = JSON.parse(JSON.stringify(outcome.value) ?? 'null');
    } catch (error) {
      notes.push(`the handler's return value is not JSON (${error.message}); forgeq treats it as no value`);
    }
  }
  if (answer.error && answer.error.stack) {
    // As Forge's logs show an invocation's error: its JavaScript stack, as V8 wrote it.
    owner.logs.push(`${answer.error.kind ? answer.error.kind + ': ' : ''}${answer.error.stack}\n`);
  }
  answer.logs = takeLogs(owner);
  send(answer);
}

// One request at a time: forgeq runs one attempt at a time, and waits for its answer.
let queue = Promise.resolve();
function handle(message) {
  if (message.t === 'reply') {
    reply(message);
  } else if (message.t === 'load') {
    queue = queue.then(() => load(message));
  } else if (message.t === 'invoke') {
    queue = queue.then(() => invoke(message));
  } else if (message.t === 'exit') {
    process.exit(0);
  }
}

let buffered = '';
let scanned = 0; // a long message comes in many chunks: look for its end only in what is new
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  let newline = buffered.indexOf('\n', scanned);
  while (newline >= 0) {
    const line = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    if (line.trim()) handle(JSON.parse(line));
    newline = buffered.indexOf('\n');
  }
  scanned = buffered.length;
});
// forgeq gone (it exited, or was killed with -9): nothing is left to answer for.
process.stdin.on('end', () => process.exit(0));

nodeModule.register('./hooks.mjs', { parentURL: pathToFileURL(__filename), data: { appDir: APP_DIR } });
process.setSourceMapsEnabled(true);
Error.stackTraceLimit = 30;
send({ t: 'ready', node: process.version });
