import { kvs, WhereConditions } from '@forge/kvs';

export const SECTIONS = ['summary', 'issues', 'velocity', 'risks'];

export async function countSections(reportId) {
  let count = 0;
  let cursor;
  do {
    const page = await kvs.query().where('key', WhereConditions.beginsWith(`section:${reportId}:`)).limit(2).cursor(cursor).getMany();
    count += page.results.length;
    cursor = page.nextCursor;
  } while (cursor);
  return count;
}
