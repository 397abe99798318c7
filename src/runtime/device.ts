/**
 * The GPU device: Dawn through the npm `webgpu` package (a real GPU when present, Mesa's lavapipe otherwise).
 *
 * `acquireDevice()` returns `Either<DeviceError, Gpu>`; a missing driver is an error that says how to install
 * one. A `Gpu` owns the Dawn instance and the device; it turns WebGPU's error scopes, uncaptured errors and
 * device loss into `GpuError`s labelled with the work that caused them, and after a loss every call fails fast.
 *
 * Dawn facts this file depends on:
 * - The object returned by `create()` must stay referenced while its device lives, or Dawn crashes at a later
 *   GC; while it is referenced, Node does not exit. `Gpu` holds it until `destroy()` has taken effect.
 * - `create(['adapter=NAME'])` picks the adapter whose name contains NAME (case-sensitive); an unknown NAME makes
 *   `requestAdapter()` throw "no suitable backends found\nAvailable adapters:\n * backend: 'B', name: 'N'" —
 *   the only way the binding offers to enumerate adapters, which `listAdapters` parses.
 *
 * @example
 * const gpu = await acquireDevice();              // or acquireDevice({ adapter: 'nvidia' })
 * if (E.isLeft(gpu)) { console.error(gpu.left.message); process.exit(1); }
 * const r = await gpu.right.withErrorScope('fill', (device) => runMyKernel(device));
 * gpu.right.destroy();
 */
import * as E from 'fp-ts/lib/Either.js';
import { create, globals } from 'webgpu';
import { type DeviceError, type GpuError, type GpuErrorKind, deviceLost, gpuException, gpuReported } from './gpu-errors.ts';

export type { DeviceError, GpuError } from './gpu-errors.ts';

/** Creates a Dawn instance (a `navigator.gpu`) from Dawn flags; injectable so tests can simulate a machine. */
export type GpuFactory = (flags: string[]) => GPU;

export interface AcquireOptions {
  /**
   * Prefer the adapter whose name, vendor, architecture, device or description contains this text
   * (case-insensitive), e.g. 'llvmpipe' or 'nvidia'. When none matches: an `AdapterNotFound` error listing those
   * present.
   */
  readonly adapter?: string;
  readonly powerPreference?: GPUPowerPreference;
  /** Replaces `webgpu`'s `create` (tests simulate a machine without adapters with it). */
  readonly gpuFactory?: GpuFactory;
}

export interface AdapterInfo {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** One line for the CLI, e.g. "llvmpipe: Mesa 25.0.7 (LLVM 15.0.6) [mesa/software]". */
  readonly name: string;
}

/** An adapter Dawn can see: its backend ('vulkan', 'metal', …) and its name (what `adapter=` matches). */
export interface AdapterListing {
  readonly backend: string;
  readonly name: string;
}

/** Features requested when the adapter has them. */
const WANTED_FEATURES: readonly GPUFeatureName[] = ['timestamp-query', 'shader-f16', 'subgroups'];

/** Limits raised to the adapter's maximum (the defaults are far below what training needs). */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeInvocationsPerWorkgroup',
] as const;

let globalsInstalled = false;
/** GPUBufferUsage, GPUMapMode, … are globals in a browser; the binding hands them over as an object. */
const installGlobals = (): void => {
  if (!globalsInstalled) {
    Object.assign(globalThis, globals);
    globalsInstalled = true;
  }
};

const defaultFactory: GpuFactory = (flags) => create(flags);

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

const NO_ADAPTER_HELP =
  'No WebGPU adapter found: Dawn needs a Vulkan (Linux), Metal (macOS) or D3D12 (Windows) driver. ' +
  "On Linux without a GPU, install Mesa's software Vulkan driver (lavapipe, Mesa >= 23): in the nasgraph repository run " +
  '`bash scripts/setup-vulkan.sh` (on Debian bookworm it installs libvulkan1 and mesa-vulkan-drivers from bookworm-backports; ' +
  'elsewhere `apt-get install libvulkan1 mesa-vulkan-drivers`). With a GPU, install its vendor Vulkan driver. ' +
  '`vulkaninfo --summary` (package vulkan-tools) shows what Vulkan sees.';

