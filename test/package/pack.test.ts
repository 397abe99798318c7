// The package a user installs: `npm pack` of the repository, `npm install` of the tarball into a fresh project in
// the system's temporary directory (outside the repository, so nothing resolves to the checkout's sources), then, as
// that user: a TypeScript model file importing `nasgraph/ir`, `npx nasgraph space` and `check` on it, the IR imported
// from plain Node, and the shipped .d.ts type-checking the model file.
//
// The tarball's dependencies come from the local npm cache (filled by scripts/setup.sh's install) or the registry:
// `--prefer-offline`. No timing is asserted; every child gets minutes (packing runs the TypeScript build).
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const CHILD_TIMEOUT_MS = 600_000;
/** Packing builds dist/ and the UI page (prepack): two builds, minutes each on a loaded machine. */
const PACK_TIMEOUT_MS = 1_200_000;

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The environment without what `npm test` puts there about this repository: a child npm that saw
 * `npm_config_local_prefix` would install into the checkout instead of the fresh project.
 */
const cleanEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    const key = k.toLowerCase();
    if (key === 'init_cwd' || key === 'npm_config_local_prefix' || key === 'npm_config_call') continue;
    if (key.startsWith('npm_') && !key.startsWith('npm_config_')) continue;
    env[k] = v;
  }
  return env;
};

const run = (cmd: string, args: readonly string[], cwd: string, timeout = CHILD_TIMEOUT_MS): Promise<Result> =>
  new Promise((done) => {
    execFile(cmd, args, { cwd, env: cleanEnv(), encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      done({ code, stdout, stderr });
    });
  });

