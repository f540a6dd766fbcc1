import Resolver from '@forge/resolver';
import { Queue } from '@forge/events';
import { kvs } from '@forge/kvs';
import { SECTIONS, countSections } from './reports.js';

const queue = new Queue({ key: 'report-sections' });
const resolver = new Resolver();

resolver.define('build', async ({ payload, context }) => {
  const projectKey = context.extension.project.key;
  const reportId = `${projectKey}-${payload.n}`;
  const events = SECTIONS.map((section, i) => ({ body: { reportId, section }, delayInSeconds: i }));
  const { jobId } = await queue.push(events);
  await kvs.set(`report:${reportId}`, { jobId, requestedBy: context.accountId, sections: SECTIONS.length });
  return { reportId, jobId };
});

resolver.define('progress', async ({ payload }) => {
  const report = await kvs.get(`report:${payload.reportId}`);
  const stats = await queue.getJob(report.jobId).getStats();
  return { ...stats, built: await countSections(payload.reportId), token: (await kvs.getSecret('export-token')) ?? null };
});

resolver.define('cancel', async ({ payload }) => {
  const report = await kvs.get(`report:${payload.reportId}`);
  await queue.getJob(report.jobId).cancel();
  await kvs.deleteSecret('export-token');
  return { cancelled: report.jobId };
});

export const handler = resolver.getDefinitions();
