/**
 * Fashion-MNIST and MNIST from their IDX files: read, check, normalise.
 *
 * Fashion-MNIST comes from Debian's package `dataset-fashion-mnist` (gzipped IDX files in
 * /usr/share/datasets/fashion-mnist); MNIST's files (the same format and names) are given by directory or path.
 * Loading is synchronous: it runs once, before training, and the files are at most ~30 MB.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import type { Dataset } from './batches.ts';
import { readIdxFile, type DataError, type IdxArray } from './idx.ts';

/** Per-pixel normalisation applied after scaling to [0, 1]: x ↦ (x/255 − mean) / std. */
export interface Normalisation {
  readonly mean: number;
  readonly std: number;
}

/** Fashion-MNIST's training-set pixel mean and standard deviation (of x/255). */
export const FASHION_MNIST_NORMALISATION: Normalisation = { mean: 0.286, std: 0.353 };
/** MNIST's, as in PyTorch's MNIST example. */
export const MNIST_NORMALISATION: Normalisation = { mean: 0.1307, std: 0.3081 };
/** x/255 only. */
export const NO_NORMALISATION: Normalisation = { mean: 0, std: 1 };

/** Where Debian's `dataset-fashion-mnist` puts the files. */
export const DEFAULT_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The four IDX files of a (Fashion-)MNIST-style data set. */
export interface IdxFiles {
  readonly trainImages: string;
  readonly trainLabels: string;
  readonly testImages: string;
  readonly testLabels: string;
}

/** The standard file names (without `.gz`) shared by MNIST and Fashion-MNIST. */
export const IDX_FILE_NAMES: IdxFiles = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
};

export interface TrainTest {
  readonly train: Dataset;
  readonly test: Dataset;
}

/** The files in `dir`: `name.gz` when present, else `name` when present, else `name.gz` (reported missing). */
export const idxFilesIn = (dir: string): IdxFiles => {
  const pick = (name: string): string => {
    const gz = join(dir, `${name}.gz`);
    const raw = join(dir, name);
    return existsSync(gz) || !existsSync(raw) ? gz : raw;
  };
  return {
    trainImages: pick(IDX_FILE_NAMES.trainImages),
    trainLabels: pick(IDX_FILE_NAMES.trainLabels),
    testImages: pick(IDX_FILE_NAMES.testImages),
    testLabels: pick(IDX_FILE_NAMES.testLabels),
  };
};

const checkNormalisation = (norm: Normalisation): readonly DataError[] =>
  Number.isFinite(norm.mean) && Number.isFinite(norm.std) && norm.std > 0
    ? []
    : [{ tag: 'InvalidOption', option: 'normalisation', message: `normalisation needs a finite mean and a positive std, got mean ${norm.mean}, std ${norm.std}` }];

/** Layout errors of an image file (ubyte, rank 3 [n, h, w] or rank 4 [n, c, h, w]). */
const imageLayoutErrors = (file: string, a: IdxArray): DataError[] =>
  a.dtype === 'u8' && (a.dims.length === 3 || a.dims.length === 4)
    ? []
    : [{ tag: 'UnexpectedLayout', file, message: `${file}: expected images as unsigned bytes of rank 3 [n, h, w] or 4 [n, c, h, w], found ${a.dtype} of rank ${a.dims.length} [${a.dims.join(', ')}]` }];

const labelLayoutErrors = (file: string, a: IdxArray): DataError[] =>
  a.dtype === 'u8' && a.dims.length === 1
    ? []
    : [{ tag: 'UnexpectedLayout', file, message: `${file}: expected labels as unsigned bytes of rank 1 [n], found ${a.dtype} of rank ${a.dims.length} [${a.dims.join(', ')}]` }];

const labelRangeErrors = (file: string, labels: IdxArray['data'], classes: number): DataError[] => {
  let count = 0;
  let firstIndex = -1;
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (l < 0 || l >= classes) {
      if (count === 0) firstIndex = i;
      count++;
    }
  }
  if (count === 0) return [];
  const firstLabel = labels[firstIndex]!;
  return [{
    tag: 'LabelOutOfRange',
    file,
    count,
    firstIndex,
    firstLabel,
    classes,
    message: `${file}: ${count} label(s) outside 0..${classes - 1} (the first is ${firstLabel}, at index ${firstIndex})`,
  }];
};

/**
 * Reads one images file and one labels file and checks them together: layouts, equal counts, labels in
 * 0..classes-1. Pixels are scaled and normalised (x/255 − mean)/std through a 256-entry table.
 * Every error of both files is reported.
 */
