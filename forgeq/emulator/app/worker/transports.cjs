'use strict';
// How each era of Forge's JavaScript packages reaches the platform (read in their published code),
// and the one function that serves them all: `call(target, path, init, owner)` sends a "call" to
// forgeq and resolves with its reply {status, statusText, headers, body}.
//
//   @forge/api 1.x-2.9 (and @forge/events 0.5-0.7): the legacy sandbox runtime's `global.api`,
//     read when the module loads (api.asApp().__requestAtlassian, requestJira, __getAppAri, ...).
//   @forge/api 2.10-2.18.2: `global.api` if there is one, else node-fetch to the Forge Node.js
//     runtime's proxy, `${__forge_runtime__.proxy.url}/fpp/provider/{provider}/remote/{remote}`,
//     the product path in a Forge-Proxy-Target(-Relative) header.
//   @forge/api 2.18.3-5.0: `global.api` if there is one, else node-fetch to https://{remote}{path}
//     with the "magic agent" `agent: 'FORGE_PRODUCT_REQUEST'` (or 'EXTERNAL_AUTH_REQUEST'), which
//     the Forge runtime intercepts in Node's https.request. 5.0 sends product calls through
//     `__forge_fetch__` already.
//   @forge/api 5.1+ (and @forge/kvs, @forge/events 2.x-3.x through it): `__forge_fetch__(target, path, init)`.
//
// forgeq serves them as Forge's runtime did, with no listening socket: global.api is an object in
// this process, and the proxy's and the magic agent's requests (every http(s).request, in fact) are
// taken out of http(s).request.
const http = require('node:http');
const https = require('node:https');
const path = require('node:path');
const { Readable, Writable } = require('node:stream');

const PROXY_HOST = 'forgeq-proxy.invalid';
const PROXY_URL = `http://${PROXY_HOST}`;
const MAGIC_AGENTS = new Set(['FORGE_PRODUCT_REQUEST', 'EXTERNAL_AUTH_REQUEST']);
// Headers that carry the transport itself, not the request: the target already says where it goes.
const TRANSPORT_HEADERS = new Set([
  'forge-proxy-target',
  'forge-proxy-target-relative',
  'forge-proxy-authorization',
  'host',
  'connection',
  'content-length',
  'accept-encoding',
  'user-agent',
]);

// Request headers as one plain object, names lower-cased, whatever the caller built them with.
function headerObject(headers) {
  const result = {};
  if (!headers) return result;
  const add = (name, value) => {
    const key = String(name).toLowerCase();
    if (TRANSPORT_HEADERS.has(key) || value === undefined) return;
    result[key] = Array.isArray(value) ? value.join(', ') : String(value);
  };
  if (typeof headers.forEach === 'function' && !Array.isArray(headers)) headers.forEach((value, name) => add(name, value));
  else if (Array.isArray(headers) || typeof headers[Symbol.iterator] === 'function') for (const [name, value] of headers) add(name, value);
  else for (const [name, value] of Object.entries(headers)) add(name, value);
  return result;
}

function bodyText(body) {
  if (body == null) return null;
  if (typeof body === 'string') return body;
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) return Buffer.from(body).toString('utf8');
  return String(body);
}

// -- the legacy sandbox runtime's global.api ----------------------------------------------------------

// The sandbox answered with a plain object: @forge/api copies its own properties ({...response}).
function plainResponse(reply, url) {
  const text = reply.body == null ? '' : reply.body;
  return {
    ok: reply.status >= 200 && reply.status < 300,
    status: reply.status,
    statusText: reply.statusText || '',
    headers: { ...(reply.headers || {}) },
    url,
    text: async () => text,
    json: async () => JSON.parse(text),
    arrayBuffer: async () => {
      const bytes = Buffer.from(text, 'utf8');
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    },
  };
}

