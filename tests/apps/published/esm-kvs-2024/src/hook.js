import { kvs } from '@forge/kvs';

export async function handler(request) {
  const auth = request.headers.authorization?.[0];
  if (!auth?.startsWith('Bearer ')) {
    return { statusCode: 401, headers: { 'WWW-Authenticate': ['Bearer'] }, body: '' };
  }
  await kvs.setSecret('export-token', auth.slice(7));
  return { statusCode: 204, headers: {} };
}
