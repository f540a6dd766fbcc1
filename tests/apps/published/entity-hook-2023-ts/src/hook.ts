import { storage } from '@forge/api';
import { Queue } from '@forge/events';
import { Delivery, WebTriggerRequest, WebTriggerResponse } from './types';

const queue = new Queue({ key: 'deliveries' });

const json = (statusCode: number, statusText: string, body: unknown): WebTriggerResponse => ({
  statusCode,
  statusText,
  headers: { 'Content-Type': ['application/json'], 'X-Relay': ['forge'] },
  body: JSON.stringify(body),
});

export const hook = async (request: WebTriggerRequest): Promise<WebTriggerResponse> => {
  if (request.method === 'GET') {
    const job = request.queryParameters.job?.[0];
    if (!job) return json(400, 'Bad Request', { error: 'job is required' });
    const stats = await (await queue.getJob(job).getStats()).json();
    return json(200, 'OK', stats);
  }
  if (request.headers['x-github-event']?.[0] !== 'push') {
    return json(202, 'Accepted', { ignored: true });
  }
  const { deliveries } = JSON.parse(request.body) as { deliveries: Array<{ id: string; repo: string }> };
  const deliveryStore = storage.entity<Delivery>('delivery');
  for (const { id, repo } of deliveries) {
    await deliveryStore.set(id, { repo, status: 'queued', attempts: 0 });
  }
  const jobId = await queue.push(deliveries.map(({ id, repo }) => ({ id, repo })));
  return json(201, 'Created', { jobId, count: deliveries.length });
};