function sandboxApi(call, egress, runtime) {
  const requester = (target) => async (path, init) => {
    const options = init || {};
    const reply = await call(target, String(path), { method: options.method, headers: options.headers, body: options.body });
    return plainResponse(reply, String(path));
  };
  const as = (provider) => {
    const remote = (name) => requester({ type: 'fpp', provider, remote: name });
    return {
      requestJira: remote('jira'),
      requestConfluence: remote('confluence'),
      requestBitbucket: remote('bitbucket'),
      requestGraph: remote('stargate'),
      requestConnectedData: remote('stargate'),
      __requestAtlassian: remote('stargate'),
      withProvider: () => {
        throw new Error('forgeq does not emulate external authentication providers (asUser().withProvider)');
      },
    };
  };
  const none = as('none');
  return {
    fetch: async (url, init) => {
      const response = await egress(String(url), init);
      const text = await response.text();
      return plainResponse({ status: response.status, statusText: response.statusText, headers: Object.fromEntries(response.headers), body: text }, String(url));
    },
    requestJira: none.requestJira,
    requestConfluence: none.requestConfluence,
    requestBitbucket: none.requestBitbucket,
    asApp: () => as('app'),
    asUser: () => as('user'),
    __getAppAri: () => runtime.contextAri,
    webTrigger: {
      getUrl: async (key, forceCreate = false) => {
        const reply = await call({ type: 'fpp', provider: 'app', remote: 'stargate' }, '/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            query: 'mutation forge_app_createWebTriggerUrl($input: WebTriggerUrlInput!, $forceCreate: Boolean) { createWebTriggerUrl(input: $input, forceCreate: $forceCreate) { url } }',
            variables: { input: { appId: runtime.appContext.appId, envId: runtime.appContext.environmentId, triggerKey: key, contextId: runtime.contextAri }, forceCreate },
          }),
        });
        const url = reply.status === 200 ? JSON.parse(reply.body || '{}')?.data?.createWebTriggerUrl?.url : undefined;
        if (!url) throw new Error(`Internal error occurred: Failed to get web trigger URL: ${reply.statusText}.`);
        return url;
      },
    },
  };
}

// -- node-fetch through the Node.js runtime's proxy, and the magic agent ------------------------------

// Where an http(s).request of an @forge/api copy goes on Forge, or null for any other request.
function route(options) {
  const host = options.hostname || String(options.host || '').replace(/:\d+$/, '');
  const headers = headerObject(options.headers);
  const raw = lowerRaw(options.headers);
  if (host === PROXY_HOST) {
    const [pathname] = String(options.path || '/').split('?');
    const fpp = /^\/fpp\/provider\/([^/]+)\/remote\/([^/]+)$/.exec(pathname);
    const target = raw['forge-proxy-target-relative'] || raw['forge-proxy-target'];
    if (fpp) return { target: { type: 'fpp', provider: fpp[1], remote: fpp[2] }, path: String(target || '/'), headers };
    if (pathname === '/egress') return { egress: String(target), headers };
    return { target: { type: 'proxy' }, path: pathname, headers };
  }
  if (typeof options.agent === 'string' && MAGIC_AGENTS.has(options.agent)) {
    const auth = String(raw.authorization || '').split(/\s+/); // "Forge app", "Forge user <provider> <account>"
    delete headers.authorization;
    if (options.agent === 'EXTERNAL_AUTH_REQUEST') {
      const query = new URLSearchParams(String(options.path || '').split('?')[1] || '');
      return { target: { type: 'tpp', provider: auth[2], remote: host, accountId: auth[3] }, path: query.get('path') || '/', headers };
    }
    return { target: { type: 'fpp', provider: auth[0] === 'Forge' && auth[1] ? auth[1] : 'none', remote: host }, path: String(options.path || '/'), headers };
  }
  return null;
}

