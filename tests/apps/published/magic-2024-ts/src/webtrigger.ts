import { Queue } from '@forge/events';
import { storage } from '@forge/api';

interface WebTriggerRequest {
  method: string;
  body?: string;
  headers: Record<string, string[]>;
}

const queue = new Queue({ key: 'records' });

export const handler = async (request: WebTriggerRequest) => {
  const records: Array<{ id: string }> = JSON.parse(request.body ?? '[]');
  const token = request.headers['x-hook-token']?.[0];
  if (token) await storage.setSecret('hook-token', token);
  const jobId = await queue.push(records, { delayInSeconds: 5 });
  return {
    statusCode: 202,
    headers: { 'Content-Type': ['application/json'] },
    body: JSON.stringify({ jobId, queued: records.length }),
  };
};
