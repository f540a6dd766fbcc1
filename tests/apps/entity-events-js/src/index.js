import { kvs, WhereConditions, FilterConditions, Filter, Sort } from '@forge/kvs';
import { Queue, InvocationError, InvocationErrorCode } from '@forge/events';

const ingestQueue = new Queue({ key: 'ingest' });

// The bulk import: one event fans out into pushes of 50, each with a concurrency key (3 at a time per source).
export const bulk = async (event) => {
  const { from, to } = event.body;
  const batch = [];
  for (let n = from; n < to; n++) {
    batch.push({ body: { n }, concurrency: { key: `src-${n % 3}`, limit: 3 } });
    if (batch.length === 50) { await ingestQueue.push(batch.splice(0)); }
  }
  if (batch.length) await ingestQueue.push(batch);
};

const shape = (n) => ({
  source: `src-${n % 3}`,
  kind: ['alpha', 'beta', 'gamma', 'delta'][n % 4],
  seq: n,
  weight: (n % 11) * 0.5 - 2,
  flagged: n % 5 === 0,
  label: `L${String(n % 17).padStart(2, '0')}-${n}`,
  ...(n % 6 === 0 ? { extra: n % 12 === 0 ? 'text' : n } : {}),
});

async function bump(tx, name, read) {
  const current = read ? read.value : 0;
  return tx.set(name, { value: current + 1, owner: 'ingest' }, {
    entityName: 'counter',
    conditions: read ? new Filter().and('value', FilterConditions.equalTo(current))
                     : new Filter().and('value', FilterConditions.notExists()),
  });
}

export const ingest = async (event) => {
  const { n } = event.body;
  try {
    for (let tries = 0; tries < 20; tries++) {
      const counters = kvs.entity('counter');
      const total = await counters.get('total');
      const perSource = await counters.get(`src-${n % 3}`);
      // every seventh event is also held to a check on an item that never exists: it fails, nothing is written
      let tx = kvs.transact().set(`rec-${n}`, shape(n), {
        entityName: 'event-record',
        conditions: new Filter().and('seq', FilterConditions.notExists()),
      });
      tx = await bump(tx, 'total', total);
      tx = await bump(tx, `src-${n % 3}`, perSource);
      if (n % 7 === 0) {
        tx = tx.check('gate', { entityName: 'counter', conditions: new Filter().and('value', FilterConditions.lessThan(0)) });
      }
      try {
        await tx.execute();
        return;
      } catch (error) {
        if (error.code !== 'CONDITIONAL_CHECK_FAILED') throw error;
        if (n % 7 === 0) {
          // the gate refused it: count the rejection once (the rejection key is the idempotency guard)
          const rejected = await counters.get('rejected');
          try {
            let rtx = kvs.transact().set(`rej-${n}`, { value: n, owner: 'gate' }, {
              entityName: 'counter', conditions: new Filter().and('owner', FilterConditions.notExists()) });
            rtx = await bump(rtx, 'rejected', rejected);
            await rtx.execute();
            return;
          } catch (again) {
            if (again.code !== 'CONDITIONAL_CHECK_FAILED') throw again;
            if (await counters.get(`rej-${n}`)) return;
            continue;
          }
        }
        if (await kvs.entity('event-record').get(`rec-${n}`)) return; // a duplicate delivery
      }
    }
    throw new Error(`counter kept moving for ${n}`);
  } catch (error) {
    if (error.code === 'RATE_LIMIT_EXCEEDED' || error.code === 'TOO_MANY_REQUESTS') {
      return new InvocationError({
        retryAfter: Math.min(900, 5 * 2 ** (event.retryContext?.retryCount ?? 0)),
        retryReason: InvocationErrorCode.FUNCTION_UPSTREAM_RATE_LIMITED,
      });
    }
    throw error;
  }
};

async function all(build, limit) {
  const keys = [];
  let cursor;
  let pages = 0;
  do {
    let q = build().limit(limit);
    if (cursor) q = q.cursor(cursor);
    const page = await q.getMany();
    keys.push(...page.results.map((r) => r.key));
    cursor = page.nextCursor;
    pages += 1;
  } while (cursor && pages < 1000);
  return keys;
}

