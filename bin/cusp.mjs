#!/usr/bin/env node
// The `cusp` command: loads the TypeScript sources through tsx, then runs src/cli/main.ts.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
