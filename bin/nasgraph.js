#!/usr/bin/env node
// The `nasgraph` command. Registers tsx so that the CLI (TypeScript sources, no build step) and model files
// written in TypeScript can be imported, then runs the CLI. Both hooks are needed: a model file outside an ESM
// package ("type": "module") is loaded as CommonJS, and requires the IR's ES modules.
import { register as registerCjs } from 'tsx/cjs/api';
import { register } from 'tsx/esm/api';

registerCjs();
register();
const { runCli } = await import(new URL('../src/cli/main.ts', import.meta.url).href);
process.exitCode = await runCli(process.argv);
