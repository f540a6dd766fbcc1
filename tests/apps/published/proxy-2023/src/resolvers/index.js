import Resolver from '@forge/resolver';
import { storage, startsWith } from '@forge/api';
import { Queue } from '@forge/events';
import { syncKey } from '../keys';

const queue = new Queue({ key: 'link-sync' });
const resolver = new Resolver();

resolver.define('startSync', async ({ payload, context }) => {
  const links = payload.links || [];
  const jobId = await queue.push(links.map((link) => ({ issueKey: payload.issueKey, link })));
  await storage.set(`sync-job-${payload.issueKey}`, jobId);
  return { jobId, accountId: context.accountId };
});

resolver.define('getStatus', async ({ payload }) => {
  const jobId = await storage.get(`sync-job-${payload.issueKey}`);
  if (!jobId) return { status: 'never synced' };
  const response = await queue.getJob(jobId).getStats();
  const stats = await response.json();
  let synced = 0;
  let cursor;
  do {
    const page = await storage.query().where('key', startsWith(syncKey(payload.issueKey, ''))).limit(2).cursor(cursor).getMany();
    synced += page.results.length;
    cursor = page.nextCursor;
  } while (cursor);
  return { ...stats, synced };
});

export const handler = resolver.getDefinitions();
