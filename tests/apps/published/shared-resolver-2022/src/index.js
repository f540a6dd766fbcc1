import Resolver from '@forge/resolver';
import { storage, startsWith } from '@forge/api';
import { Queue } from '@forge/events';

const queue = new Queue({ key: 'comment-queue' });
const resolver = new Resolver();

resolver.define('getText', (req) => {
  console.log(req);
  return 'Hello, world!';
});

resolver.define('queueComments', async ({ payload, context }) => {
  const issueKey = context.extension.issue.key;
  const events = payload.comments.map((text, n) => ({ issueKey, text, n }));
  const jobId = await queue.push(events, { delayInSeconds: 2 });
  await storage.set(`job-${issueKey}`, { jobId, by: context.accountId, at: context.localId });
  await storage.setSecret('last-user', context.accountId);
  return jobId;
});

resolver.define('status', async ({ context }) => {
  const issueKey = context.extension.issue.key;
  const job = await storage.get(`job-${issueKey}`);
  if (!job) return { none: true };
  const stats = await (await queue.getJob(job.jobId).getStats()).json();
  const first = await storage.query().where('key', startsWith(`comment-${issueKey}-`)).getOne();
  let count = 0;
  let cursor;
  do {
    const page = await storage.query().where('key', startsWith(`comment-${issueKey}-`)).limit(1).cursor(cursor).getMany();
    count += page.results.length;
    cursor = page.nextCursor;
  } while (cursor);
  return { ...stats, count, first: first ? first.value.text : null, by: job.by, secret: await storage.getSecret('last-user') };
});

resolver.define('reset', async ({ context }) => {
  const issueKey = context.extension.issue.key;
  await storage.deleteSecret('last-user');
  const { results } = await storage.query().where('key', startsWith(`comment-${issueKey}-`)).getMany();
  for (const { key } of results) await storage.delete(key);
  await storage.delete(`job-${issueKey}`);
  return { deleted: results.length, secret: (await storage.getSecret('last-user')) === undefined };
});

resolver.define('event-listener', async ({ payload, context }) => {
  await storage.set(`comment-${payload.issueKey}-${payload.n}`, {
    text: payload.text,
    installContext: context.installContext,
    jobId: context.jobId || null,
  });
  console.log(`stored comment ${payload.n} of ${payload.issueKey}`);
});

export const handler = resolver.getDefinitions();
