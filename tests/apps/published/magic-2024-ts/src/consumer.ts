import Resolver from '@forge/resolver';
import { storage } from '@forge/api';
import { firstRecord, markSynced } from './lib/records';

const resolver = new Resolver();

resolver.define('process-record', async ({ payload, context }) => {
  const { id } = payload as { id: string };
  const token = await storage.getSecret('hook-token');
  const record = await markSynced(id);
  const total = ((await storage.get('total')) as number | undefined) ?? 0;
  await storage.set('total', total + 1);
  const first = await firstRecord();
  console.log(`record ${record.id} synced (token ${token ? 'set' : 'missing'}, first ${first?.id}, site ${context.installContext})`);
  return record;
});

export const handler = resolver.getDefinitions();
