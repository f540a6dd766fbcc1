// The differential suite's interpreter, JavaScript side: runs a case of cases.json (written by
// tests/paritykit.py, which documents the steps and the value tags) with @forge/events, @forge/kvs
// and @forge/resolver, and prints one `PARITY {...}` line per result. ../../parity-python/src/index.py
// is the same interpreter over forgeq's Python SDK; the suite compares what the two print.
import fs from 'node:fs';
import path from 'node:path';
import { appEvents, InvocationError, Queue, QueueResponse } from '@forge/events';
import { Filter, FilterConditions, kvs, WhereConditions } from '@forge/kvs';
import Resolver from '@forge/resolver';

class HarnessError extends Error {}

let loaded = null;
function theCase(id) {
  if (loaded === null) loaded = JSON.parse(fs.readFileSync(path.join(process.cwd(), 'cases.json'), 'utf8'));
  return loaded[id];
}

function make(spec) {
  if (Array.isArray(spec)) return spec.map(make);
  if (spec === null || typeof spec !== 'object') return spec;
  // `respond` holds what a consumer returns on each attempt: made by the consumer, not when pushed.
  if (!('$' in spec)) return Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, k === 'respond' ? v : make(v)]));
  switch (spec.$) {
    case 'nan':
      return NaN;
    case 'inf':
      return Infinity;
    case '-inf':
      return -Infinity;
    case 'repeat':
      return spec.text.repeat(spec.times);
    case 'deep': {
      let value = make(spec.leaf);
      for (let i = 0; i < spec.levels; i += 1) value = { a: value };
      return value;
    }
    case 'circular': {
      const value = { a: 1 };
      value.self = value;
      return value;
    }
    case 'circularArray': {
      const value = [1];
      value.push(value);
      return value;
    }
    case 'events':
      return Array.from({ length: spec.count }, () => ({ ...make(spec.extra || {}), body: make(spec.body) }));
    case 'InvocationError':
      return new InvocationError(...(spec.args || []).map(make));
    case 'QueueResponse': {
      const response = new QueueResponse();
      if (spec.retry) response.retry();
      return response;
    }
    case 'where':
      return WhereConditions[spec.cond](...spec.args.map(make));
    case 'filterCondition':
      return FilterConditions[spec.cond](...spec.args.map(make));
    case 'filter': {
      let filter = new Filter();
      for (const [field, condition] of spec.items) filter = filter[spec.op](make(field), make(condition));
      return filter;
    }
    default:
      throw new Error(`unknown tag ${spec.$}`);
  }
}

function described(error) {
  const found = { class: error && error.constructor ? error.constructor.name : typeof error, message: error && error.message };
  const code = error && (error.code !== undefined ? error.code : error.errorCode);
  if (code !== undefined) found.code = code;
  if (error && error.responseDetails) found.status = error.responseDetails.status;
  return found;
}

function plain(value) {
  return JSON.parse(JSON.stringify(value === undefined ? null : value) ?? 'null');
}

// Long strings (sizes at a limit) are printed as their length and first characters: a log is cut at 200 KB.
function clipped(value) {
  if (typeof value === 'string') return value.length > 200 ? `<${value.length} units: ${value.slice(0, 20)}>` : value;
  if (Array.isArray(value)) return value.length > 200 ? `<array of ${value.length}: ${JSON.stringify(value.slice(0, 3))}>` : value.map(clipped);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clipped(v)]));
  return value;
}

function print(record) {
  console.log(`PARITY ${JSON.stringify(clipped(JSON.parse(JSON.stringify(record))))}`);
}

function given(step, state) {
  if (!('job' in step)) return [];
  return [step.job === '$last' ? state.job.id : make(step.job)];
}

