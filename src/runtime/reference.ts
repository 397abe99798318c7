/**
 * Moved: the CPU reference interpreter lives in `src/reference/` (pure; it imports no device). This module keeps
 * the old import path working.
 */
export * from '../reference/evaluate.ts';