function lowerRaw(headers) {
  const result = {};
  for (const [name, value] of Object.entries(headers || {})) result[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  return result;
}

// What node-fetch gets back from http(s).request: a writable request that answers with a readable response.
class PlatformRequest extends Writable {
  constructor(routed, method, callback, call, egress, owner) {
    super();
    this.routed = routed;
    this.method = method || 'GET';
    this.chunks = [];
    this.aborted = false;
    this.answer = { call, egress, owner };
    if (callback) this.once('response', callback);
    this.once('finish', () => this.send());
  }

  _write(chunk, encoding, done) {
    this.chunks.push(Buffer.from(chunk, encoding));
    done();
  }

  setHeader() {}
  getHeader() {}
  removeHeader() {}
  setTimeout() { return this; }
  setNoDelay() {}
  setSocketKeepAlive() {}
  flushHeaders() {}
  abort() {
    this.aborted = true;
  }

  async send() {
    const { call, egress, owner } = this.answer;
    const body = this.chunks.length ? Buffer.concat(this.chunks).toString('utf8') : null;
    let reply;
    try {
      if (this.routed.egress !== undefined) {
        const response = await egress(this.routed.egress, { method: this.method, headers: this.routed.headers, body });
        reply = { status: response.status, statusText: response.statusText, headers: Object.fromEntries(response.headers), body: await response.text() };
      } else {
        reply = await call(this.routed.target, this.routed.path, { method: this.method, headers: this.routed.headers, body }, owner);
      }
    } catch (error) {
      if (!this.aborted) this.emit('error', error);
      return;
    }
    if (this.aborted) return;
    const response = new Readable({ read() {} });
    response.statusCode = reply.status;
    response.statusMessage = reply.statusText || '';
    response.headers = lowerRaw(reply.headers);
    response.rawHeaders = Object.entries(response.headers).flat();
    response.httpVersion = '1.1';
    if (reply.body != null && reply.body !== '') response.push(Buffer.from(reply.body, 'utf8'));
    response.push(null);
    this.emit('response', response);
  }
}

// Every http(s).request of the app becomes a call: the proxy's and the magic agent's as the platform
// requests they are, any other (node-fetch as @forge/api 2.18.3-4.x's own `fetch`, axios, ...) as an
// egress fetch, which goes where the app's `fetch` goes (worker.cjs): on Forge the runtime's proxy
// carries every outbound request, under the manifest's egress rules.
function interceptHttp(call, egress, currentOwner) {
  for (const [module, protocol] of [[http, 'http:'], [https, 'https:']]) {
    module.request = function request(...args) {
      let options = {};
      let callback;
      for (const arg of args) {
        if (typeof arg === 'function') callback = arg;
        else if (typeof arg === 'string' || arg instanceof URL) options = { ...urlOptions(new URL(String(arg))), ...options };
        else if (arg && typeof arg === 'object') options = { ...options, ...arg };
      }
      const routed = route(options) || { egress: urlOf(options, protocol), headers: headerObject(options.headers) };
      return new PlatformRequest(routed, options.method, callback, call, egress, currentOwner());
    };
    module.get = function get(...args) {
      const request = module.request(...args);
      request.end();
      return request;
    };
  }
}

// @forge/api below 2.14 asks for @forge/storage ^1.x and calls `new GlobalStorage(getAppContextAri,
// apiClient)`; @forge/storage 1.6 added a third argument (getMetrics) and 1.7 dropped the first. A
// copy that npm gave a newer @forge/storage than its era had gets, from its require, a GlobalStorage
// that takes the old arguments: adapters [{api: the copy's folder, storage: "1.6" | "1.7"}] (bridge.py).
function adaptStorage(adapters) {
  if (!adapters || !adapters.length) return;
  const Module = require('node:module');
  const load = Module._load;
  const adapted = new Map();
  Module._load = function forgeqLoad(request, parent, ...rest) {
    const loaded = load.call(this, request, parent, ...rest);
    if (request !== '@forge/storage' || !parent || !parent.filename) return loaded;
    const adapter = adapters.find((candidate) => parent.filename.startsWith(candidate.api + path.sep));
    if (!adapter) return loaded;
    if (!adapted.has(loaded)) adapted.set(loaded, withOldGlobalStorage(loaded, adapter.storage));
    return adapted.get(loaded);
  };
}

function withOldGlobalStorage(storage, form) {
  const Newer = storage.GlobalStorage;
  const noMetrics = () => undefined;
  class GlobalStorage extends Newer {
    constructor(getAppContextAri, apiClient) {
      if (form === '1.6') super(getAppContextAri, apiClient, noMetrics);
      else super(apiClient, noMetrics);
    }
  }
  return { ...storage, GlobalStorage };
}

function urlOf(options, protocol) {
  const host = options.hostname || String(options.host || 'localhost').replace(/:\d+$/, '');
  const port = options.port ? `:${options.port}` : '';
  return `${options.protocol || protocol}//${host}${port}${options.path || '/'}`;
}

function urlOptions(url) {
  return { protocol: url.protocol, hostname: url.hostname, port: url.port, path: url.pathname + url.search };
}

module.exports = { PROXY_URL, headerObject, bodyText, sandboxApi, interceptHttp, adaptStorage };
