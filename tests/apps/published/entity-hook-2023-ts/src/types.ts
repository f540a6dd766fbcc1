export interface Delivery {
  repo: string;
  status: 'queued' | 'done';
  attempts: number;
}

export interface WebTriggerRequest {
  method: string;
  path: string;
  body: string;
  headers: { [name: string]: string[] };
  queryParameters: { [name: string]: string[] };
}

export interface WebTriggerResponse {
  statusCode: number;
  statusText?: string;
  headers: { [name: string]: string[] };
  body: string;
}
