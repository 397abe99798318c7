/**
 * ONNX export of a fixed (choice-free) graph with its weights, encoded by the maintained `onnx-proto` package
 * (protobufjs classes generated from ONNX's own .proto), never by hand.
 *
 * The model: one input per graph input, `[N, ...shape]` with a symbolic batch `N`; one output per graph output;
 * every parameter an initializer named by its path. Opset 13 (onnxruntime ≥ 1.8). Inference form throughout:
 * BatchNorm uses its running statistics (ONNX BatchNormalization, inference mode), dropout is the identity.
 * Pruned: identities and dropouts are aliases, not nodes; a `zero` term of a sum is left out of the sum (it
 * contributes nothing); parameters no exported node reads are not written.
 *
 * Op mapping (ours → ONNX): conv2d → Conv (groups, dilation, padding, stride), linear → Gemm(transB), batchNorm2d
 * → BatchNormalization, relu/sigmoid/tanh → the same, relu6 → Clip(0, 6), gelu → 0.5·x·(1 + Erf(x/√2)), scale →
 * Mul by a constant, zero → 0·(x strided), add → Add/Sum, mul → Mul, concat → Concat(axis 1), maxPool2d →
 * MaxPool, avgPool2d → AveragePool(count_include_pad), globalAvgPool → GlobalAveragePool + Flatten,
 * adaptiveAvgPool2d → AveragePool when the sizes divide, else per-cell Slice + ReduceMean + Concat (PyTorch's
 * floor/ceil cells), flatten → Flatten(axis 1), reshape → Reshape([-1, ...shape]), softmax/logSoftmax → the same
 * over the channel axis. Anything else (a choice left in the graph, a training-only op) is an error naming it.
 *
 * @example
 * const bytes = toOnnx(fixedGraph, weights, { name: 'mnist' }); // Either<OnnxExportError[], Uint8Array>
 */
import * as E from 'fp-ts/lib/Either.js';
import onnxProto from 'onnx-proto';
import type { Graph } from '../../ir/graph.ts';
import { type Node, topoOrder } from '../../ir/node.ts';
import type { Op } from '../../ir/ops.ts';
import { numel } from '../../ir/shape.ts';

const { onnx } = onnxProto;

/** Why a graph cannot be exported; each names the op, node or parameter at fault. */
export type OnnxExportError =
  | { readonly tag: 'UnmappedOp'; readonly op: string; readonly node: string; readonly message: string }
  | { readonly tag: 'MissingWeight'; readonly path: string; readonly message: string }
  | { readonly tag: 'WrongWeightSize'; readonly path: string; readonly message: string };

/** Options of `toOnnx`. */
export interface OnnxExportOptions {
  /** The graph's name in the file (default 'nasgraph'). */
  readonly name?: string;
  /** Written as the model's doc string (e.g. the architecture). */
  readonly docString?: string;
}

/** The opset the exporter writes. */
export const ONNX_OPSET = 13;

const FLOAT = 1;
const INT64 = 7;
const A = { FLOAT: 1, INT: 2, INTS: 7 } as const;

type Attr = { readonly name: string } & ({ readonly i: number } | { readonly f: number } | { readonly ints: readonly number[] });

const attr = (a: Attr): InstanceType<typeof onnx.AttributeProto> =>
  onnx.AttributeProto.create(
    'i' in a ? { name: a.name, type: A.INT, i: a.i } : 'f' in a ? { name: a.name, type: A.FLOAT, f: a.f } : { name: a.name, type: A.INTS, ints: [...a.ints] },
  );

const floatTensor = (name: string, dims: readonly number[], data: Float32Array): InstanceType<typeof onnx.TensorProto> =>
  onnx.TensorProto.create({ name, dims: [...dims], dataType: FLOAT, rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) });

const int64Tensor = (name: string, data: readonly number[]): InstanceType<typeof onnx.TensorProto> =>
  onnx.TensorProto.create({ name, dims: [data.length], dataType: INT64, int64Data: [...data] });

