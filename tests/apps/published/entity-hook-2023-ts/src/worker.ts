import Resolver from '@forge/resolver';
import { storage } from '@forge/api';
import { Delivery } from './types';

const resolver = new Resolver();

resolver.define('deliver', async ({ payload, context }) => {
  const { id } = payload as { id: string; repo: string };
  const deliveryStore = storage.entity<Delivery>('delivery');
  const current = await deliveryStore.get(id);
  if (!current) throw new Error(`no delivery ${id}`);
  await deliveryStore.set(id, { ...current, status: 'done', attempts: current.attempts + 1 });
  await storage.set(`delivered:${id}`, { jobId: context.jobId, installContext: context.installContext });
  console.log(`delivered ${id} of ${current.repo}`);
});

export const worker = resolver.getDefinitions();
