const { Queue } = require('@forge/events');
const { storage } = require('@forge/api');

const queue = new Queue({ key: 'import-rows' });

const respond = (statusCode, body) => ({
  statusCode,
  headers: { 'Content-Type': ['application/json'] },
  body: JSON.stringify(body),
});

exports.run = async (request) => {
  let rows;
  try {
    rows = JSON.parse(request.body || '{}').rows || [];
  } catch (e) {
    return respond(400, { error: 'body must be JSON' });
  }
  if (!rows.length) return respond(400, { error: 'no rows' });
  const jobs = [];
  for (let i = 0; i < rows.length; i += 50) {
    // v1 pushes take the payloads themselves and answer "<queue>#<jobId>"
    jobs.push(await queue.push(rows.slice(i, i + 50)));
  }
  await storage.set('last-import', { jobs, rows: rows.length });
  return respond(200, { jobs });
};
