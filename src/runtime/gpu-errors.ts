/**
 * Errors of the device layer, as tagged unions with a human message.
 *
 * `DeviceError`: getting a device failed (no adapter, the named adapter is not there, the device request was
 * refused). `GpuError`: something went wrong on a device we have: a validation, out-of-memory or internal error
 * reported by WebGPU, a JavaScript exception thrown by the binding, or the device was lost. Every `GpuError`
 * carries the label of the work it happened in (e.g. "conv2d at cell1/conv3x3"), and its message starts with it.
 */

export type DeviceError =
  | { readonly tag: 'NoAdapter'; readonly message: string }
  | { readonly tag: 'AdapterNotFound'; readonly wanted: string; readonly available: readonly string[]; readonly message: string }
  | { readonly tag: 'DeviceRequestFailed'; readonly message: string };

export type GpuErrorKind = 'validation' | 'out-of-memory' | 'internal';

export type GpuError =
  /** WebGPU reported an error (validation, out-of-memory or internal) while `label` ran. */
  | { readonly tag: 'GpuReported'; readonly kind: GpuErrorKind; readonly label: string; readonly message: string }
  /** The binding threw a JavaScript exception (e.g. a malformed descriptor) while `label` ran. */
  | { readonly tag: 'Exception'; readonly label: string; readonly message: string }
  /** The device is lost (destroyed, driver reset, crash): every later call fails with this. */
  | { readonly tag: 'DeviceLost'; readonly label: string; readonly reason: string; readonly message: string };

/** A GpuError of `kind` that happened in `label`. */
export const gpuReported = (kind: GpuErrorKind, label: string, detail: string): GpuError => ({
  tag: 'GpuReported',
  kind,
  label,
  message: `${label}: WebGPU ${kind} error: ${detail.trim()}`,
});

/** A GpuError for an exception thrown while `label` ran. */
export const gpuException = (label: string, e: unknown): GpuError => ({
  tag: 'Exception',
  label,
  message: `${label}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
});

/** A GpuError for work `label` attempted on (or interrupted by) a lost device. */
export const deviceLost = (label: string, reason: string, detail: string): GpuError => ({
  tag: 'DeviceLost',
  label,
  reason,
  message: `${label}: the GPU device is lost (${reason}${detail ? `: ${detail.trim()}` : ''}); acquire a new device`,
});

/** An Error carrying a GpuError, for callers that prefer to throw (tests, the CLI's last resort). */
export class GpuFailure extends Error {
  readonly detail: GpuError | DeviceError;
  constructor(detail: GpuError | DeviceError) {
    super(detail.message);
    this.name = 'GpuFailure';
    this.detail = detail;
  }
}