export const loadLabelledImages = (
  imagesFile: string,
  labelsFile: string,
  opts: { readonly classes: number; readonly normalisation: Normalisation; readonly missingHint?: string },
): E.Either<readonly DataError[], Dataset> => {
  const hint = opts.missingHint ?? '';
  const images = readIdxFile(imagesFile, hint);
  const labels = readIdxFile(labelsFile, hint);
  const errors: DataError[] = [...(E.isLeft(images) ? images.left : []), ...(E.isLeft(labels) ? labels.left : [])];
  if (E.isLeft(images) || E.isLeft(labels)) return E.left(errors);
  const img = images.right;
  const lab = labels.right;
  errors.push(...imageLayoutErrors(imagesFile, img), ...labelLayoutErrors(labelsFile, lab));
  if (errors.length > 0) return E.left(errors);
  const n = img.dims[0]!;
  if (lab.dims[0] !== n) {
    errors.push({
      tag: 'CountMismatch',
      images: imagesFile,
      labels: labelsFile,
      imageCount: n,
      labelCount: lab.dims[0]!,
      message: `${labelsFile} has ${lab.dims[0]} labels but ${imagesFile} has ${n} images`,
    });
  }
  errors.push(...labelRangeErrors(labelsFile, lab.data, opts.classes));
  if (errors.length > 0) return E.left(errors);
  const shape = img.dims.length === 4 ? img.dims.slice(1) : [1, ...img.dims.slice(1)];
  const { mean, std } = opts.normalisation;
  const table = new Float32Array(256);
  for (let v = 0; v < 256; v++) table[v] = (v / 255 - mean) / std;
  const pixels = img.data;
  const data = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) data[i] = table[pixels[i]!]!;
  return E.right({ images: data, labels: Int32Array.from(lab.data), n, shape, classes: opts.classes });
};

export interface IdxDatasetOptions {
  readonly files: IdxFiles;
  readonly normalisation: Normalisation;
  /** Default 10. */
  readonly classes?: number;
  /** Appended to the message of a missing file (how to get it). */
  readonly missingHint?: string;
}

/** Loads the train and test parts of an IDX data set, reporting the errors of all four files together. */
export const loadIdxDataset = (opts: IdxDatasetOptions): E.Either<readonly DataError[], TrainTest> => {
  const classes = opts.classes ?? 10;
  const optionErrors = checkNormalisation(opts.normalisation);
  if (optionErrors.length > 0) return E.left(optionErrors);
  const common = { classes, normalisation: opts.normalisation, ...(opts.missingHint === undefined ? {} : { missingHint: opts.missingHint }) };
  const train = loadLabelledImages(opts.files.trainImages, opts.files.trainLabels, common);
  const test = loadLabelledImages(opts.files.testImages, opts.files.testLabels, common);
  if (E.isLeft(train) || E.isLeft(test)) return E.left([...(E.isLeft(train) ? train.left : []), ...(E.isLeft(test) ? test.left : [])]);
  return E.right({ train: train.right, test: test.right });
};

const fashionHint = (dir: string): string =>
  `. Fashion-MNIST comes from Debian's package dataset-fashion-mnist: install it with \`apt-get install dataset-fashion-mnist\` ` +
  `(or \`bash scripts/setup-data.sh\`), or pass --data-dir DIR for a directory holding ` +
  `${Object.values(IDX_FILE_NAMES).map((f) => `${f}.gz`).join(', ')} (looked in ${dir})`;

/**
 * Fashion-MNIST's train (60000) and test (10000) sets: images [n, 1, 28, 28] normalised with the data set's
 * mean and std (or `normalisation`), labels 0..9. Missing files are reported with how to install them.
 *
 * @example
 * const data = loadFashionMnist();
 * if (E.isLeft(data)) { for (const e of data.left) console.error(e.message); process.exit(1); }
 * const { train, test } = data.right;
 */
export const loadFashionMnist = (
  opts: { readonly dir?: string; readonly normalisation?: Normalisation } = {},
): E.Either<readonly DataError[], TrainTest> => {
  const dir = opts.dir ?? DEFAULT_FASHION_MNIST_DIR;
  return loadIdxDataset({
    files: idxFilesIn(dir),
    normalisation: opts.normalisation ?? FASHION_MNIST_NORMALISATION,
    missingHint: fashionHint(dir),
  });
};

/**
 * MNIST from its IDX files, given as a directory with the standard names (gzipped or not) or as four paths.
 * Normalised with MNIST's mean and std unless told otherwise.
 *
 * @example
 * const data = loadMnist({ dir: '/data/mnist' });
 */
export const loadMnist = (
  opts: ({ readonly dir: string } | { readonly files: IdxFiles }) & { readonly normalisation?: Normalisation },
): E.Either<readonly DataError[], TrainTest> =>
  loadIdxDataset({
    files: 'files' in opts ? opts.files : idxFilesIn(opts.dir),
    normalisation: opts.normalisation ?? MNIST_NORMALISATION,
    missingHint: '. MNIST is not packaged here: pass the paths of its four IDX files (train-images-idx3-ubyte[.gz], ...)',
  });
