// A v1 resolver consumer in CommonJS: a tally per status, kept exact by optimistic conditions
// (the count it read, or notExists), re-read and retried on a conflict.
const Resolver = require('@forge/resolver').default;
const { kvs, Filter, FilterConditions } = require('@forge/kvs');
const { InvocationError, InvocationErrorCode } = require('@forge/events');

const resolver = new Resolver();

resolver.define('tally', async ({ payload }) => {
  const { key } = payload;
  const status = Number(key.split('-')[1]) % 3 === 0 ? 'failed' : 'done';
  try {
    for (let tries = 0; tries < 10; tries++) {
      if (await kvs.entity('tally').get(`seen-${key}`)) return; // a duplicate delivery
      const held = await kvs.entity('tally').get(status);
      const count = held ? held.count : 0;
      const unchanged = held
        ? new Filter().and('count', FilterConditions.equalTo(count))
        : new Filter().and('count', FilterConditions.notExists());
      try {
        await kvs.transact()
          .set(status, { status, count: count + 1 }, { entityName: 'tally', conditions: unchanged })
          .set(`seen-${key}`, { status }, {
            entityName: 'tally',
            conditions: new Filter().and('status', FilterConditions.notExists()),
          })
          .execute();
        return;
      } catch (error) {
        if (error.code !== 'CONDITIONAL_CHECK_FAILED') throw error;
      }
    }
    throw new Error(`the tally of ${status} kept moving`);
  } catch (error) {
    if (error.code === 'RATE_LIMIT_EXCEEDED' || error.code === 'TOO_MANY_REQUESTS') {
      const retryCount = payload.retryContext ? payload.retryContext.retryCount : 0;
      return new InvocationError({
        retryAfter: 15 * 2 ** retryCount,
        retryReason: InvocationErrorCode.FUNCTION_UPSTREAM_RATE_LIMITED,
      });
    }
    throw error;
  }
});

exports.handler = resolver.getDefinitions();
