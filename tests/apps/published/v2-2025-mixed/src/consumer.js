import { InvocationError, InvocationErrorCode } from '@forge/events';
import { storage } from '@forge/api';

const { kvs } = require('@forge/kvs');

export async function handler(event, context) {
  const { issueKey, label } = event.body;
  const done = (await storage.get(`labelled:${issueKey}`)) || [];
  if (issueKey.endsWith('-7') && !event.retryContext) {
    // the first delivery of DEMO-7 finds the issue locked: ask Forge for a retry in 30 s
    return new InvocationError({ retryAfter: 30, retryReason: InvocationErrorCode.FUNCTION_RETRY_REQUEST, retryData: { locked: true } });
  }
  await storage.set(`labelled:${issueKey}`, [...done, label]);
  const counter = (await kvs.get('labelled-count')) || 0;
  await kvs.set('labelled-count', counter + 1);
  console.log(`${issueKey} labelled ${label} (job ${event.jobId}, retry ${event.retryContext ? event.retryContext.retryCount : 0}, ${context.installContext})`);
}