async function runStep(step, state) {
  if (['push', 'getStats', 'jobStats', 'cancel'].includes(step.do) && state.queue === null) throw new HarnessError('no queue');
  switch (step.do) {
    case 'queue':
      if ('params' in step) state.queue = new Queue(...(step.params === '$none' ? [] : [make(step.params)]));
      else state.queue = new Queue({ key: make(step.key) });
      return 'constructed';
    case 'push': {
      const result = await state.queue.push(...('events' in step ? [make(step.events)] : []));
      state.job.id = result.jobId;
      return result;
    }
    case 'getStats':
      return state.queue.getStats(...given(step, state));
    case 'jobStats':
      return state.queue.getJob(...given(step, state)).getStats();
    case 'cancel':
      return state.queue.cancel(...given(step, state));
    case 'kvs':
      return kvs[step.method](...step.args.map(make));
    case 'query': {
      let builder = kvs.query(...(step.options === undefined ? [] : [make(step.options)]));
      for (const [method, ...args] of step.chain) builder = builder[method](...args.map((arg) => (arg === '$cursor' ? state.cursor : make(arg))));
      const page = await builder;
      if (page && typeof page === 'object' && 'results' in page) state.cursor = page.nextCursor;
      return page;
    }
    case 'resolver': {
      const defined = new Resolver();
      for (const [key, fn] of step.defines) defined.define(make(key), fn === 'fn' ? () => undefined : make(fn));
      return defined.getFunction(make(step.get === undefined ? step.defines[0][0] : step.get)) ? 'found' : null;
    }
    case 'entity':
      return kvs.entity(make(step.name))[step.method](...step.args.map(make));
    case 'entityQuery': {
      let builder = kvs.entity(make(step.name)).query(...('options' in step ? [make(step.options)] : [])).index(...step.index.map(make));
      for (const [method, ...args] of step.chain) builder = builder[method](...args.map((arg) => (arg === '$cursor' ? state.cursor : make(arg))));
      const page = await builder;
      if (page && typeof page === 'object' && 'results' in page) state.cursor = page.nextCursor;
      return page;
    }
    case 'transact': {
      const transaction = kvs.transact();
      for (const [method, ...args] of step.ops) transaction[method](...args.map(make));
      return transaction.execute();
    }
    case 'appEvents':
      return appEvents.publish(make(step.events));
    case 'make':
      return make(step.value);
    default:
      throw new Error(`unknown step ${step.do}`);
  }
}

export async function cases(event) {
  const theOne = theCase(event.body.case);
  const retryCount = event.retryContext ? event.retryContext.retryCount : 0;
  const state = { queue: null, job: { id: null }, cursor: undefined };
  if (retryCount === 0) {
    for (const [index, step] of theOne.steps.entries()) {
      let record;
      try {
        record = { ok: plain(await runStep(step, state)) };
      } catch (error) {
        record = { error: described(error) };
      }
      print({ step: index, ...record });
    }
  } else {
    print({ retryContext: event.retryContext });
  }
  const thrown = theOne.throws || [];
  if (retryCount < thrown.length) throw make(thrown[retryCount]);
  const answers = theOne.returns || [];
  return retryCount < answers.length ? make(answers[retryCount]) : undefined;
}

export async function echo(event, context) {
  print({ received: event, context });
  const answers = event.body && Array.isArray(event.body.respond) ? event.body.respond : [];
  const retryCount = event.retryContext ? event.retryContext.retryCount : 0;
  return retryCount < answers.length ? make(answers[retryCount]) : undefined;
}

export async function trigger(payload, context) {
  print({ triggered: payload, context });
  const answers = payload && Array.isArray(payload.respond) ? payload.respond : [];
  const retryCount = payload && payload.retryContext ? payload.retryContext.retryCount : 0;
  return retryCount < answers.length ? make(answers[retryCount]) : undefined;
}

const resolver = new Resolver();
resolver.define('listener', ({ payload, context }) => {
  print({ payload, context });
  const answers = payload && Array.isArray(payload.respond) ? payload.respond : [];
  const retryCount = payload && payload.retryContext ? payload.retryContext.retryCount : 0;
  return retryCount < answers.length ? make(answers[retryCount]) : undefined;
});
export const v1 = resolver.getDefinitions();
