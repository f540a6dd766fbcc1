import React, { useEffect, useState } from 'react';
import ForgeReconciler, { Button, Text } from '@forge/react';
import { invoke } from '@forge/bridge';

const App = () => {
  const [progress, setProgress] = useState(null);
  useEffect(() => {
    invoke('progress').then(setProgress);
  }, []);
  return (
    <>
      <Button onClick={() => invoke('enqueue', { pageIds: ['101', '102', '103'] })}>Export</Button>
      <Text>{progress ? `${progress.exported} exported` : 'Loading...'}</Text>
    </>
  );
};

ForgeReconciler.render(<App />);
