/** The events and errors of a search (a leaf module: trials.ts and trials-resume.ts both use them). */
import type { Architecture } from '../ir/apply.ts';
import type { StrategyError } from '../search/strategy.ts';
import type { LogError, TrialRecord } from './experiment-log.ts';

/** Progress of a search, for a live display or a log. */
export type SearchEvent =
  | { readonly type: 'resumed'; readonly finished: number; readonly replayed: readonly number[]; readonly rerun: readonly number[] }
  | { readonly type: 'warning'; readonly message: string }
  | { readonly type: 'trial-started'; readonly id: number; readonly arch: Architecture; readonly rerun: boolean }
  | { readonly type: 'trial-epoch'; readonly id: number; readonly epoch: number; readonly metrics: Readonly<Record<string, number>>; readonly decision: 'continue' | 'stop' }
  | { readonly type: 'trial-finished'; readonly record: TrialRecord }
  | { readonly type: 'trial-failed'; readonly record: TrialRecord }
  | { readonly type: 'best'; readonly record: TrialRecord }
  | {
      readonly type: 'progress';
      readonly finished: number;
      readonly budget: number;
      readonly inFlight: number;
      readonly best: TrialRecord | null;
      /** Estimated time to finish the budget, null before anything can be estimated. */
      readonly etaMs: number | null;
    };

/** Why a search cannot start or continue; each names the option, file or trial at fault. */
export type RunError =
  | StrategyError
  | LogError
  | { readonly tag: 'BadOption'; readonly option: string; readonly message: string }
  | { readonly tag: 'LogExists'; readonly dir: string; readonly message: string }
  | { readonly tag: 'NothingToResume'; readonly dir: string; readonly message: string }
  | { readonly tag: 'ResumeMismatch'; readonly field: string; readonly message: string }
  | { readonly tag: 'InconsistentLog'; readonly file: string; readonly message: string };
