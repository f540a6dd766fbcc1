import Resolver from '@forge/resolver';
import api, { route, storage } from '@forge/api';
import { syncKey } from './keys';

const resolver = new Resolver();

resolver.define('sync-link', async ({ payload, context }) => {
  const response = await api.asApp().requestJira(route`/rest/api/3/issue/${payload.issueKey}/remotelink`);
  if (!response.ok) {
    console.warn(`could not read the links of ${payload.issueKey}: ${response.status}`);
  }
  await storage.set(syncKey(payload.issueKey, payload.link), { link: payload.link, jobId: context.jobId, site: context.installContext });
});

export const handler = resolver.getDefinitions();
