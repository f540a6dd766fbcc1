export { hook } from './hook';
export { worker } from './worker';
export { ui } from './ui';