/** Runs and requires exit 0, showing what the child printed when it did not. */
const ok = async (cmd: string, args: readonly string[], cwd: string, timeout = CHILD_TIMEOUT_MS): Promise<Result> => {
  const r = await run(cmd, args, cwd, timeout);
  expect(r.code, `${cmd} ${args.join(' ')} in ${cwd}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r;
};

// Two decisions: a layer choice of two convolutions and an optional skip input: 2 · 2 = 4 architectures.
const MODEL = `import { type ModelDef, add, block, conv2d, defineModel, flatten, inputChoice, layerChoice, linear, relu } from 'nasgraph/ir';

const fresh: ModelDef = defineModel({
  name: 'fresh',
  input: [1, 8, 8],
  layer: block((ctx, x) => {
    const c = ctx.call('conv', layerChoice({ k3: conv2d({ out: 4, kernel: 3, padding: 1 }), k1: conv2d({ out: 4, kernel: 1 }) }), x);
    const skip = ctx.call('skip', inputChoice({ nChosen: null }), [c]);
    return ctx.call('fc', linear({ out: 3 }), flatten()(ctx, add(relu()(ctx, c), skip)));
  }),
});
export default fresh;
`;

let tmp = '';
let project = '';
let tarball = '';
let packed: readonly string[] = [];

beforeAll(async () => {
  tmp = realpathSync(mkdtempSync(join(tmpdir(), 'nasgraph-pack-')));
  // Packed from a copy of what the package is built from, so that its builds (dist/, and ui/dist/, which Vite
  // empties first) never touch the checkout while other test files use it; node_modules is the checkout's.
  const stage = join(tmp, 'stage');
  for (const f of ['package.json', 'README.md', '.npmrc', 'tsconfig.json', 'tsconfig.build.json', 'bin', 'src', 'ui']) {
    if (existsSync(join(root, f))) cpSync(join(root, f), join(stage, f), { recursive: true, filter: (from) => !from.startsWith(join(root, 'ui', 'dist')) });
  }
  symlinkSync(join(root, 'node_modules'), join(stage, 'node_modules'), 'dir');
  const pack = await ok('npm', ['pack', '--json', '--pack-destination', tmp], stage, PACK_TIMEOUT_MS);
  // npm prints the prepack script's output before the JSON on stdout.
  const info = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = join(tmp, info[0]!.filename);
  packed = info[0]!.files.map((f) => f.path);
  project = join(tmp, 'fresh-project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'fresh-project', version: '1.0.0', private: true }, null, 2));
  await ok('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], project);
  writeFileSync(join(project, 'model.ts'), MODEL);
}, PACK_TIMEOUT_MS + CHILD_TIMEOUT_MS + 60_000);

afterAll(() => {
  if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
});

describe('npm pack, installed into a fresh project', () => {
  it('ships the built JavaScript, the declarations, the bin and the UI page, and no sources or tests', () => {
    for (const f of ['bin/nasgraph.js', 'dist/index.js', 'dist/ir/index.js', 'dist/ir/index.d.ts', 'dist/ir/layers.d.ts', 'dist/cli/main.js', 'dist/runtime/index.d.ts', 'ui/dist/index.html', 'package.json']) {
      expect(packed, f).toContain(f);
    }
    expect(packed.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('is installed outside the repository, without the checkout\'s sources', () => {
    expect(project.startsWith(realpathSync(root))).toBe(false);
    const installed = join(project, 'node_modules', 'nasgraph');
    expect(existsSync(join(installed, 'dist', 'ir', 'index.js'))).toBe(true);
    expect(existsSync(join(installed, 'src'))).toBe(false);
  });

  it('`npx nasgraph space` lists the decisions of a model file importing nasgraph/ir', async () => {
    const r = await ok('npx', ['--no', 'nasgraph', 'space', 'model.ts'], project);
    const rows = r.stdout.split('\n').map((l) => l.trim().split(/\s{2,}/));
    expect(rows).toContainEqual(['conv', 'layer', '1', '-', 'k3, k1', '1: conv']);
    expect(rows).toContainEqual(['skip', 'input', 'any', '-', '1 unnamed input', '1: skip']);
    expect(r.stdout).toContain('2 decisions, 4 architectures');
    const json = await ok('npx', ['--no', 'nasgraph', 'space', 'model.ts', '--json'], project);
    expect(JSON.parse(json.stdout)).toEqual({
      conv: { _type: 'layer_choice', _value: ['k3', 'k1'] },
      skip: { _type: 'input_choice', _value: { candidates: [''], n_chosen: null } },
    });
  });

  it('`npx nasgraph check` applies an architecture, and names a bad one in one line', async () => {
    writeFileSync(join(project, 'arch.json'), JSON.stringify({ conv: 'k1', skip: [] }));
    const r = await ok('npx', ['--no', 'nasgraph', 'check', 'model.ts', 'arch.json'], project);
    expect(r.stdout).toMatch(/^conv\/k1\s+conv2d 1x1\s+\[4, 8, 8\]\s+8$/m);
    // conv 1x1, 1 → 4 channels: 4 weights + 4 biases; fc 4·8·8 → 3: 256·3 weights + 3 biases.
    expect(r.stdout).toContain(`trainable parameters: ${1 * 4 + 4 + (4 * 8 * 8 * 3 + 3)}`);

    writeFileSync(join(project, 'bad-arch.json'), JSON.stringify({ conv: 'k5', skip: [] }));
    const bad = await run('npx', ['--no', 'nasgraph', 'check', 'model.ts', 'bad-arch.json'], project);
    expect(bad.code).toBe(1);
    const errors = bad.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`key 'conv': "k5" is not a candidate name`);
    expect(bad.stderr).not.toMatch(/^\s+at /m);
  });

  it('`nasgraph ui` serves the packed page', async () => {
    mkdirSync(join(project, 'runs'), { recursive: true });
    // The bin itself (not npx) as the child, so that ending the child ends the server.
    const child = spawn(process.execPath, [join(project, 'node_modules', 'nasgraph', 'bin', 'nasgraph.js'), 'ui', 'runs', '--port', '0'], {
      cwd: project,
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      const url = await new Promise<string>((done, fail) => {
        const timer = setTimeout(() => fail(new Error(`no URL after ${CHILD_TIMEOUT_MS} ms: ${out}`)), CHILD_TIMEOUT_MS);
        const seen = (d: Buffer): void => {
          out += d.toString();
          const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(out);
          if (m !== null) {
            clearTimeout(timer);
            done(m[0]);
          }
        };
        child.stdout.on('data', seen);
        child.stderr.on('data', seen);
        child.on('exit', (code) => fail(new Error(`nasgraph ui exited (${code}) before serving: ${out}`)));
      });
      const page = await (await fetch(url)).text();
      expect(page).toContain('<title>nasgraph · NAS UI</title>');
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((done) => child.once('exit', done));
        child.kill('SIGTERM');
        await exited;
      }
    }
  });

  it('imports from plain Node (no TypeScript loader) and type-checks a model file against the shipped .d.ts', async () => {
    const script = `import { buildModel, searchSpace, apply, paramCount } from 'nasgraph/ir';
import { conv2d, defineModel, layerChoice, flatten, linear, block } from 'nasgraph';
const def = defineModel({ name: 'js', input: [1, 4, 4], layer: block((ctx, x) =>
  ctx.call('fc', linear({ out: 2 }), flatten()(ctx, ctx.call('c', layerChoice({ a: conv2d({ out: 2, kernel: 1 }), b: conv2d({ out: 2, kernel: 3, padding: 1 }) }), x)))) });
const g = buildModel(def);
if (g._tag !== 'Right') throw new Error(JSON.stringify(g.left));
const fixed = apply(g.right, { c: [1] });
console.log(String(searchSpace(g.right).size), paramCount(fixed.right));
`;
    writeFileSync(join(project, 'plain.mjs'), script);
    const r = await ok(process.execPath, ['plain.mjs'], project);
    // Choice b: conv 3x3 1 → 2 (18 + 2), fc 2·4·4 → 2 (64 + 2).
    expect(r.stdout.trim()).toBe(`2 ${1 * 2 * 9 + 2 + (2 * 4 * 4 * 2 + 2)}`);

    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: [] }, files: ['model.ts', 'wrong.ts'] }),
    );
    // A file that misuses the API must fail to type-check: the declarations are really read, not `any`.
    writeFileSync(join(project, 'wrong.ts'), `import { conv2d } from 'nasgraph/ir';\nexport const c = conv2d({ out: 'four', kernel: 3 });\n`);
    const tsc = await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], project);
    expect(tsc.code).toBe(2);
    const diagnostics = tsc.stdout.split('\n').filter((l) => l.includes('error TS'));
    expect(diagnostics.length).toBeGreaterThan(0);
    expect(diagnostics.every((l) => l.startsWith('wrong.ts('))).toBe(true);
  });
});