const valueInfo = (name: string, shape: readonly number[]): InstanceType<typeof onnx.ValueInfoProto> =>
  onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'N' }, ...shape.map((d) => ({ dimValue: d }))] } } },
  });

const unmapped = (op: string, node: string, why: string): OnnxExportError => ({
  tag: 'UnmappedOp',
  op,
  node,
  message: `${node}: op '${op}' has no ONNX mapping (${why})`,
});

/**
 * The ONNX model (serialized ModelProto bytes) of the fixed graph `graph` with parameter values `params` (by
 * path). Every unmapped op and every missing or mis-sized weight is reported, each on its own line.
 */
export const toOnnx = (
  graph: Graph,
  params: ReadonlyMap<string, Float32Array>,
  options: OnnxExportOptions = {},
): E.Either<readonly OnnxExportError[], Uint8Array> => {
  const errors: OnnxExportError[] = [];
  const nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  const initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  const written = new Set<string>();
  /** ONNX value name of each of our nodes (aliases share their input's). */
  const names = new Map<string, string>();
  let counter = 0;
  const fresh = (hint: string): string => `${hint}#${counter++}`;
  const constant = (hint: string, dims: readonly number[], values: readonly number[]): string => {
    const name = fresh(`const/${hint}`);
    initializers.push(floatTensor(name, dims, Float32Array.from(values)));
    return name;
  };
  const ints = (hint: string, values: readonly number[]): string => {
    const name = fresh(`const/${hint}`);
    initializers.push(int64Tensor(name, values));
    return name;
  };
  const emit = (opType: string, inputs: readonly string[], hint: string, attrs: readonly Attr[] = []): string => {
    const out = fresh(hint);
    nodes.push(onnx.NodeProto.create({ opType, input: [...inputs], output: [out], name: out, attribute: attrs.map(attr) }));
    return out;
  };
  const weight = (n: Node): string => {
    const op = n.op;
    if (op.kind !== 'param') {
      errors.push(unmapped(op.kind, n.name, 'a parameter input computed by the graph is not supported'));
      return '';
    }
    if (!written.has(op.path)) {
      written.add(op.path);
      const v = params.get(op.path);
      if (v === undefined) errors.push({ tag: 'MissingWeight', path: op.path, message: `no weights for parameter ${op.path}` });
      else if (v.length !== numel(op.shape)) {
        errors.push({ tag: 'WrongWeightSize', path: op.path, message: `parameter ${op.path} has ${v.length} values, its shape [${op.shape.join(', ')}] needs ${numel(op.shape)}` });
      } else initializers.push(floatTensor(op.path, op.shape, v));
    }
    return op.path;
  };

  const isZero = (n: Node): boolean => n.op.kind === 'zero';

  const lowerNode = (n: Node, op: Op): string | undefined => {
    const x = (i = 0): string => names.get(n.inputs[i]!.id)!;
    const hint = n.name;
    switch (op.kind) {
      case 'input':
        return op.name;
      case 'param':
        return undefined; // read by its users (`weight`)
      case 'conv2d': {
        const w = n.inputs[1]!.shape;
        return emit('Conv', [x(), weight(n.inputs[1]!), ...(op.bias ? [weight(n.inputs[2]!)] : [])], hint, [
          { name: 'kernel_shape', ints: [w[2]!, w[3]!] },
          { name: 'strides', ints: [...op.stride] },
          { name: 'pads', ints: [op.padding[0], op.padding[1], op.padding[0], op.padding[1]] },
          { name: 'dilations', ints: [...op.dilation] },
          { name: 'group', i: op.groups },
        ]);
      }
      case 'linear':
        return emit('Gemm', [x(), weight(n.inputs[1]!), ...(op.bias ? [weight(n.inputs[2]!)] : [])], hint, [{ name: 'transB', i: 1 }]);
      case 'batchNorm2d': {
        const c = n.shape[0]!;
        const [scale, bias] = op.affine
          ? [weight(n.inputs[3]!), weight(n.inputs[4]!)]
          : [constant('bn-scale', [c], Array.from({ length: c }, () => 1)), constant('bn-bias', [c], Array.from({ length: c }, () => 0))];
        return emit('BatchNormalization', [x(), scale, bias, weight(n.inputs[1]!), weight(n.inputs[2]!)], hint, [{ name: 'epsilon', f: op.eps }]);
      }
      case 'relu':
        return emit('Relu', [x()], hint);
      case 'sigmoid':
        return emit('Sigmoid', [x()], hint);
      case 'tanh':
        return emit('Tanh', [x()], hint);
      case 'relu6':
        return emit('Clip', [x(), constant('zero', [], [0]), constant('six', [], [6])], hint);
      case 'gelu': {
        const erf = emit('Erf', [emit('Mul', [x(), constant('inv-sqrt2', [], [Math.SQRT1_2])], `${hint}/scaled`)], `${hint}/erf`);
        const onePlus = emit('Add', [erf, constant('one', [], [1])], `${hint}/1+erf`);
        return emit('Mul', [emit('Mul', [x(), constant('half', [], [0.5])], `${hint}/half`), onePlus], hint);
      }
      case 'identity':
      case 'dropout':
        return x();
      case 'scale':
        return emit('Mul', [x(), constant('factor', [], [op.factor])], hint);
      case 'zero': {
        if (op.stride === 1) return emit('Mul', [x(), constant('zero', [], [0])], hint);
        const [, h, w] = n.inputs[0]!.shape;
        const strided = emit('Slice', [x(), ints('starts', [0, 0]), ints('ends', [h!, w!]), ints('axes', [2, 3]), ints('steps', [op.stride, op.stride])], `${hint}/strided`);
        return emit('Mul', [strided, constant('zero', [], [0])], hint);
      }
      case 'add': {
        const terms = n.inputs.filter((i) => !isZero(i));
        const kept = terms.length > 0 ? terms : [n.inputs[0]!];
        const ins = kept.map((i) => names.get(i.id)!);
        return ins.length === 1 ? ins[0]! : emit(ins.length === 2 ? 'Add' : 'Sum', ins, hint);
      }
      case 'mul':
        return emit('Mul', [x(0), x(1)], hint);
      case 'concat':
        return n.inputs.length === 1 ? x() : emit('Concat', n.inputs.map((i) => names.get(i.id)!), hint, [{ name: 'axis', i: 1 }]);
      case 'slice':
        return emit('Slice', [x(), ints('starts', op.start), ints('ends', op.stop), ints('axes', op.start.map((_, a) => a + 1)), ints('steps', op.step)], hint);
      case 'maxPool2d':
        return emit('MaxPool', [x()], hint, [
          { name: 'kernel_shape', ints: [...op.kernel] },
          { name: 'strides', ints: [...op.stride] },
          { name: 'pads', ints: [op.padding[0], op.padding[1], op.padding[0], op.padding[1]] },
        ]);
      case 'avgPool2d':
        return emit('AveragePool', [x()], hint, [
          { name: 'kernel_shape', ints: [...op.kernel] },
          { name: 'strides', ints: [...op.stride] },
          { name: 'pads', ints: [op.padding[0], op.padding[1], op.padding[0], op.padding[1]] },
          { name: 'count_include_pad', i: op.countIncludePad ? 1 : 0 },
        ]);
      case 'globalAvgPool':
        return emit('Flatten', [emit('GlobalAveragePool', [x()], `${hint}/pool`)], hint, [{ name: 'axis', i: 1 }]);
      case 'adaptiveAvgPool2d': {
        const [, h, w] = n.inputs[0]!.shape as readonly [number, number, number];
        const [oh, ow] = op.output;
        if (h % oh === 0 && w % ow === 0) {
          return emit('AveragePool', [x()], hint, [
            { name: 'kernel_shape', ints: [h / oh, w / ow] },
            { name: 'strides', ints: [h / oh, w / ow] },
          ]);
        }
        // PyTorch's cells: rows floor(i·h/oh) .. ceil((i+1)·h/oh), likewise columns.
        const rows: string[] = [];
        for (let i = 0; i < oh; i++) {
          const cells: string[] = [];
          for (let j = 0; j < ow; j++) {
            const r0 = Math.floor((i * h) / oh);
            const r1 = Math.ceil(((i + 1) * h) / oh);
            const c0 = Math.floor((j * w) / ow);
            const c1 = Math.ceil(((j + 1) * w) / ow);
            const cell = emit('Slice', [x(), ints('starts', [r0, c0]), ints('ends', [r1, c1]), ints('axes', [2, 3])], `${hint}/cell${i},${j}`);
            cells.push(emit('ReduceMean', [cell], `${hint}/mean${i},${j}`, [{ name: 'axes', ints: [2, 3] }, { name: 'keepdims', i: 1 }]));
          }
          rows.push(cells.length === 1 ? cells[0]! : emit('Concat', cells, `${hint}/row${i}`, [{ name: 'axis', i: 3 }]));
        }
        return rows.length === 1 ? rows[0]! : emit('Concat', rows, hint, [{ name: 'axis', i: 2 }]);
      }
      case 'flatten':
        return n.inputs[0]!.shape.length === 1 ? x() : emit('Flatten', [x()], hint, [{ name: 'axis', i: 1 }]);
      case 'reshape':
        return emit('Reshape', [x(), ints('shape', [-1, ...op.shape])], hint);
      case 'softmax':
        return emit('Softmax', [x()], hint, [{ name: 'axis', i: 1 }]);
      case 'logSoftmax':
        return emit('LogSoftmax', [x()], hint, [{ name: 'axis', i: 1 }]);
      case 'layerChoice':
      case 'inputChoice':
        errors.push(unmapped(op.kind, n.name, `choice '${op.key}' is still open: export a fixed model (apply an architecture first)`));
        return '';
      case 'absent':
        errors.push(unmapped(op.kind, n.name, `input choice '${op.key}' chose nothing and its value is used`));
        return '';
      default:
        errors.push(unmapped(op.kind, n.name, 'a training or supernet op, not part of an inference model'));
        return '';
    }
  };

  // What the outputs read, a zero term of a sum left out (a zero is lowered only when something else reads it).
  const needed = new Set<string>();
  const stack = [...graph.outputs];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (needed.has(n.id)) continue;
    needed.add(n.id);
    const terms = n.op.kind === 'add' ? n.inputs.filter((i) => !isZero(i)) : n.inputs;
    stack.push(...(terms.length > 0 ? terms : n.inputs.slice(0, 1)));
  }
  for (const n of topoOrder(graph.outputs)) {
    if (!needed.has(n.id)) continue;
    const name = lowerNode(n, n.op);
    if (name !== undefined) names.set(n.id, name);
  }
  if (errors.length > 0) return E.left(errors);

  // Outputs get stable names: 'output' (or output0, output1, …), through an Identity when the value is an input.
  const outputNames = graph.outputs.map((_, i) => (graph.outputs.length === 1 ? 'output' : `output${i}`));
  graph.outputs.forEach((o, i) => {
    nodes.push(onnx.NodeProto.create({ opType: 'Identity', input: [names.get(o.id)!], output: [outputNames[i]!], name: outputNames[i]! }));
  });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'nasgraph',
    producerVersion: '0.1.0',
    docString: options.docString ?? '',
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    graph: onnx.GraphProto.create({
      name: options.name ?? 'nasgraph',
      node: nodes,
      initializer: initializers,
      input: graph.inputs.map((i) => valueInfo(i.op.kind === 'input' ? i.op.name : i.name, i.shape)),
      output: graph.outputs.map((o, i) => valueInfo(outputNames[i]!, o.shape)),
    }),
  });
  return E.right(onnx.ModelProto.encode(model).finish());
};
