#!/usr/bin/env node
// The `nasgraph` command. Registers tsx so that model files written in TypeScript can be imported (both hooks are
// needed: a model file outside an ESM package ("type": "module") is loaded as CommonJS, and requires the IR's ES
// modules), then runs the CLI:
// - installed from the package (no src/ beside bin/): the built JavaScript in dist/, the same modules that a model
//   file's `import … from 'nasgraph/ir'` resolves to;
// - in a checkout (src/ present): the TypeScript sources themselves, never a stale dist/, and `nasgraph/…` imports
//   resolve to the sources too (package.json's "nasgraph-source" export condition), so that the CLI and a model
//   file share one copy of the IR.
import { existsSync } from 'node:fs';
import { register as registerHooks } from 'node:module';
import { register as registerCjs } from 'tsx/cjs/api';
import { register } from 'tsx/esm/api';

registerCjs();
register();
const source = new URL('../src/cli/main.ts', import.meta.url);
const checkout = existsSync(source);
if (checkout) {
  // Registered after tsx, so it runs first: adds the condition, then lets tsx and Node resolve.
  registerHooks(
    'data:text/javascript,' +
      encodeURIComponent(
        'export const resolve = (specifier, context, next) => next(specifier, { ...context, conditions: [...context.conditions, "nasgraph-source"] });',
      ),
  );
}
const { runCli } = await import(checkout ? source.href : new URL('../dist/cli/main.js', import.meta.url).href);
process.exitCode = await runCli(process.argv);
