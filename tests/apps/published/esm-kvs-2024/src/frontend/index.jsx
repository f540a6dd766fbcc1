import React from 'react';
import ForgeReconciler, { Button } from '@forge/react';
import { invoke } from '@forge/bridge';

const App = () => <Button onClick={() => invoke('build', { n: 1 })}>Build report</Button>;
ForgeReconciler.render(<App />);