/** Parses the adapter list of Dawn's "no suitable backends found" message. */
export const parseAdapterList = (message: string): readonly AdapterListing[] =>
  [...message.matchAll(/^\s*\*\s*backend:\s*'([^']*)',\s*name:\s*'(.*)'\s*$/gm)].map((m) => ({ backend: m[1]!, name: m[2]! }));

/**
 * The adapters Dawn can see, by asking for one that cannot exist and reading the list Dawn prints in its
 * error. Empty when there are none (or the binding changed its message).
 */
export const listAdapters = async (factory: GpuFactory = defaultFactory): Promise<readonly AdapterListing[]> => {
  installGlobals();
  try {
    // An adapter (a binding that ignores the flag) or null: nothing to parse; the caller falls back.
    await factory(['adapter=\u0001nasgraph: list adapters\u0001']).requestAdapter();
    return [];
  } catch (e) {
    return parseAdapterList(messageOf(e));
  }
};

const infoOf = (adapter: GPUAdapter): AdapterInfo => {
  const i = adapter.info;
  const vendor = i.vendor ?? '';
  const architecture = i.architecture ?? '';
  const device = i.device ?? '';
  const description = i.description ?? '';
  const tags = [vendor, architecture].filter((s) => s !== '').join('/');
  const name = `${description || device || 'unknown adapter'}${tags ? ` [${tags}]` : ''}`;
  return { vendor, architecture, device, description, name };
};

const softwarePattern = /llvmpipe|lavapipe|swiftshader|software/i;

/** Requests an adapter from one Dawn instance; an exception or null is a reason string. */
const requestAdapter = async (gpu: GPU, powerPreference: GPUPowerPreference | undefined): Promise<E.Either<string, GPUAdapter>> => {
  try {
    const adapter = await gpu.requestAdapter(powerPreference === undefined ? {} : { powerPreference });
    return adapter === null ? E.left('requestAdapter() returned null') : E.right(adapter);
  } catch (e) {
    return E.left(messageOf(e));
  }
};

interface Found {
  readonly instance: GPU;
  readonly adapter: GPUAdapter;
}

const findAdapter = async (o: AcquireOptions, factory: GpuFactory): Promise<E.Either<DeviceError, Found>> => {
  if (o.adapter === undefined) {
    let instance: GPU;
    try {
      instance = factory([]);
    } catch (e) {
      return E.left({ tag: 'NoAdapter', message: `${NO_ADAPTER_HELP} (Dawn: ${messageOf(e)})` });
    }
    const adapter = await requestAdapter(instance, o.powerPreference);
    return E.isLeft(adapter)
      ? E.left({ tag: 'NoAdapter', message: `${NO_ADAPTER_HELP} (Dawn: ${adapter.left})` })
      : E.right({ instance, adapter: adapter.right });
  }
  const wanted = o.adapter.toLowerCase();
  const listed = await listAdapters(factory);
  // Without a list (nothing found, or a binding that does not print one), try the default adapter alone.
  const tries = listed.length > 0 ? listed.map((l) => ({ l, flags: [`adapter=${l.name}`, `backend=${l.backend}`] })) : [{ l: undefined, flags: [] }];
  const available: string[] = [];
  // Try each adapter: the text may match its Dawn name, or only its vendor/architecture/description.
  for (const { l, flags } of tries) {
    let instance: GPU;
    try {
      instance = factory(flags);
    } catch {
      continue;
    }
    const adapter = await requestAdapter(instance, o.powerPreference);
    if (E.isLeft(adapter)) continue;
    const info = infoOf(adapter.right);
    available.push(l === undefined ? info.name : `${l.name} (${l.backend})`);
    const haystack = [l?.name ?? '', info.vendor, info.architecture, info.device, info.description].join('\n').toLowerCase();
    if (haystack.includes(wanted)) return E.right({ instance, adapter: adapter.right });
  }
  if (available.length === 0) return E.left({ tag: 'NoAdapter', message: `${NO_ADAPTER_HELP} (looking for an adapter matching '${o.adapter}')` });
  return E.left({
    tag: 'AdapterNotFound',
    wanted: o.adapter,
    available,
    message: `no WebGPU adapter matches '${o.adapter}'; available: ${available.join('; ')}`,
  });
};

