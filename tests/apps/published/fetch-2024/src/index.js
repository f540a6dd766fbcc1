import Resolver from '@forge/resolver';
import api, { getAppContext, route, startsWith, storage } from '@forge/api';
import { Queue } from '@forge/events';

const exportQueue = new Queue({ key: 'page-export' });

const ui = new Resolver();

ui.define('enqueue', async ({ payload }) => {
  const jobId = await exportQueue.push(payload.pageIds.map((pageId) => ({ pageId })));
  await storage.set('export-job', jobId);
  return { jobId };
});

ui.define('progress', async () => {
  let exported = 0;
  let cursor;
  for (;;) {
    const page = await storage.query().where('key', startsWith('exported-')).cursor(cursor).getMany();
    if (page.results.length === 0) break;
    exported += page.results.length;
    cursor = page.nextCursor;
  }
  return { exported };
});

export const uiHandler = ui.getDefinitions();

const worker = new Resolver();

worker.define('export-page', async ({ payload, context }) => {
  const { moduleKey, environmentType } = getAppContext();
  const response = await api.asApp().requestConfluence(route`/wiki/api/v2/pages/${payload.pageId}?body-format=storage`);
  const title = response.ok ? (await response.json()).title : `page ${payload.pageId}`;
  await storage.set(`exported-${payload.pageId}`, { title, moduleKey, environmentType, jobId: context.jobId });
  console.log(`exported ${payload.pageId} (${response.status})`);
});

export const exportHandler = worker.getDefinitions();
