#!/usr/bin/env node
// The `venuebox` command. The agent is TypeScript run through tsx (the customer's choice): no build step,
// the code on the box is the code in the repository.
import { register } from 'tsx/esm/api';

register();
await import('../agent/cli.ts');
