const Resolver = require('@forge/resolver').default;
const { storage, startsWith } = require('@forge/api');

const resolver = new Resolver();

resolver.define('import-row', async ({ payload, context }) => {
  if (typeof payload !== 'object' || !payload.summary) {
    console.log('skipping a row without a summary');
    return;
  }
  const key = `row-${payload.id}`;
  const seen = await storage.get(key);
  await storage.set(key, {
    summary: payload.summary,
    imports: seen ? seen.imports + 1 : 1,
    installContext: context.installContext,
    jobId: context.jobId,
  });
  const stored = await storage.query().where('key', startsWith('row-')).limit(20).getMany();
  console.log(`stored ${key}; ${stored.results.length} row(s) on this page`);
});

exports.handler = resolver.getDefinitions();