export const query = async (request) => {
  const records = () => kvs.entity('event-record').query();
  const W = WhereConditions, F = FilterConditions;
  const out = {};
  out.src1_desc = await all(() => records().index('by-source-seq', { partition: ['src-1'] }).where(W.between(10, 200)).sort(Sort.DESC), 7);
  out.src2_gt = await all(() => records().index('by-source-seq', { partition: ['src-2'] }).where(W.greaterThan(100)), 9);
  out.src0_lte = await all(() => records().index('by-source-seq', { partition: ['src-0'] }).where(W.lessThanEqualTo(60)).sort(Sort.DESC), 4);
  out.src0_gte = await all(() => records().index('by-source-seq', { partition: ['src-0'] }).where(W.greaterThanEqualTo(60)), 13);
  out.src0_lt = await all(() => records().index('by-source-seq', { partition: ['src-0'] }).where(W.lessThan(33)), 5);
  out.src0_eq = await all(() => records().index('by-source-seq', { partition: ['src-0'] }).where(W.equalTo(33)), 5);
  out.label_prefix = await all(() => records().index('label').where(W.beginsWith('L03-')), 6);
  out.label_prefix_desc = await all(() => records().index('label').where(W.beginsWith('L1')).sort(Sort.DESC), 11);
  out.kind_weight = await all(() => records().index('by-kind-flag-weight', { partition: ['beta', false] }).where(W.between(-1, 1.5)), 3);
  out.kind_weight_flag = await all(() => records().index('by-kind-flag-weight', { partition: ['alpha', true] }).sort(Sort.DESC), 3);
  out.bykey_prefix = await all(() => records().index('by-key').where(W.beginsWith('rec-1')), 8);
  out.bykey_between = await all(() => records().index('by-key').where(W.between('rec-2', 'rec-4')).sort(Sort.DESC), 8);
  // filters: every FilterCondition
  out.f_and = await all(() => records().index('by-source-seq', { partition: ['src-1'] })
    .filters(new Filter().and('kind', F.equalTo('beta')).and('weight', F.greaterThan(0)).and('label', F.contains('-1'))), 4);
  out.f_or = await all(() => records().index('by-key')
    .filters(new Filter().or('flagged', F.equalTo(true)).or('extra', F.exists()).or('weight', F.lessThanEqualTo(-2))), 10);
  out.f_not = await all(() => records().index('by-key')
    .filters(new Filter().and('kind', F.notEqualTo('alpha')).and('label', F.notContains('7')).and('extra', F.notExists())
      .and('seq', F.greaterThanEqualTo(5)).and('seq', F.lessThan(250))), 10);
  out.f_between_begins = await all(() => records().index('label').where(W.beginsWith('L0'))
    .filters(new Filter().and('weight', F.between(0, 2)).and('source', F.beginsWith('src-2'))), 3);
  out.f_lt_any = await all(() => records().index('by-key')
    .filters(new Filter().and('extra', F.lessThan(100)).and('extra', F.greaterThanEqualTo(0))), 10);
  out.f_any_str = await all(() => records().index('by-key')
    .filters(new Filter().and('extra', F.equalTo('text'))), 10);
  const one = await records().index('by-source-seq', { partition: ['src-0'] }).sort(Sort.DESC).getOne();
  out.getone = one ? one.key : null;
  // The counters through a query (the tests inject 429s into reads, writes and transactions, not queries).
  const held = {};
  let cursor;
  do {
    let page = kvs.entity('counter').query().index('by-key').limit(100);
    if (cursor) page = page.cursor(cursor);
    const { results, nextCursor } = await page.getMany();
    for (const { key, value } of results) held[key] = value.value;
    cursor = nextCursor;
  } while (cursor);
  out.counters = {};
  for (const name of ['total', 'src-0', 'src-1', 'src-2', 'rejected']) out.counters[name] = held[name] ?? 0;
  return { statusCode: 200, headers: { 'Content-Type': ['application/json'] }, body: JSON.stringify(out) };
};
