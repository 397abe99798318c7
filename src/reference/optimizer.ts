/**
 * The published update rules in plain TypeScript (float64), written from PyTorch's documented algorithms
 * (torch.optim.SGD, Adam, AdamW, Adadelta; torch.nn.utils.clip_grad_norm_) independently of the WGSL kernels:
 * they take the step number and the learning rate, not the kernels' per-step scalars. They are the oracle of
 * the optimizer tests and a CPU fallback for tiny models.
 *
 * @example
 * let s = initialReferenceState(rule, [w]);
 * s = referenceStep(rule, s, [g], { t: 1, lr: 0.1 });   // s.params[0] is w after one step
 */
import type { UpdateRule } from '../compile/kernels/optimizer.ts';

/** Parameters and optimizer state (`state[k][j]`: slot j of parameter k, in `stateSlots` order). */
export interface ReferenceState {
  readonly params: readonly Float64Array[];
  readonly state: readonly (readonly Float64Array[])[];
}

/** The state before the first step: the given parameters, zero optimizer state. */
export const initialReferenceState = (rule: UpdateRule, params: readonly ArrayLike<number>[]): ReferenceState => {
  const slots = rule.kind === 'sgd' ? (rule.momentum === 0 ? 0 : 1) : 2;
  return {
    params: params.map((p) => Float64Array.from(p)),
    state: params.map((p) => Array.from({ length: slots }, () => new Float64Array(p.length))),
  };
};

/** The global L2 norm of all gradients and clip_grad_norm_'s factor min(1, maxNorm / (norm + 1e-6)). */
export const referenceClip = (grads: readonly ArrayLike<number>[], maxNorm: number): { readonly norm: number; readonly scale: number } => {
  let sq = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) sq += g[i]! * g[i]!;
  const norm = Math.sqrt(sq);
  return { norm, scale: Math.min(1, maxNorm / (norm + 1e-6)) };
};

/**
 * One optimizer step `t` (1-based) at learning rate `lr` on gradients `grads` (already clipped, if clipping).
 *
 * SGD: g ← g + λθ; b ← g (t = 1) or μb + (1 − τ)g; g ← g + μb (Nesterov) or b; θ ← θ − γg.
 * Adam: g ← g + λθ; m ← β1m + (1 − β1)g; v ← β2v + (1 − β2)g²; θ ← θ − γ·(m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε).
 * AdamW: θ ← θ(1 − γλ) first, then Adam without the λθ term.
 * Adadelta: g ← g + λθ; v ← ρv + (1 − ρ)g²; Δ ← √(u + ε)/√(v + ε)·g; u ← ρu + (1 − ρ)Δ²; θ ← θ − γΔ.
 */
export const referenceStep = (
  rule: UpdateRule,
  s: ReferenceState,
  grads: readonly ArrayLike<number>[],
  at: { readonly t: number; readonly lr: number },
): ReferenceState => {
  const { t, lr } = at;
  const params = s.params.map((p) => Float64Array.from(p));
  const state = s.state.map((slots) => slots.map((x) => Float64Array.from(x)));
  params.forEach((theta, k) => {
    const grad = grads[k]!;
    const st = state[k]!;
    for (let i = 0; i < theta.length; i++) {
      let g = grad[i]!;
      switch (rule.kind) {
        case 'sgd': {
          g += rule.weightDecay * theta[i]!;
          if (rule.momentum !== 0) {
            const b = t === 1 ? g : rule.momentum * st[0]![i]! + (1 - rule.dampening) * g;
            st[0]![i] = b;
            g = rule.nesterov ? g + rule.momentum * b : b;
          }
          theta[i] = theta[i]! - lr * g;
          break;
        }
        case 'adam':
        case 'adamw': {
          if (rule.kind === 'adamw') theta[i] = theta[i]! * (1 - lr * rule.weightDecay);
          else g += rule.weightDecay * theta[i]!;
          const m = rule.beta1 * st[0]![i]! + (1 - rule.beta1) * g;
          const v = rule.beta2 * st[1]![i]! + (1 - rule.beta2) * g * g;
          st[0]![i] = m;
          st[1]![i] = v;
          const mHat = m / (1 - rule.beta1 ** t);
          const vHat = v / (1 - rule.beta2 ** t);
          theta[i] = theta[i]! - (lr * mHat) / (Math.sqrt(vHat) + rule.eps);
          break;
        }
        case 'adadelta': {
          g += rule.weightDecay * theta[i]!;
          const v = rule.rho * st[0]![i]! + (1 - rule.rho) * g * g;
          const delta = (Math.sqrt(st[1]![i]! + rule.eps) / Math.sqrt(v + rule.eps)) * g;
          st[0]![i] = v;
          st[1]![i] = rule.rho * st[1]![i]! + (1 - rule.rho) * delta * delta;
          theta[i] = theta[i]! - lr * delta;
          break;
        }
        default: {
          const never: never = rule;
          throw new Error(`unknown rule ${JSON.stringify(never)}`);
        }
      }
    }
  });
  return { params, state };
};
