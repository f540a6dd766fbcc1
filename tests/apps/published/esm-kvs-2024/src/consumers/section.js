import api, { route } from '@forge/api';
import { kvs } from '@forge/kvs';
import { InvocationError, InvocationErrorCode } from '@forge/events';

export const handler = async (event, context) => {
  const { reportId, section } = event.body;
  if (section === 'velocity' && !event.retryContext) {
    return new InvocationError({ retryAfter: 10, retryReason: InvocationErrorCode.FUNCTION_RETRY_REQUEST });
  }
  const projectKey = reportId.split('-')[0];
  const response = await api.asApp().requestJira(route`/rest/api/3/project/${projectKey}`);
  await kvs.set(`section:${reportId}:${section}`, {
    status: response.status,
    installContext: context.installContext,
    jobId: event.jobId,
    retries: event.retryContext ? event.retryContext.retryCount : 0,
  });
};
