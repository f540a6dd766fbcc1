import Resolver from '@forge/resolver';
import { storage, webTrigger, WhereConditions } from '@forge/api';
import { Delivery } from './types';

const resolver = new Resolver();

resolver.define('summary', async ({ context }) => {
  const done = await storage
    .entity<Delivery>('delivery')
    .query()
    .index('by-status', { partition: ['done'] })
    .where(WhereConditions.isGreaterThan(0))
    .limit(10)
    .getMany();
  const queued = await storage.entity<Delivery>('delivery').query().index('by-status', { partition: ['queued'] }).getMany();
  const url = await webTrigger.getUrl('delivery-hook');
  return { done: done.results.map((r) => r.key).sort(), queued: queued.results.length, url, accountId: context.accountId };
});

export const ui = resolver.getDefinitions();
