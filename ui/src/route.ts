/**
 * Hash routes, so every view has a URL that can be shared:
 * `#/` experiments · `#/compare?a=ID&b=ID` · `#/run/ID/graph?epoch=3&trial=2` · `#/run/ID/weights` ·
 * `#/run/ID/trials?sort=value&dir=desc&q=conv5&status=failed` · `#/run/ID/curves`.
 */

/** The views of one run. */
export type RunTab = 'graph' | 'weights' | 'trials' | 'curves';
export const RUN_TABS: readonly RunTab[] = ['graph', 'weights', 'trials', 'curves'];

/** A parsed route. */
export type Route =
  | { readonly page: 'experiments'; readonly params: URLSearchParams }
  | { readonly page: 'compare'; readonly params: URLSearchParams }
  | { readonly page: 'run'; readonly id: string; readonly tab: RunTab | null; readonly params: URLSearchParams };

/** Parses `location.hash`. */
export const parseRoute = (hash: string): Route => {
  const raw = hash.replace(/^#/, '');
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  const parts = path.split('/').filter((p) => p !== '');
  if (parts[0] === 'compare') return { page: 'compare', params };
  if (parts[0] === 'run' && parts[1] !== undefined) {
    const tab = parts[2] as RunTab | undefined;
    return { page: 'run', id: decodeURIComponent(parts[1]), tab: tab !== undefined && RUN_TABS.includes(tab) ? tab : null, params };
  }
  return { page: 'experiments', params };
};

/** The hash of a run's view. */
export const runHref = (id: string, tab?: RunTab, params?: Readonly<Record<string, string | number | undefined>>): string => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) if (v !== undefined && v !== '') p.set(k, String(v));
  const qs = p.toString();
  return `#/run/${encodeURIComponent(id)}${tab === undefined ? '' : `/${tab}`}${qs === '' ? '' : `?${qs}`}`;
};

/** Replaces the current URL's query (no navigation, no re-render): a view's state stays shareable. */
export const setParams = (changes: Readonly<Record<string, string | number | undefined>>): void => {
  const raw = location.hash.replace(/^#/, '');
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const p = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === '') p.delete(k);
    else p.set(k, String(v));
  }
  const qs = p.toString();
  history.replaceState(null, '', `#${path}${qs === '' ? '' : `?${qs}`}`);
};
