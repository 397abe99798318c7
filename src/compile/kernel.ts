/**
 * The unit of generated GPU code: one WGSL compute entry point, specialised to its shapes (sizes are WGSL
 * constants, so one source = one pipeline, cached by source text), with its bindings and dispatch size.
 *
 * Binding convention: every kernel uses bind group 0; `bindings[i]` describes `@binding(i)`. Storage buffers
 * hold f32 arrays (vec4<f32> views are allowed where the generator guarantees alignment).
 */
export type BindingAccess = 'read' | 'read_write' | 'uniform';

export interface Binding {
  /** What the binding holds, for messages and for the lowering to wire buffers (e.g. 'x', 'weight', 'out'). */
  readonly name: string;
  readonly access: BindingAccess;
}

export interface Kernel {
  /** Human label naming the op and node, used in GPU error messages ("conv2d at conv1/conv3x3"). */
  readonly label: string;
  readonly wgsl: string;
  readonly entryPoint: string;
  readonly bindings: readonly Binding[];
  /** Workgroup counts for dispatchWorkgroups(x, y, z). */
  readonly workgroups: readonly [number, number, number];
}

/** WebGPU's default limit on workgroups per dimension. */
export const MAX_WORKGROUPS_PER_DIM = 65535;
