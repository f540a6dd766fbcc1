// One record per created issue, counted exactly once. The record and the counter (an item of
// "tally") change in one transaction: the record's notExists condition makes a duplicate delivery
// fail it whole, and the counter's condition (the count this attempt read) makes a stale read fail
// it, to be read again. A 429 asks for a retry with exponential backoff.
import { kvs, Filter, FilterConditions, WhereConditions, Sort } from '@forge/kvs';
import { Queue, InvocationError, InvocationErrorCode } from '@forge/events';

const imports = new Queue({ key: 'import-queue' });
const audits = new Queue({ key: 'audit-queue' });

const shape = (key) => {
  const n = Number(key.split('-')[1]);
  return { issueKey: key, status: n % 3 === 0 ? 'failed' : 'done', attempts: n % 7 };
};

export const onCreated = async (event) => {
  const key = event.issue.key;
  await imports.push({ body: { key } });
  await audits.push({ body: { key } });
};

async function countOnce(key) {
  for (let tries = 0; tries < 10; tries++) {
    const counter = await kvs.entity('tally').get('counter');
    const total = counter ? counter.count : 0;
    try {
      await kvs.transact()
        .set(`rec-${key}`, shape(key), {
          entityName: 'import-record',
          conditions: new Filter().and('issueKey', FilterConditions.notExists()),
        })
        .set('counter', { status: 'counter', count: total + 1 }, {
          entityName: 'tally',
          conditions: counter
            ? new Filter().and('count', FilterConditions.equalTo(total))
            : new Filter().and('count', FilterConditions.notExists()),
        })
        .execute();
      return true;
    } catch (error) {
      if (error.code !== 'CONDITIONAL_CHECK_FAILED') throw error;
      if (await kvs.entity('import-record').get(`rec-${key}`)) return false;
    }
  }
  throw new Error(`the counter kept moving while counting ${key}`);
}

export const consume = async (event) => {
  const { key } = event.body;
  try {
    if (!(await countOnce(key))) {
      console.log('already counted', key);
      return;
    }
    const page = await kvs.entity('import-record').query()
      .index('by-status', { partition: ['failed'] })
      .where(WhereConditions.greaterThan(2))
      .sort(Sort.DESC)
      .limit(20)
      .getMany();
    console.log('failed with more than 2 attempts so far:', page.results.length);
  } catch (error) {
    if (error.code === 'RATE_LIMIT_EXCEEDED' || error.code === 'TOO_MANY_REQUESTS') {
      const retryCount = event.retryContext?.retryCount ?? 0;
      return new InvocationError({
        retryAfter: Math.min(900, 10 * 2 ** retryCount),
        retryReason: InvocationErrorCode.FUNCTION_UPSTREAM_RATE_LIMITED,
      });
    }
    throw error;
  }
};

// The failed records with more than 2 attempts, most attempts first, read 7 at a time.
export const report = async () => {
  const keys = [];
  let cursor;
  do {
    let query = kvs.entity('import-record').query()
      .index('by-status', { partition: ['failed'] })
      .where(WhereConditions.greaterThan(2))
      .sort(Sort.DESC)
      .limit(7);
    if (cursor) query = query.cursor(cursor);
    const page = await query.getMany();
    keys.push(...page.results.map((item) => item.key));
    cursor = page.nextCursor;
  } while (cursor);
  const counter = await kvs.entity('tally').get('counter');
  return {
    statusCode: 200,
    headers: { 'Content-Type': ['application/json'] },
    body: JSON.stringify({ counter: counter?.count, failed: keys }),
  };
};
