/** The tabular benchmark's fixed training recipe (bench/tabular/run.ts; also the data of bench/quality/ranking.ts). */
/** The fixed recipe of every training (recorded in the meta file; a resume with another one is refused). */
export const RECIPE = {
  data: 'fashion-mnist',
  validSize: 1000,
  trainSize: 3000,
  testSize: 2000,
  splitSeed: 0,
  epochs: 1,
  batchSize: 32,
  evalBatch: 250,
  optimizer: { kind: 'adam', lr: 0.003 },
  seeds: [0, 1, 2],
  orderSeed: 2026,
} as const;
