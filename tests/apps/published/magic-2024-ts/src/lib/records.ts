import { storage, startsWith } from '@forge/api';

export interface SyncRecord {
  id: string;
  state: 'new' | 'synced';
  attempts: number;
}

export const recordKey = (id: string): string => `record:${id}`;

export async function markSynced(id: string): Promise<SyncRecord> {
  const previous = (await storage.get(recordKey(id))) as SyncRecord | undefined;
  const record: SyncRecord = { id, state: 'synced', attempts: (previous?.attempts ?? 0) + 1 };
  await storage.set(recordKey(id), record);
  return record;
}

export async function firstRecord(): Promise<SyncRecord | undefined> {
  const found = await storage.query().where('key', startsWith('record:')).getOne();
  return found?.value as SyncRecord | undefined;
}