/**
 * A device on the best (or the named) adapter, with the adapter's maximum storage/workgroup limits and the
 * features timestamp-query, shader-f16 and subgroups when the adapter has them.
 */
export const acquireDevice = async (o: AcquireOptions = {}): Promise<E.Either<DeviceError, Gpu>> => {
  installGlobals();
  // Mesa's Vulkan loader warns (and some drivers fail) without a runtime directory.
  process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
  const found = await findAdapter(o, o.gpuFactory ?? defaultFactory);
  if (E.isLeft(found)) return found;
  const { instance, adapter } = found.right;
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const k of WANTED_LIMITS) requiredLimits[k] = adapter.limits[k];
  const info = infoOf(adapter);
  try {
    const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'nasgraph' });
    const software = softwarePattern.test(`${info.architecture} ${info.device} ${info.description}`) || adapter.info.isFallbackAdapter === true;
    return E.right(new Gpu(instance, device, info, software));
  } catch (e) {
    return E.left({ tag: 'DeviceRequestFailed', message: `the adapter ${info.name} refused a device: ${messageOf(e)}` });
  }
};

interface LostState {
  readonly reason: string;
  readonly message: string;
}

const ERROR_KINDS: readonly GpuErrorKind[] = ['validation', 'out-of-memory', 'internal'];

/**
 * An acquired WebGPU device (an effectful resource: destroy it when done). Error reporting:
 * - `withErrorScope(label, fn)` runs `fn` inside validation/out-of-memory/internal error scopes and returns the
 *   first error they caught (or fn's exception) labelled with `label`. Await one call before starting another
 *   that runs concurrently (scopes are a stack per device); nesting is fine.
 * - `checkErrors(label)` waits for submitted work and reports errors no scope caught (onuncapturederror).
 * - After the device is lost (or destroyed), both return a `DeviceLost` error at once, and a call in flight
 *   when the loss happens returns one instead of waiting forever.
 */
export class Gpu {
  readonly device: GPUDevice;
  readonly adapterInfo: AdapterInfo;
  /** A CPU implementation (lavapipe/llvmpipe, SwiftShader): slow, keep shapes small. */
  readonly isSoftware: boolean;
  readonly features: ReadonlySet<string>;
  readonly limits: GPUSupportedLimits;
  /** Dawn's instance: referenced for the device's whole life (Dawn crashes at GC otherwise). */
  #instance: GPU | undefined;
  #lost: LostState | undefined;
  readonly #lostSignal: Promise<LostState>;
  /**
   * Callbacks of `raceLost` calls in flight, all settled once when the device is lost. One reaction on the
   * never-settling loss promise per call would stay attached forever (about 2 KB per call); a set entry is
   * removed as soon as its race is decided.
   */
  readonly #onLoss = new Set<(s: LostState) => void>();
  #uncaptured: { readonly kind: GpuErrorKind; readonly message: string }[] = [];

