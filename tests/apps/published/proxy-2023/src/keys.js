export const syncKey = (issueKey, link) => `synced-${issueKey}-${link}`;
