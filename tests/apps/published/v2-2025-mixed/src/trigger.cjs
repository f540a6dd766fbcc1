const { Queue } = require('@forge/events');
const { kvs } = require('@forge/kvs');

const queue = new Queue({ key: 'labels' });

module.exports.run = async (request) => {
  const { issueKeys = [], label = 'bulk' } = JSON.parse(request.body || '{}');
  const events = issueKeys.map((issueKey) => ({ body: { issueKey, label }, concurrency: { key: label, limit: 2 } }));
  const { jobId } = await queue.push(events);
  await kvs.set(`job:${jobId}`, { label, total: issueKeys.length });
  return { statusCode: 200, headers: { 'Content-Type': ['application/json'] }, body: JSON.stringify({ jobId }) };
};