  constructor(instance: GPU, device: GPUDevice, adapterInfo: AdapterInfo, isSoftware: boolean) {
    this.#instance = instance;
    this.device = device;
    this.adapterInfo = adapterInfo;
    this.isSoftware = isSoftware;
    this.features = new Set(device.features);
    this.limits = device.limits;
    this.#lostSignal = device.lost.then((info) => {
      const state = { reason: info.reason, message: info.message };
      this.#lost = state;
      const pending = [...this.#onLoss];
      this.#onLoss.clear();
      for (const settle of pending) settle(state);
      return state;
    });
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      const err = ev.error;
      const kind: GpuErrorKind =
        err instanceof GPUValidationError ? 'validation' : err instanceof GPUOutOfMemoryError ? 'out-of-memory' : 'internal';
      this.#uncaptured.push({ kind, message: err.message });
    };
  }

  /** Whether the device is known to be lost (or destroyed). */
  get isLost(): boolean {
    return this.#lost !== undefined;
  }

  /** The DeviceLost error for `label`, if the device is lost. */
  lostError(label: string): GpuError | undefined {
    return this.#lost === undefined ? undefined : deviceLost(label, this.#lost.reason, this.#lost.message);
  }

  /** `p`, or a DeviceLost error if the device is lost before `p` settles (a rejection becomes an Exception). */
  async raceLost<T>(label: string, p: Promise<T>): Promise<E.Either<GpuError, T>> {
    const lost = this.lostError(label);
    if (lost !== undefined) {
      p.catch(() => undefined); // settles after the loss: nobody waits for it, so it must not become unhandled
      return E.left(lost);
    }
    return new Promise<E.Either<GpuError, T>>((resolve) => {
      const onLost = (s: LostState): void => resolve(E.left(deviceLost(label, s.reason, s.message)));
      this.#onLoss.add(onLost);
      p.then(
        (v) => {
          this.#onLoss.delete(onLost);
          resolve(E.right(v));
        },
        (e: unknown) => {
          this.#onLoss.delete(onLost);
          resolve(E.left(gpuException(label, e)));
        },
      );
    });
  }

  /**
   * Runs `fn(device)` inside error scopes; returns its value, or the first GPU error (validation before
   * out-of-memory before internal) or exception, with `label` in the message.
   *
   * @example
   * const r = await gpu.withErrorScope('conv2d at conv1', (d) => d.createComputePipeline(desc));
   */
  async withErrorScope<T>(label: string, fn: (device: GPUDevice) => T | Promise<T>): Promise<E.Either<GpuError, T>> {
    const lost = this.lostError(label);
    if (lost !== undefined) return E.left(lost);
    const d = this.device;
    for (let i = ERROR_KINDS.length - 1; i >= 0; i--) d.pushErrorScope(ERROR_KINDS[i]!);
    let result: E.Either<GpuError, T>;
    try {
      result = await this.raceLost(label, Promise.resolve(fn(d)));
    } catch (e) {
      result = E.left(gpuException(label, e));
    }
    // Pop all three even after an exception, so the scope stack stays balanced. Innermost first: validation.
    const pops = ERROR_KINDS.map(() => d.popErrorScope());
    const popped = await this.raceLost(label, Promise.all(pops));
    if (E.isLeft(popped)) return E.isLeft(result) && result.left.tag === 'DeviceLost' ? result : popped;
    const i = popped.right.findIndex((e) => e !== null);
    if (i >= 0) return E.left(gpuReported(ERROR_KINDS[i]!, label, popped.right[i]!.message));
    return result;
  }

  /**
   * Waits for the work submitted so far, then reports the first error no scope caught since the last check
   * (all of them are in the message), or the device loss.
   */
  async checkErrors(label: string): Promise<E.Either<GpuError, void>> {
    // An empty submit also lets Dawn free buffers destroyed since the last one (after a writeBuffer, Dawn defers
    // the free to the next submit).
    const lost = this.lostError(label);
    if (lost !== undefined) return E.left(lost);
    this.device.queue.submit([]);
    const done = await this.raceLost(label, this.device.queue.onSubmittedWorkDone());
    if (E.isLeft(done)) return done;
    const errs = this.#uncaptured;
    this.#uncaptured = [];
    const first = errs[0];
    if (first === undefined) return E.right(undefined);
    const more = errs.length > 1 ? ` (and ${errs.length - 1} more: ${errs.slice(1).map((e) => e.message.trim()).join(' | ')})` : '';
    return E.left(gpuReported(first.kind, label, `${first.message}${more}`));
  }

  /** Destroys the device (idempotent); the Dawn instance is released once the loss has been signalled. */
  destroy(): void {
    if (this.#instance === undefined) return;
    this.device.destroy();
    void this.#lostSignal.then(() => {
      this.#instance = undefined;
    });
  }
}
