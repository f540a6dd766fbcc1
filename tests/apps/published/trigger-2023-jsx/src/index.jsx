import Resolver from '@forge/resolver';
import { storage, startsWith } from '@forge/api';
import { Queue } from '@forge/events';
import { keep, score } from './score';

const queue = new Queue({ key: 'triage' });

export async function onCreated(event, context) {
  const jobId = await queue.push({ issue: event.issue, at: event.timestamp || null });
  console.log(`queued ${event.issue.key} as ${jobId}`);
}

const resolver = new Resolver();

resolver.define('score-issue', async ({ payload, context }) => {
  const { issue } = payload;
  const value = score(issue);
  await storage.set(`score-${issue.id.padStart(8, '0')}`, { key: issue.key, value, site: context.installContext });
  const { results } = await storage.query().where('key', startsWith('score-')).limit(20).getMany();
  for (const old of results.slice(0, Math.max(0, results.length - keep))) {
    await storage.delete(old.key);
  }
  return { key: issue.key, value };
});

export const triage = resolver.getDefinitions();
