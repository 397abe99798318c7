/** Small DOM helpers: element creation with attributes and children, number formatting. */

type Child = Node | string | number | null | undefined | false;

/** Creates `<tag>` with attributes (`on*` functions become listeners) and children. */
export const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Readonly<Record<string, string | number | boolean | ((e: Event) => void) | undefined | null>> = {},
  ...children: readonly (Child | readonly Child[])[]
): HTMLElementTagNameMap[K] => {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (k === 'class') el.className = String(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
  return el;
};

/** An SVG element. */
export const svg = <K extends keyof SVGElementTagNameMap>(tag: K, attrs: Readonly<Record<string, string | number>> = {}): SVGElementTagNameMap[K] => {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
};

/** A value for a table: 4 significant digits, or an em dash for none. */
export const num = (x: number | null | undefined, digits = 4): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : Number.isInteger(x) ? String(x) : x.toPrecision(digits));

/** A fraction as a percentage (0.90625 → 90.63%). */
export const pct = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : `${(x * 100).toFixed(2)}%`);

/** A count with thousands separators (1160640 → 1,160,640), or SI-short when `short`. */
export const count = (x: number | null | undefined, short = false): string => {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  if (!short) return Math.round(x).toLocaleString('en-US');
  const units: [number, string][] = [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [u, s] of units) if (Math.abs(x) >= u) return `${(x / u).toPrecision(3)}${s}`;
  return String(Math.round(x));
};

/** Seconds as "1h 02m", "3m 05s", "12.3s". */
export const duration = (s: number | null | undefined): string => {
  if (s === null || s === undefined || !Number.isFinite(s)) return '—';
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
};

/** Whether the page is in dark mode (the system's preference). */
export const dark = (): boolean => window.matchMedia('(prefers-color-scheme: dark)').matches;

/** A CSS custom property's value from :root. */
export const cssVar = (name: string): string => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/** A categorical palette that reads on light and dark backgrounds (Tableau 10). */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

/** Colour `i` of the palette (repeats after ten). */
export const colorAt = (i: number): string => PALETTE[i % PALETTE.length]!;

/** A sequential colour for t ∈ [0, 1] (viridis, 5 stops interpolated). */
export const viridis = (t: number): string => {
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]] as const;
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const a = stops[i]!;
  const b = stops[i + 1]!;
  const c = (k: 0 | 1 | 2): number => Math.round(a[k] + (b[k] - a[k]) * f);
  return `rgb(${c(0)}, ${c(1)}, ${c(2)})`;
};
